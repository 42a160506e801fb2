"""The experience flow on the tiny preset: seed data + buffer snapshot -> examples -> SFT -> fidelity -> gate
-> MLflow (metrics, prediction table, gate report, model; registry only after a passed gate)."""

import json

import mlflow
import pytest
from flowutil import cfg_for, runs

from dreamgym.errors import GateError
from flows.buffer import buffer_flow
from flows.experience import experience_flow


@pytest.mark.slow
def test_experience_flow_trains_measures_gates_and_logs(seeded):
    tmp, repo, cfg, _ = seeded
    buffer_flow(cfg, root=str(repo))  # the snapshot retrieval reads (reused if another test made it)
    cfg = cfg_for(repo, tmp, "experience.envs=[babyai]", "experience.k=2", "experience.history_window=1")
    before = len(runs(tmp))
    out = experience_flow(cfg, root=str(repo))
    res = out["babyai"]
    assert res["sft"]["exp/sft_val_loss_after"] < res["sft"]["exp/sft_val_loss_before"]  # training lowered val loss
    assert 0.0 <= res["fidelity"]["parse_rate"] <= 1.0 and 0 < res["fidelity"]["n"] <= 16  # eval_examples
    assert (repo / "artifacts/experience/models/babyai/config.json").is_file()
    assert json.loads((repo / "artifacts/experience/metrics.json").read_text())["babyai"]["gate"] == res["gate"]
    new = runs(tmp)[: len(runs(tmp)) - before]
    child = next(r for r in new if r.info.run_name == "experience-babyai")
    assert child.data.tags["gate"] == ("passed" if res["gate"] else "failed")
    assert "buffer.digest" in child.data.tags and "exp/exact_next" in child.data.metrics
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(child.info.run_id, "gate")}
    assert "gate/experience_model_report.json" in arts
    registered = [m.name for m in mlflow.MlflowClient().search_registered_models()]
    assert ("dreamgym-experience-babyai" in registered) == res["gate"]
    # an enforced gate that cannot pass stops the stage with a report naming the failed checks
    strict = cfg_for(repo, tmp, "experience.envs=[babyai]", "experience.gate.enforce=true",
                     "experience.gate.min_done_acc=1.0", "experience.gate.min_exact_next_determined=1.0",
                     "experience.k=0", "experience.sft.max_steps=2")
    with pytest.raises(GateError, match="experience-model gate failed"):
        experience_flow(strict, root=str(repo))


@pytest.mark.slow
def test_one_shared_model_is_trained_once_and_gated_per_env(seeded):
    """experience.shared: one SFT run for babyai and textcraft (its curve on the stage's run), then a nested run,
    a gate and a saved model per env, all the same weights."""
    tmp, repo, _, _ = seeded
    cfg = cfg_for(repo, tmp, "experience.envs=[babyai,textcraft]", "experience.shared=true", "experience.k=0",
                  "experience.sft.max_steps=4", "experience.eval_examples=4", "experience.open_loop_episodes=0")
    before = len(runs(tmp))
    out = experience_flow(cfg, root=str(repo))
    assert set(out) == {"babyai", "textcraft"} and out["babyai"]["ablation"].startswith("shared")
    assert out["babyai"]["sft"] == out["textcraft"]["sft"]  # trained once
    new = runs(tmp)[: len(runs(tmp)) - before]
    assert {r.info.run_name for r in new} == {"train_experience_model", "experience-babyai", "experience-textcraft"}
    parent = next(r for r in new if r.info.run_name == "train_experience_model")
    assert "exp/val_loss" in mlflow.MlflowClient().get_run(parent.info.run_id).data.metrics  # the one SFT curve
    weights = [(repo / f"artifacts/experience/models/{e}/model.safetensors").read_bytes() for e in out]
    assert weights[0] == weights[1]
    settings = [json.loads((repo / f"artifacts/experience/models/{e}/config.json").read_text())["dreamgym_experience"]
                for e in out]
    assert [s["env"] for s in settings] == ["babyai", "textcraft"]  # each checkpoint prompts as its env
