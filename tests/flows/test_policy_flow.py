"""The policy flow on the tiny preset: expert demos -> behaviour cloning -> GRPO in the real env -> held-out
evaluation -> MLflow (rl/* and eval/* metrics, learning curve, checkpoints, registered policy); then
`dreamgym eval` on the registered model URI."""

import json

import mlflow
import pandas as pd
import pytest
from flowutil import cfg_for, runs

from dreamgym.cli import main as cli_main
from flows.policy import policy_flow


def _demo_levels(repo):
    """BabyAI levels that have a successful expert train episode in the tiny seed data."""
    s = pd.read_parquet(repo / "data/babyai/steps.parquet")
    ok = s[(s.policy_version == "collector:expert") & (s.split == "train") & s.success]
    return sorted({t.split("-")[1] for t in ok.task_id})


@pytest.mark.slow
def test_policy_flow_clones_trains_evaluates_and_registers(seeded, capsys):
    tmp, repo, _, _ = seeded
    levels = _demo_levels(repo)
    assert levels, "the tiny seed data has no successful expert babyai episode"
    # the macro actions (one-step pick-ups) give the 2-update tiny run rewarded rollouts, so GRPO has a signal
    cfg = cfg_for(repo, tmp, f"policy.env_kwargs.levels=[{','.join(levels)}]", "policy.env_kwargs.action_set=macro")
    before = len(runs(tmp))
    out = policy_flow(cfg, root=str(repo))
    assert out["bc"]["train_loss_last"] < out["bc"]["train_loss_first"]  # the warm start learned
    assert out["eval_start"]["update"] == 0 and out["eval_end"]["update"] == 2
    f = out["final"]
    assert 0 <= f["eval/test_ci_low"] <= f["eval/test_success"] <= f["eval/test_ci_high"] <= 1
    assert "eval/test_greedy_success" in f and "eval/greedy_success" in out["eval_end"]
    # every success rate stands beside its baselines on the same tasks and horizon
    b = out["baselines"]
    for split in ("", "test_"):
        assert b[f"eval/{split}random_episodes"] == b[f"eval/{split}expert_episodes"] == f["eval/test_episodes"]
        assert b[f"eval/{split}expert_success"] >= b[f"eval/{split}random_success"]
    assert (repo / "artifacts/policy/models/babyai/config.json").is_file()
    assert json.loads((repo / "artifacts/policy/metrics.json").read_text())["run_id"] == out["run_id"]
    run = next(r for r in runs(tmp)[: len(runs(tmp)) - before] if r.info.run_id == out["run_id"])
    m = run.data.metrics
    assert {"rl/reward", "rl/success", "rl/entropy", "rl/clip_frac", "rl/horizon", "rl/env_steps",
            "eval/success", "eval/ci_low", "eval/test_success", "rl/bc_train_loss_last",
            "eval/random_success", "eval/expert_success", "eval/test_random_success", "eval/test_expert_ci_low",
            "eval/test_score", "eval/test_mean_steps_success"} <= set(m)
    client = mlflow.MlflowClient()
    assert [h.value for h in client.get_metric_history(run.info.run_id, "rl/horizon")] == [3.0, 5.0]
    logged = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list",
                                         filter_string=f"source_run_id = '{run.info.run_id}'")
    assert {m.name for m in logged} == {"checkpoint-00001", "model"}  # a checkpoint per update, then the final
    assert {a.path for a in client.list_artifacts(run.info.run_id, "policy")} >= {
        "policy/learning_curve.json", "policy/learning_curve.png"}
    version = out["registered_version"]
    versions = client.search_model_versions("name = 'dreamgym-policy-babyai'")
    final = [v for v in versions if v.run_id == out["run_id"]]
    assert sorted(v.tags["final"] for v in final) == ["false", "true"] and version in {str(v.version) for v in final}
    # the CLI evaluates the registered policy on held-out tasks and reports success with an interval
    capsys.readouterr()
    rc = cli_main(["eval", "--env", "babyai", "--model", f"models:/dreamgym-policy-babyai/{version}", "-n", "3",
                   "--params", str(repo / "params.yaml"), "-S", f"tracking.tracking_uri=sqlite:///{tmp / 'mlflow.db'}",
                   "-S", f"policy.env_kwargs.levels=[{','.join(levels)}]", "-S", "policy.env_kwargs.action_set=macro",
                   "--horizon", "5"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["episodes"] == 3 and report["ci_low"] <= report["success"] <= report["ci_high"]
    assert report["random"]["episodes"] == report["expert"]["episodes"] == 3
    assert report["random"]["horizon"] == report["expert"]["horizon"] == report["horizon"] == 5
    # policy.init naming no saved policy: one error line naming the key and the path, exit 2, nothing registered
    from flows.policy import main as policy_main

    capsys.readouterr()
    rc = policy_main(["--root", str(repo), "--params", str(repo / "params.yaml"), "--preset", "tiny",
                      "-S", f"tracking.tracking_uri=sqlite:///{tmp / 'mlflow.db'}",
                      "-S", f"tracking.artifact_location={tmp / 'mlartifacts'}", "-S", f"policy.init={tmp / 'no-policy'}"])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert rc == 2 and len(errors) == 1 and errors[0].startswith("error: policy.init") and "no-policy" in errors[0]
    assert len(client.search_model_versions("name = 'dreamgym-policy-babyai'")) == len(versions)
