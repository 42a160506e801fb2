"""Evaluation beside its baselines: the uniform-random policy over the valid actions and the expert, on the same
tasks and horizon (dreamgym.policy.evaluate), and the summary math (success, steps to success, BabyAI score)."""

from __future__ import annotations

import math

import pytest

from dreamgym.envs import make_env
from dreamgym.policy.evaluate import BaselineEpisode, baseline_metrics, baselines, play_baseline, summarize


def test_summarize_matches_a_loop():
    eps = [BaselineEpisode(True, 4, 1), BaselineEpisode(False, 10, 3), BaselineEpisode(True, 2, 0),
           BaselineEpisode(False, 10, 0)]
    r = summarize(eps, horizon=10)
    won = [e.steps for e in eps if e.success]
    score = 0.0
    for e in eps:
        score += (1 - 0.9 * e.steps / 10) if e.success else 0.0
    assert (r.episodes, r.successes, r.success) == (4, 2, 0.5)
    assert r.mean_steps == 26 / 4 and r.mean_steps_success == sum(won) / len(won) == 3.0
    assert r.invalid_rate == pytest.approx(4 / 26)
    assert r.score == pytest.approx(score / 4)
    assert r.ci_low < 0.5 < r.ci_high
    assert math.isnan(summarize([BaselineEpisode(False, 10, 0)], 10).mean_steps_success)


@pytest.fixture(scope="module")
def pickup():
    e = make_env("babyai", levels=["PickupLoc"], action_set="primitive")
    yield e
    e.close()


def test_baselines_same_tasks_deterministic_and_expert_beats_random(pickup):
    tasks = pickup.list_tasks("val", n=30)
    a = baselines(pickup, tasks, horizon=15, seed=0)
    b = baselines(pickup, tasks, horizon=15, seed=0)
    assert a["random"] == b["random"] and a["expert"] == b["expert"]  # seeded per task: replayable
    assert a["random"].episodes == a["expert"].episodes == 30 and a["random"].horizon == 15
    assert a["expert"].success >= 0.9 and a["random"].success <= 0.3
    m = baseline_metrics(a, "eval/test_")
    assert m["eval/test_random_success"] == a["random"].success and "eval/test_expert_ci_high" in m


def test_the_go_to_macro_makes_random_succeed():
    """The reason for the primitive default: with `go to <obj>`, a GoTo task ends in one step once visible."""
    with make_env("babyai", levels=["GoToLocal"]) as macro, \
            make_env("babyai", levels=["GoToLocal"], action_set="primitive") as prim:
        tasks = macro.list_tasks("val", n=40)
        r_macro = baselines(macro, tasks, horizon=20, which=["random"])["random"].success
        r_prim = baselines(prim, tasks, horizon=20, which=["random"])["random"].success
    assert r_macro >= 0.6 and r_prim <= 0.4 and r_macro > r_prim + 0.3


def test_play_baseline_respects_the_horizon_and_rejects_unknown(pickup):
    task = pickup.list_tasks("val", n=1)[0]
    ep = play_baseline(pickup, task, horizon=2, policy="random", seed=3)
    assert ep.steps <= 2
    with pytest.raises(Exception, match="unknown baseline"):
        play_baseline(pickup, task, horizon=2, policy="nope")
