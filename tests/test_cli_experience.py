"""`dreamgym judge` and `dreamgym fidelity`: bad input is one `error:` line with a non-zero exit; a tiny saved
experience model (and a tiny saved policy) give the gap report / the fidelity metrics as strict JSON, logged to
MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import assert_one_error_line, cli


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, Path]:
    """(experience model dir, policy dir): tiny random models saved with their settings."""
    from dreamgym.config import ExperienceConfig, PolicyConfig
    from dreamgym.envs import get_spec
    from dreamgym.experience.checkpoint import save_experience_model
    from dreamgym.experience.prompt import PromptSpec
    from dreamgym.experience.synthetic import ExperienceModel
    from dreamgym.models import Generator, load_model
    from dreamgym.policy.agent import Agent, AgentSettings
    from dreamgym.policy.checkpoint import save_policy

    tmp = tmp_path_factory.mktemp("judge")
    texts = ["pick up the red ball", "turn left turn right move forward", "red ball 1: 1 ahead; carrying nothing"] * 20

    def tiny():
        return load_model("tiny", None, tmp / "cache", tokenizer_texts=texts,
                          tiny_kwargs={"hidden_size": 32, "num_layers": 1, "num_heads": 2,
                                       "max_position_embeddings": 512, "seed": 0},
                          tokenizer_kwargs={"vocab_size": 320})

    model, tok = tiny()
    spec = PromptSpec.from_config(ExperienceConfig(), get_spec("babyai"), max_steps=64)
    xm = save_experience_model(ExperienceModel(Generator(model, tok, max_new_tokens=8), spec), tmp / "experience")
    policy = save_policy(Agent(*tiny(), AgentSettings.from_config(PolicyConfig())), tmp / "policy")
    return xm, policy


def _store(tmp_path: Path) -> list[str]:
    return ["-S", f"tracking.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
            "-S", f"tracking.artifact_location={tmp_path / 'artifacts'}", "-S", "tracking.experiment=judge-test"]


def test_bad_models_and_envs_are_one_line(saved, tmp_path):
    import mlflow

    xm, policy = saved
    mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").search_experiments()  # a store: no set-up lines
    args = ["judge", "-n", "1", *_store(tmp_path)]
    assert_one_error_line(cli(*args, "--model", "models:/nope/1", "--policy", str(policy), "--env", "babyai"),
                          "error: cannot load the model 'models:/nope/1' from MLflow")
    assert_one_error_line(cli(*args, "--model", "no/such/dir", "--policy", str(policy), "--env", "babyai"),
                          "error: model kind 'hf': no model at no/such/dir")
    assert_one_error_line(cli(*args, "--model", str(policy), "--policy", str(policy), "--env", "babyai"),
                          f"error: '{policy}' is a causal LM without experience-model settings")
    assert_one_error_line(cli(*args, "--model", str(xm), "--policy", str(xm), "--env", "babyai"),
                          f"error: '{xm}' is a causal LM without policy settings")
    assert_one_error_line(cli(*args, "--model", str(xm), "--policy", str(policy), "--env", "textcraft"),
                          f"error: '{xm}' is the experience model of env 'babyai', not 'textcraft'")
    assert_one_error_line(cli(*args, "--model", str(xm), "--policy", str(policy), "--env", "nope"),
                          "error: unknown env 'nope'")


def test_judge_prints_the_report_and_logs_it(saved, tmp_path):
    import mlflow

    xm, policy = saved
    r = cli("judge", "--model", str(xm), "--policy", str(policy), "--env", "babyai", "--split", "val", "-n", "2",
            "--horizon", "3", *_store(tmp_path))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)  # strict JSON: no NaN
    assert (out["env"], out["episodes"], out["horizon"], out["acting"]) == ("babyai", 2, 3, "sampled")
    for key in ("valid_agreement", "reward_agreement", "done_agreement", "first_divergence", "no_divergence",
                "syn_success", "real_success", "success_agreement", "syn_success_real_fail", "eps_r", "eps_p",
                "real_ended_early"):
        assert key in out, key
    assert 1 <= out["steps"] <= 6 and 0 <= out["valid_ci_low"] <= out["valid_ci_high"] <= 1
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["judge-test"], output_format="list")
    assert len(runs) == 1 and runs[0].data.tags["command"] == "judge"
    assert runs[0].data.metrics["judge/steps"] == out["steps"]
    assert runs[0].data.params["judge.model"] == str(xm)


def test_fidelity_measures_a_saved_model_on_a_split_and_logs_it(saved, tmp_path, babyai_rows):
    import mlflow

    xm, _ = saved
    steps, tasks = babyai_rows
    (tmp_path / "data" / "babyai").mkdir(parents=True)
    steps.to_parquet(tmp_path / "data" / "babyai" / "steps.parquet")
    tasks.to_parquet(tmp_path / "data" / "babyai" / "tasks.parquet")
    args = ["fidelity", "--model", str(xm), "--env", "babyai", *_store(tmp_path)]
    assert_one_error_line(cli(*args, "-S", f"paths.data_dir={tmp_path / 'nothing'}"),
                          "error: no seed data for env 'babyai'")
    assert_one_error_line(cli(*args, "--split", "test", "-S", f"paths.data_dir={tmp_path / 'data'}"),
                          "error: experience model for 'babyai': no test examples")
    r = cli(*args, "--split", "val", "-n", "6", "-S", f"paths.data_dir={tmp_path / 'data'}",
            "-S", "experience.open_loop_episodes=1", "-S", "experience.open_loop_max_steps=2")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)  # strict JSON: no NaN
    assert (out["env"], out["split"], out["scored"]) == ("babyai", "val", 6)
    for key in ("parse_rate", "exact_next", "exact_next_determined", "consistency", "success_precision",
                "done_acc", "valid_acc", "open_loop_first_divergence"):
        assert key in out, key
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["judge-test"], output_format="list")
    assert [r.data.tags["command"] for r in runs] == ["fidelity"] and runs[0].data.metrics["exp/n"] == 6
