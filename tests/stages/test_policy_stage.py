"""The policy stage's pure parts: evaluation horizon, run name and tags, and the lines it prints."""

from __future__ import annotations

from pathlib import Path

from dreamgym.config import load_config
from dreamgym.stages import policy as stage


def _cfg(overrides):
    return load_config(Path(__file__).resolve().parents[2] / "params.yaml", None, overrides)


def test_eval_horizon_is_the_configured_one_else_the_last_training_stage():
    assert stage.eval_horizon(_cfg(["policy.eval.horizon=12"])) == 12
    cfg = _cfg(["policy.eval.horizon=null", "policy.rl.horizon.stages=[5,10,15]",
                                    "policy.rl.horizon.every=40"])
    assert stage.eval_horizon(cfg) == 15


def test_tags_and_names():
    cfg = _cfg(["policy.env=babyai", "policy.rl.algo=ppo", "policy.seed=3", "policy.bc.demos=0"])
    assert stage.run_name(cfg) == "policy-babyai-ppo-s3"
    assert stage.registered_name(cfg) == "dreamgym-policy-babyai"
    assert stage.tags(cfg) == {"stage": "train_policy", "method": "real-ppo", "env": "babyai", "algo": "ppo",
                               "seed": "3", "warm_start": "none"}
    assert stage.tags(_cfg(["policy.rl.updates=0"]))["method"] == "bc"


def test_lines_show_the_baselines_beside_the_result():
    cfg = _cfg(["policy.eval.horizon=12", "policy.eval.final_split=test"])
    r = {"env": "babyai", "algo": "grpo", "seed": 0, "registered_version": "4",
         "eval_start": {"eval/success": 0.05}, "eval_end": {"eval/success": 0.2},
         "final": {"eval/test_success": 0.18, "eval/test_ci_low": 0.16, "eval/test_ci_high": 0.21},
         "baselines": {"eval/test_random_success": 0.1, "eval/test_expert_success": 0.975}}
    assert stage.summary(cfg, r) == ("babyai grpo seed 0: test success 0.18 (random 0.10, expert 0.97), "
                                     "registered v4")
    assert stage.result_line(cfg, r).endswith("test 0.18 [0.16, 0.21] against random 0.10 and expert 0.97 at "
                                              "horizon 12")
    assert "val success 0.05 -> 0.20" in stage.result_line(cfg, {**r})
