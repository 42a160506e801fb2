"""The agent: the agent-token mask, shared-prefix scoring, acting in both modes, checkpoints."""

from __future__ import annotations

import math

import pytest
import torch
from polutil import EASY, tiny_agent

from dreamgym.envs import make_env
from dreamgym.errors import DreamGymError
from dreamgym.policy.agent import Context, pack_rows, shared_prefix_scores, token_logprobs
from dreamgym.policy.checkpoint import load_policy, save_policy


def test_agent_mask_excludes_environment_tokens():
    # two turns: env tokens (task + observations + earlier actions) are the prompt, agent tokens the completion
    env1, agent1 = [11, 12, 13, 14], [21, 22]
    env2, agent2 = [11, 12, 15], [23, 24, 25]
    p = pack_rows([(env1, agent1), (env2, agent2)], pad_id=0)
    assert p.input_ids.tolist() == [env1 + agent1, env2 + agent2]
    assert p.agent_mask.tolist() == [[0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 1]]
    assert p.attention_mask.tolist() == [[1] * 6, [1] * 6]
    q = pack_rows([(env1, agent1), (env2, [23])], pad_id=0)
    assert q.agent_mask[1].tolist() == [0, 0, 0, 1, 0, 0] and q.attention_mask[1].tolist() == [1, 1, 1, 1, 0, 0]
    assert q.prompt_last.tolist() == [3, 2]
    trained = q.input_ids[q.agent_mask.bool()].tolist()
    assert trained == [21, 22, 23] and not set(trained) & set(env1 + env2)


def test_shared_prefix_scores_equal_full_sequences(rows, tmp_path):
    agent = tiny_agent(rows, tmp_path)
    prompts = agent.encode(["Task: go to the red ball\nObservation: a wall\nAction:", "Task: x\nAction:"])
    cands = [agent.encode([" move forward\n", " turn left\n", " go to red ball 1\n"]), agent.encode([" drop\n", " toggle\n"])]
    got, h = shared_prefix_scores(agent.model, prompts, cands, agent.pad_id, hidden=True)
    packed = pack_rows([(p, c) for p, cs in zip(prompts, cands, strict=True) for c in cs], agent.pad_id)
    logp, _, hh = token_logprobs(agent.model, packed, hidden=True)
    assert torch.allclose(got, (logp * packed.agent_mask).sum(-1), atol=1e-4)
    assert torch.allclose(h, hh[[0, 3]], atol=1e-4)


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
    again = load_policy(tmp_path / "policy")
    assert again.settings() == agent.settings() and again.history_window == 3
    ctx = Context("go to the red ball", [("a", "turn left")], "There is a red ball", ["turn left", "move forward"])
    a = agent.decision_logprobs(agent.act([ctx], greedy=True))["logp"]
    b = again.decision_logprobs(again.act([ctx], greedy=True))["logp"]
    assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(DreamGymError, match="no policy settings|no model"):
        load_policy(tmp_path)
