"""GRPO and PPO learn on a fixed-seed easy BabyAI task; LoRA training leaves the base weights alone; behaviour
cloning raises the expert's action; the rollout engine and evaluation report what happened."""

from __future__ import annotations

import pytest
import torch
from polutil import EASY, tiny_agent

from dreamgym.config import RLParams, SFTParams
from dreamgym.envs import make_env
from dreamgym.models import apply_lora
from dreamgym.policy.agent import Context
from dreamgym.policy.bc import bc_examples, behaviour_clone, expert_demos
from dreamgym.policy.evaluate import evaluate_policy
from dreamgym.policy.rollout import rollout
from dreamgym.policy.trainer import PolicyTrainer


@pytest.fixture(scope="module")
def setting():
    """16 babyai envs and two train tasks whose red ball is in sight at the start (a sampling policy that is not
    yet trained solves them often, but not always)."""
    envs = [make_env("babyai", **EASY) for _ in range(16)]
    tasks = []
    for t in envs[0].list_tasks("train", n=40):
        envs[0].reset(t)
        if any(a.startswith("go to red ball") for a in envs[0].available_actions()):
            tasks.append(t)
        if len(tasks) == 2:
            break
    yield envs, tasks
    for e in envs:
        e.close()


def _mean_reward(agent, envs, tasks, n=2):
    eps = [e for _ in range(n) for e in rollout(agent, envs, [t for t in tasks for _ in range(8)], horizon=4)]
    return sum(e.reward for e in eps) / len(eps)


@pytest.mark.parametrize("algo,epochs", [("grpo", 1), ("ppo", 2)])
def test_a_few_updates_raise_the_mean_reward(rows, tmp_path, setting, algo, epochs):
    envs, tasks = setting
    agent = tiny_agent(rows, tmp_path)
    before = _mean_reward(agent, envs, tasks)
    params = RLParams(algo=algo, tasks_per_update=2, group_size=8, learning_rate=1e-2, minibatch_size=32,
                      epochs=epochs, horizon={"stages": [4], "every": 0})
    trainer = PolicyTrainer(agent, params, envs, tasks, seed=0)
    history = [trainer.step() for _ in range(8)]
    after = _mean_reward(agent, envs, tasks)
    assert before < 0.9 and after >= before + 0.1, (before, after)
    assert all(m["rl/horizon"] == 4 for m in history) and trainer.updates_done == 8
    assert any(m.get("rl/optimizer_steps", 0) > 0 for m in history)
    if algo == "ppo":
        losses = [m["rl/value_loss"] for m in history if "rl/value_loss" in m]
        assert losses[-1] < losses[0]  # the critic learned the returns


def test_horizon_schedule_and_kl_reference(rows, tmp_path, setting):
    envs, tasks = setting
    agent = tiny_agent(rows, tmp_path)
    params = RLParams(tasks_per_update=2, group_size=8, learning_rate=1e-2, kl_coef=0.1,
                      horizon={"stages": [1, 3], "every": 1})
    trainer = PolicyTrainer(agent, params, envs, tasks, seed=0)
    ms = [trainer.step() for _ in range(3)]
    assert [m["rl/horizon"] for m in ms] == [1, 3, 3]
    assert ms[0]["rl/episode_len"] == 1.0 and ms[1]["rl/episode_len"] <= 3.0
    kls = [m["rl/kl"] for m in ms if "rl/kl" in m]
    assert kls and all(k >= 0 for k in kls)


def test_lora_training_leaves_the_base_weights_intact(rows, tmp_path, setting):
    envs, tasks = setting
    agent = tiny_agent(rows, tmp_path)
    agent.model = apply_lora(agent.model, r=4, alpha=8)
    base = {n: p.detach().clone() for n, p in agent.model.named_parameters() if "lora_" not in n}
    lora = {n: p.detach().clone() for n, p in agent.model.named_parameters() if "lora_" in n}
    trainer = PolicyTrainer(agent, RLParams(tasks_per_update=2, group_size=8, learning_rate=1e-2,
                                            horizon={"stages": [4], "every": 0}), envs, tasks, seed=0)
    steps = sum(trainer.step().get("rl/optimizer_steps", 0) for _ in range(4))
    assert steps > 0
    assert all(torch.equal(p, base[n]) for n, p in agent.model.named_parameters() if n in base)
    assert any(not torch.equal(p, lora[n]) for n, p in agent.model.named_parameters() if n in lora)


def test_generate_mode_updates_only_the_agent_tokens(rows, tmp_path, setting):
    envs, tasks = setting
    agent = tiny_agent(rows, tmp_path, mode="generate", max_new_tokens=8)
    eps = rollout(agent, envs, [tasks[0]] * 4, horizon=2)
    assert all(t.decision.malformed and not t.valid_action for e in eps for t in e.turns)  # garbage: invalid steps
    ds = [t.decision for e in eps for t in e.turns]
    out = agent.decision_logprobs(ds)
    assert out["mask"].sum().item() == sum(len(d.completion_ids) for d in ds)
    for i, d in enumerate(ds):
        assert out["mask"][i, :len(d.prompt_ids)].sum() == 0  # no prompt (environment) token is trained


def test_behaviour_cloning_raises_the_expert_action(rows, tmp_path):
    steps, tasks = rows
    agent = tiny_agent(rows, tmp_path, hidden=48)
    with make_env("babyai", **EASY) as env:
        demos = expert_demos(steps, tasks, n=6, accept=env.accepts)
        ex = bc_examples(demos, agent, env)
    assert demos and all(t.task_id.startswith("babyai-GoToRedBallNoDists") for t, _ in demos)
    assert ex["completion"].str.startswith(" ").all() and ex["prompt"].str.endswith("Action:").all()
    task, g = demos[0]
    first = g.iloc[0]
    with make_env("babyai", **EASY) as env:
        env.reset(task)
        ctx = Context(env.task_text, [], env.observe(str(first.state)), env.available_actions())
    k = ctx.actions.index(first.action)
    before = agent.decision_logprobs([_force(agent, ctx, k)])["logp"]
    res = behaviour_clone(agent, ex, None, SFTParams(max_steps=40, batch_size=8, learning_rate=3e-3, max_length=512,
                                                     eval_every=0, logging_steps=5), tmp_path / "bc")
    after = agent.decision_logprobs([_force(agent, ctx, k)])["logp"]
    assert res.train_loss_last < res.train_loss_first and "rl/bc_train_loss_last" in res.metrics("rl/bc_")
    assert after.item() > before.item()


def _force(agent, ctx, k):
    """A score-mode decision for ctx that chose candidate k."""
    d = agent.act([ctx], greedy=True)[0]
    d.choice, d.action = k, ctx.actions[k]
    return d


def test_evaluation_reports_success_with_an_interval(rows, tmp_path, setting):
    envs, tasks = setting
    agent = tiny_agent(rows, tmp_path)
    res = evaluate_policy(agent, envs[:3], envs[0].list_tasks("val", n=5), horizon=3)
    assert res.episodes == 5 and 0 <= res.ci_low <= res.success <= res.ci_high <= 1
    assert 1 <= res.mean_steps <= 3 and set(res.metrics()) >= {"eval/success", "eval/ci_low", "eval/mean_steps"}


class _Counting:
    """A stand-in trainer (pure logic): each step plays `lens` episodes of those lengths."""

    def __init__(self, lens):
        from types import SimpleNamespace

        self.lens, self.steps_taken = lens, 0
        self.params = SimpleNamespace(tasks_per_update=2, group_size=2)
        self.last_episodes = []

    def step(self):
        from types import SimpleNamespace

        self.steps_taken += 1
        self.last_episodes = [SimpleNamespace(steps=n) for n in self.lens]
        return {"rl/episode_len": sum(self.lens) / len(self.lens)}


@pytest.mark.parametrize(("budget", "updates"), [(None, 5), (0, 0), (12, 1), (13, 2), (24, 2), (25, 3), (10**6, 5)])
def test_train_rl_stops_at_the_real_step_budget_and_counts_every_step(budget, updates):
    from dreamgym.policy.trainer import train_rl

    tr, seen = _Counting([1, 2, 4, 5]), []  # 12 env steps per update
    curve = train_rl(tr, 5, evaluate=lambda: {"eval/success": 0.0}, eval_every=1, show_progress=False,
                     on_metrics=lambda m, u: seen.append(m.get("rl/env_steps")), max_env_steps=budget)
    assert tr.steps_taken == updates
    assert [c["update"] for c in curve] == list(range(updates + 1))  # one evaluation per update, none repeated
    assert curve[-1]["env_steps"] == 12 * updates and [s for s in seen if s is not None] == [
        12.0 * u for u in range(1, updates + 1)]
