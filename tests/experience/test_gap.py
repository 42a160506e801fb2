"""The sim-to-real gap monitor on real BabyAI (PickupLoc, primitive actions): an experience model that predicts
exactly what the real env does shows full agreement and no divergence; one that is wrong at a known step shows
the divergence and the validity / reward disagreement there. The agent and the model are scripted (pure logic):
the agent plays the expert's plan of each task, the model steps a shadow real env."""

from __future__ import annotations

import pytest

from dreamgym.data.schema import Task
from dreamgym.envs import get_spec, make_env
from dreamgym.errors import DreamGymError
from dreamgym.experience.format import Prediction
from dreamgym.experience.gap import Trace, Transition, compare, judge, replay
from dreamgym.experience.prompt import PromptSpec
from dreamgym.experience.synthetic import ExperienceModel, Outcome
from dreamgym.policy.agent import Decision

KWARGS = {"levels": ["PickupLoc"], "action_set": "primitive"}
IDLE = "turn left"  # what the agent does once its plan is played


def make_real():
    return make_env("babyai", **KWARGS)


class PlanAgent:
    """Plays the expert's action list of each task (keyed by the task block and the first observation), then IDLE."""

    def __init__(self, plans):
        self.plans = plans

    def act(self, contexts, greedy=False):
        out = []
        for c in contexts:
            first = c.history[0][0] if c.history else c.observation
            plan = self.plans[(c.instruction, first)]
            a = plan[len(c.history)] if len(c.history) < len(plan) else IDLE
            out.append(Decision(prompt="", prompt_ids=[], action=a, reply=a, malformed=False, completion_ids=[],
                                logprob=0.0, token_logprobs=[]))
        return out


class ShadowModel(ExperienceModel):
    """What SyntheticEnv needs of an ExperienceModel (spec, env, abstract, predict, version), predicting by stepping
    one shadow real env per synthetic episode; where `lie(t, query)` returns a Prediction, that is step t's (the
    shadow env stays where it was: a rejected action changes nothing)."""

    def __init__(self, tasks, lie=None):
        self.spec = PromptSpec(get_spec("babyai"), history_window=0, k=0, budget=3072, state_budget=600,
                               with_reasoning=False)
        self.env, self.version, self.retriever = "babyai", "shadow", None
        self.tasks, self.shadows, self.lie = {t.task_id: t for t in tasks}, {}, lie
        self.batches: list[int] = []

    def predict(self, queries):
        self.batches.append(len(queries))
        outs = []
        for q in queries:
            if q.episode_id not in self.shadows:
                self.shadows[q.episode_id] = make_real()
                self.shadows[q.episode_id].reset(self.tasks[q.task_id])
            env = self.shadows[q.episode_id]
            pred = self.lie(len(q.history), q) if self.lie else None  # the synthetic episode's step index
            if pred is None:
                obs, reward, done, info = env.step(q.action)
                pred = Prediction("", info["valid_action"], obs, reward, done and not info["truncated"])
            outs.append(Outcome(pred))
        return outs


@pytest.fixture(scope="module")
def setup():
    """Three val tasks whose expert plans take at least 3 steps, the plans, and the agent playing them."""
    plans, tasks = {}, []
    with make_real() as env:
        for task in env.list_tasks("val", n=12):
            first = env.observe(env.reset(task))
            key, plan, done = (env.task_text, first), [], False
            while not done:
                plan.append(env.expert_action())
                _, _, done, info = env.step(plan[-1])
            assert info["success"]
            if len(plan) >= 3 and key not in plans:
                plans[key] = plan
                tasks.append(task)
            if len(tasks) == 3:
                break
    lengths = {t.task_id: len(p) for t, p in zip(tasks, plans.values(), strict=True)}
    return tasks, PlanAgent(plans), lengths


def run(setup, lie=None, horizon=None):
    tasks, agent, lengths = setup
    model = ShadowModel(tasks, lie)
    horizon = horizon or max(lengths.values()) + 3
    return judge(agent, model, make_real, tasks, horizon=horizon, env_kwargs=KWARGS), model, horizon


def test_an_exact_model_agrees_everywhere(setup):
    tasks, _, lengths = setup
    report, model, _ = run(setup)
    assert model.batches[0] == len(tasks)  # the synthetic play is batched across episodes
    assert report.episodes == 3 and report.steps == sum(lengths.values()) and report.real_ended_early == 0
    for name in ("valid", "reward", "done", "success"):
        assert getattr(report, f"{name}_agreement") == 1.0
        assert getattr(report, f"{name}_ci_low") < 1.0 == getattr(report, f"{name}_ci_high")
    assert report.no_divergence == 1.0 and report.first_divergence == sum(lengths.values()) / 3
    assert report.syn_success == report.real_success == 1.0 and report.both_success == 3
    assert report.eps_r == 0.0 and report.eps_p == 0.0 and report.eps_p_steps == report.steps
    assert [e.first_divergence for e in report.per_episode] == [None] * 3
    m = report.metrics("judge/")
    assert m["judge/valid_agreement"] == 1.0 and all(k.startswith("judge/") for k in m)
    assert all(isinstance(v, float) for v in m.values())


K = 1


def hack(t, q):
    """At step K: claims the task is solved (valid, reward 1, done) in a made-up state: reward hacking."""
    return Prediction("", True, "carrying a made-up ball", 1.0, True) if t == K else None


def test_a_model_that_grants_a_false_success_at_step_k(setup):
    tasks, _, lengths = setup
    report, _, _ = run(setup, hack)
    # every synthetic episode ends at K with a success the real env did not grant
    assert [e.first_divergence for e in report.per_episode] == [K] * 3
    assert report.steps == 3 * (K + 1) and report.real_ended_early == 0
    assert report.valid_agreement == 1.0  # the action itself was valid in both
    assert report.reward_agree == report.done_agree == 3 * K  # all but step K
    assert report.syn_success == 1.0 and report.real_success == 0.0 and report.syn_success_real_fail == 3
    assert report.success_agreement == 0.0 and report.first_divergence == K and report.no_divergence == 0.0
    assert report.eps_r == pytest.approx(3 / report.steps)
    assert report.eps_p == pytest.approx(3 / (3 * (K + 1)))  # every step up to the divergence counts


def test_a_model_that_rejects_the_winning_action(setup):
    """At each task's last expert step (the real success), the model calls the action invalid and keeps the state:
    the real episode ends there, the synthetic one goes on to the horizon."""
    tasks, _, lengths = setup

    def deny(t, q):
        return Prediction("", False, q.state, 0.0, False) if t == lengths[q.task_id] - 1 else None

    report, _, horizon = run(setup, deny)
    assert [e.first_divergence for e in report.per_episode] == [lengths[t.task_id] - 1 for t in tasks]
    assert report.steps == sum(lengths.values())
    assert report.real_ended_early == sum(horizon - n for n in lengths.values())
    assert report.valid_agree == report.reward_agree == report.done_agree == report.steps - 3
    assert report.syn_fail_real_success == 3 and report.real_success == 1.0 and report.syn_success == 0.0
    assert report.eps_p == pytest.approx(3 / report.steps)


def _trace(states, valid=None, rewards=None, done_last=True, actions=None, success=False):
    n = len(states)
    valid = valid or [True] * n
    rewards = rewards or [0.0] * n
    steps = [Transition(s, v, r, done_last and i == n - 1)
             for i, (s, v, r) in enumerate(zip(states, valid, rewards, strict=True))]
    return Trace(Task("toy/0", "toy", "do it", "train"), actions or [f"a{i}" for i in range(n)], steps, success)


def test_compare_counts_steps_both_played_and_checks_the_pairing():
    syn = _trace(["s1", "s2", "s3", "s4"], done_last=False)
    real = _trace(["s1", "x2"], actions=["a0", "a1"], rewards=[0.0, 1.0], success=True)  # ends (done) at step 1
    r = compare([(syn, real)])
    assert (r.steps, r.real_ended_early, r.per_episode[0].first_divergence) == (2, 2, 1)
    assert (r.reward_agree, r.done_agree, r.eps_r, r.eps_p, r.eps_p_steps) == (1, 1, 0.5, 0.5, 2)
    assert r.syn_fail_real_success == 1 and r.both_fail == 0
    with pytest.raises(DreamGymError, match="not a replay"):
        compare([(syn, _trace(["s1"], actions=["other"]))])
    with pytest.raises(DreamGymError, match="stops before the synthetic episode"):
        compare([(syn, _trace(["s1"], done_last=False))])
    with pytest.raises(DreamGymError, match="no episodes"):
        compare([])


def test_replay_stops_when_the_real_episode_ends(setup):
    tasks, agent, lengths = setup
    with make_real() as env:
        first = env.observe(env.reset(tasks[0]))
        plan = agent.plans[(env.task_text, first)]
        tr = replay(env, tasks[0], [*plan, IDLE, IDLE])
    assert tr.actions == plan and tr.success and tr.steps[-1].done and tr.steps[-1].reward == 1.0
