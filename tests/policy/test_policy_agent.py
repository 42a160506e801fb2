"""The agent: settings from the config only, acting in both modes, checkpoints (old ones included) and their
errors. The packing and scoring maths is tested in tests/models/test_models_scoring.py."""

from __future__ import annotations

import ast
import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from polutil import EASY, settings, tiny_agent

from dreamgym.config import ModelConfig, PolicyConfig
from dreamgym.envs import make_env
from dreamgym.errors import DreamGymError
from dreamgym.policy import checkpoint
from dreamgym.policy.agent import Agent, AgentSettings, Context
from dreamgym.policy.checkpoint import SETTINGS_KEY, load_policy, make_agent, save_policy

OLD_KEYS = ["history_window", "max_new_tokens", "mode", "prompt_budget", "score_norm", "temperature"]


def test_settings_come_from_the_config_only(rows, tmp_path):
    cfg = PolicyConfig(history_window=4, prompt_budget=700, temperature=0.5, batch_size=8, seed=3)
    s = AgentSettings.from_config(cfg)
    assert dataclasses.asdict(s) == {k: getattr(cfg, k) for k in AgentSettings.names()}
    assert set(AgentSettings.names()) <= set(PolicyConfig.model_fields)
    with pytest.raises(TypeError):
        AgentSettings(mode="score")  # no defaults to drift from the config
    agent = tiny_agent(rows, tmp_path)
    with pytest.raises(TypeError):
        Agent(agent.model, agent.tokenizer)  # no acting defaults either
    assert agent.acting == AgentSettings.from_config(PolicyConfig()) and agent.mode == "score"
    for bad, message in [({"mode": "chat"}, "agent mode must be one of"), ({"temperature": 0}, "must be > 0"),
                         ({"score_norm": "max"}, "score_norm must be 'sum' or 'mean'")]:
        with pytest.raises(DreamGymError, match=message):
            settings(**bad)


def test_make_agent_builds_per_the_config_and_a_kind_override_drops_the_path(tmp_path):
    shape = ModelConfig(kind="hf", path=str(tmp_path / "no-such-model"), hidden_size=16, num_layers=1, num_heads=2,
                        vocab_size=300, max_positions=128, lora=True, lora_r=2)
    cfg = PolicyConfig(model=shape, history_window=1, seed=4)
    agent = make_agent(cfg, tmp_path, texts=["go to the red ball", "turn left"] * 20, kind="tiny")  # fresh tiny
    assert agent.acting == AgentSettings.from_config(cfg) and agent.model.peft_config["default"].r == 2
    assert agent.model.config.hidden_size == 16 and agent.model.config.max_position_embeddings == 128
    with pytest.raises(DreamGymError, match="no model at"):
        make_agent(cfg, tmp_path)


def test_score_mode_acts_with_consistent_logprobs(rows, tmp_path):
    agent = tiny_agent(rows, tmp_path)
    with make_env("babyai", **EASY) as env:
        obs = env.reset(env.list_tasks("train", n=1)[0])
        ctx = Context("go to the red ball", [], obs, env.available_actions())
    ds = agent.act([ctx] * 6)
    assert all(d.action in ctx.actions and d.choice == ctx.actions.index(d.action) for d in ds)
    greedy = agent.act([ctx, ctx], greedy=True)
    assert greedy[0].action == greedy[1].action
    recomputed = agent.decision_logprobs(ds)["logp"]
    assert torch.allclose(recomputed, agent.behaviour_logprobs(ds), atol=1e-4)
    probs = torch.tensor([agent.decision_logprobs([d])["entropy"].item() for d in ds[:1]])
    assert 0 < probs.item() <= math.log(len(ctx.actions)) + 1e-4
    with pytest.raises(DreamGymError, match="score mode needs"):
        agent.act([Context("t", [], "obs", None)])


def test_generate_mode_turns_garbage_into_an_invalid_action(rows, tmp_path):
    agent = tiny_agent(rows, tmp_path, mode="generate", max_new_tokens=12)  # random weights: garbage replies
    ds = agent.act([Context("go to the red ball", [], "There is a wall", ["turn left"])] * 3)
    assert all(d.malformed and d.action == "" and len(d.completion_ids) == len(d.token_logprobs) for d in ds)
    with make_env("babyai", **EASY) as env:
        env.reset(env.list_tasks("train", n=1)[0])
        _, reward, done, info = env.step(ds[0].action)
    assert not info["valid_action"] and reward == 0.0
    out = agent.decision_logprobs(ds)
    old = agent.behaviour_logprobs(ds, width=out["logp"].shape[1])
    assert torch.allclose(out["logp"] * out["mask"], old, atol=1e-3)  # the same tokens, the same log-probs


def test_saved_policy_reloads_with_its_settings_and_acts_identically(rows, tmp_path):
    agent = tiny_agent(rows, tmp_path, history_window=3, prompt_budget=900)
    save_policy(agent, tmp_path / "policy")
    stored = json.loads((tmp_path / "policy" / "config.json").read_text())[SETTINGS_KEY]
    assert sorted(stored) == OLD_KEYS  # the checkpoint format is unchanged
    again = load_policy(tmp_path / "policy")
    assert again.settings() == agent.settings() and again.acting.history_window == 3
    ctx = Context("go to the red ball", [("a", "turn left")], "There is a red ball", ["turn left", "move forward"])
    a = agent.decision_logprobs(agent.act([ctx], greedy=True))["logp"]
    b = again.decision_logprobs(again.act([ctx], greedy=True))["logp"]
    assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(DreamGymError, match="no policy settings|no model"):
        load_policy(tmp_path)


def test_policy_init_starts_from_the_saved_policy_without_cloning(rows, tmp_path):
    """policy.init: train_policy and the loop start from the saved weights; no BC runs (the demos are not read)."""
    from dreamgym.config import load_config
    from dreamgym.stages import policy as pstage
    from dreamgym.tracking import Tracker

    agent = tiny_agent(rows, tmp_path, history_window=3)
    save_policy(agent, tmp_path / "policy")
    params = Path(__file__).resolve().parents[2] / "params.yaml"
    cfg = load_config(params, None, [f"policy.init={tmp_path / 'policy'}", "policy.bc.demos=10"])
    with make_env("babyai", **EASY) as env:
        again, bc = pstage.start_policy(cfg, tmp_path, None, None, env, Tracker())
    assert bc is None and pstage.tags(cfg)["warm_start"] == "init"
    assert again.acting.history_window == 3
    for (name, w), (_, v) in zip(agent.model.state_dict().items(), again.model.state_dict().items(), strict=True):
        assert torch.equal(w, v), name
    bad = cfg.model_copy(update={"policy": cfg.policy.model_copy(update={"init": str(tmp_path / "nothing")})})
    with pytest.raises(DreamGymError, match="^policy.init '.*nothing': .*no model at .*nothing"):
        pstage.start_policy(bad, tmp_path, None, None, env, Tracker())


def _restore(path: Path, stored: dict) -> Path:
    """Rewrite the agent settings in a saved policy's config.json."""
    cfg = json.loads((path / "config.json").read_text())
    cfg[SETTINGS_KEY] = stored
    (path / "config.json").write_text(json.dumps(cfg))
    return path


def test_older_checkpoints_load_and_the_config_fills_what_they_lack(rows, tmp_path):
    agent = tiny_agent(rows, tmp_path)
    path = save_policy(agent, tmp_path / "policy")
    old = {"mode": "score", "history_window": 1, "prompt_budget": 2048, "max_new_tokens": 48, "temperature": 1.0}
    loaded = load_policy(_restore(path, old), cfg=PolicyConfig(batch_size=5, seed=7, score_norm="sum",
                                                                history_window=9))
    assert loaded.acting == AgentSettings(mode="score", history_window=1, prompt_budget=2048, max_new_tokens=48,
                                          temperature=1.0, score_norm="sum", batch_size=5, seed=7)
    assert load_policy(path).acting.score_norm == PolicyConfig().score_norm
    assert load_policy(path, temperature=0.5, seed=None).acting.temperature == 0.5
    with pytest.raises(DreamGymError, match=r"load_policy was given unknown setting\(s\) \['window'\]"):
        load_policy(path, window=3)
    with pytest.raises(DreamGymError, match=r"'dreamgym_policy' has unknown setting\(s\) \['beam'\]; an Agent takes"):
        load_policy(_restore(path, {**old, "beam": 4}))
    with pytest.raises(DreamGymError, match="an MLflow model URI needs tracking_uri"):
        load_policy("models:/dreamgym-policy-babyai/1")


def test_checkpoint_module_never_imports_mlflow():
    tree = ast.parse(Path(checkpoint.__file__).read_text())
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    assert not [m for m in imported if m.split(".")[0] == "mlflow"]
