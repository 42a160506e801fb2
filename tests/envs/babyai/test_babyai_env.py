"""Tests of the BabyAI text env (dreamgym.envs.babyai.env, re-exported lazily by dreamgym.envs.babyai)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

pytest.importorskip("minigrid")

from dreamgym.data.schema import SPLITS  # noqa: E402
from dreamgym.envs import make_env  # noqa: E402
from dreamgym.envs.babyai import DEFAULT_LEVELS, BabyAIEnv, level_id  # noqa: E402
from dreamgym.errors import UnknownNameError  # noqa: E402


@pytest.fixture(scope="module")
def env():
    e = make_env("babyai")
    yield e
    e.close()


def _run(env, task, policy, rng=None):
    """Play one episode; return (observations, infos)."""
    obs = [env.reset(task)]
    infos = []
    done = False
    while not done:
        r = env.step(policy(env, rng))
        obs.append(r.observation)
        infos.append(r.info)
        done = r.done
    return obs, infos


def _expert(env, rng):
    a = env.expert_action()
    assert a is not None
    assert a in env.available_actions(), (a, env.available_actions())
    return a


def _random(env, rng):
    return env.random_action(rng)


# ---- tasks ----------------------------------------------------------------------------------------------
def test_registry_and_kwargs():
    e = make_env("babyai", max_steps=10, levels=["GoToLocal", "BabyAI-PickupLoc-v0"])
    assert isinstance(e, BabyAIEnv) and e.name == "babyai" and e.max_steps == 10
    assert e.levels == ["BabyAI-GoToLocal-v0", "BabyAI-PickupLoc-v0"]
    assert level_id("GoToRedBallNoDists") == "BabyAI-GoToRedBallNoDists-v0"
    with pytest.raises(ValueError):
        BabyAIEnv(levels=["NoSuchLevel"])
    with pytest.raises(ValueError):
        BabyAIEnv(val_seed_offset=5, train_size=10)  # train [0, 10) overlaps val [5, ...)


def test_list_tasks_deterministic_disjoint(env):
    other = BabyAIEnv()
    by_split = {}
    for split in SPLITS:
        tasks = env.list_tasks(split, n=24)
        again = other.list_tasks(split, n=24)
        assert [t.to_row() for t in tasks] == [t.to_row() for t in again]
        assert len(tasks) == 24 and len({t.task_id for t in tasks}) == 24
        for i, t in enumerate(tasks):
            assert t.env == "babyai" and t.split == split and t.instruction
            assert json.loads(json.dumps(t.spec)) == t.spec
            assert t.spec["level"] == level_id(DEFAULT_LEVELS[i % len(DEFAULT_LEVELS)])
        by_split[split] = tasks
    ids = [t.task_id for ts in by_split.values() for t in ts]
    seeds = [t.spec["seed"] for ts in by_split.values() for t in ts]
    assert len(set(ids)) == len(ids) and len(set(seeds)) == len(seeds)
    # slicing is consistent with the full order
    assert [t.task_id for t in env.list_tasks("val", n=5, start=10)] == [t.task_id for t in by_split["val"][10:15]]
    assert len(BabyAIEnv(val_size=7).list_tasks("val")) == 7
    other.close()


def test_unknown_split_raises(env):
    with pytest.raises(UnknownNameError):
        env.list_tasks("dev")


# ---- episodes -------------------------------------------------------------------------------------------
def test_reset_observation(env):
    task = env.list_tasks("val", n=1)[0]
    obs = env.reset(task)
    assert isinstance(obs, str) and obs
    assert task.instruction not in obs  # the goal lives in Task.instruction only
    assert "carrying" in obs
    acts = env.available_actions()
    assert {"turn left", "turn right"} <= set(acts)


def test_reset_deterministic_and_replay(env):
    tasks = env.list_tasks("val", n=8)
    other = BabyAIEnv()
    for task in tasks:
        a = _run(env, task, _random, random.Random(7))[0]
        b = _run(other, task, _random, random.Random(7))[0]
        assert a == b
    # same text after other episodes in the same process
    assert _run(env, tasks[0], _random, random.Random(7))[0] == _run(other, tasks[0], _random, random.Random(7))[0]
    other.close()


_SCRIPT = """
import hashlib, random
from dreamgym.envs import make_env
env = make_env("babyai")
h = hashlib.sha256()
for task in env.list_tasks("val", n=8):
    h.update(task.task_id.encode() + task.instruction.encode() + env.reset(task).encode())
    rng = random.Random(3)
    for _ in range(12):
        r = env.step(env.random_action(rng) if rng.random() < 0.5 else env.expert_action())
        h.update(r.observation.encode())
        if r.done:
            break
print(h.hexdigest())
"""


def test_deterministic_across_processes():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    outs = []
    for hashseed in ("1", "2"):
        envvars = dict(os.environ, PYTHONHASHSEED=hashseed, PYTHONPATH=root)
        res = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=envvars,
                             check=True, timeout=120)
        outs.append(res.stdout.strip())
    assert outs[0] and outs[0] == outs[1]


def test_invalid_actions_are_observations(env):
    task = env.list_tasks("val", n=1)[0]
    first = env.reset(task)
    for bad in ["", "   ", "garbage", "go to purple unicorn 7", "pick up red ball 99", "drop",
                "go through red door 3", "move forward " * 50, "\x00\n"]:
        r = env.step(bad)
        assert r.info["valid_action"] is False and r.reward == 0.0 and not r.info["success"]
        assert isinstance(r.observation, str) and first in r.observation  # the state is unchanged
        if r.done:
            break


def test_step_limit_truncates():
    e = BabyAIEnv(max_steps=3)
    e.reset(e.list_tasks("val", n=1)[0])
    infos = [e.step("turn left") for _ in range(3)]
    assert [r.done for r in infos] == [False, False, True]
    assert infos[-1].info["truncated"] and not infos[-1].info["success"]
    e.close()


def test_macro_action_solves_goto(env):
    # in GoToRedBallNoDists the red ball is usually in sight: "go to red ball 1" is one step of ours
    solved = 0
    for task in env.list_tasks("val", n=40)[::len(DEFAULT_LEVELS)]:
        env.reset(task)
        if "go to red ball 1" in env.available_actions():
            r = env.step("go to red ball 1")
            assert r.info["valid_action"] and r.info["primitive_steps"] >= 1
            assert r.done and r.reward == 1.0 and r.info["success"] and "The task is completed." in r.observation
            assert r.info["raw_reward"] > 0
            solved += 1
    assert solved >= 1


def test_expert_solves_val_tasks(env):
    tasks = env.list_tasks("val", n=2 * len(DEFAULT_LEVELS))
    results = [_run(env, t, _expert)[1][-1]["success"] for t in tasks]
    assert all(results), [t.task_id for t, ok in zip(tasks, results, strict=True) if not ok]


def test_expert_success_rate_first_50_val(env):
    tasks = env.list_tasks("val", n=50)
    wins = sum(_run(env, t, _expert)[1][-1]["success"] for t in tasks)
    assert wins / len(tasks) >= 0.95


def test_noisy_expert_replans(env):
    rng = random.Random(0)

    def noisy(e, r):
        return e.random_action(r) if r.random() < 0.3 else _expert(e, r)

    tasks = env.list_tasks("train", n=3 * len(DEFAULT_LEVELS))
    wins = sum(_run(env, t, noisy, rng)[1][-1]["success"] for t in tasks)
    assert wins / len(tasks) >= 0.8


def test_random_policy_runs(env):
    rng = random.Random(1)
    for task in env.list_tasks("train", n=2 * len(DEFAULT_LEVELS), start=100):
        obs, infos = _run(env, task, _random, rng)
        assert all(isinstance(o, str) and o for o in obs)
        assert all(i["valid_action"] for i in infos)  # random_action draws from the valid list
        assert len(infos) <= env.max_steps


def test_close_twice_is_safe():
    e = BabyAIEnv()
    e.reset(e.list_tasks("test", n=1)[0])
    e.close()
    e.close()
    # usable again after close
    assert e.reset(e.list_tasks("test", n=1)[0])
    e.close()


def test_primitive_action_set_has_no_macros_and_the_expert_still_solves():
    with make_env("babyai", levels=["PickupLoc", "GoToLocal"], action_set="primitive") as e:
        solved = 0
        tasks = e.list_tasks("val", n=10)
        for task in tasks:
            e.reset(task)
            for _ in range(30):
                acts = e.available_actions()
                assert not any(a.startswith(("go to", "go through", "toggle and")) for a in acts)
                assert {"turn left", "turn right"} <= set(acts)
                assert sum(a.startswith("pick up") for a in acts) <= 1  # only the object right in front
                a = e.expert_action()
                assert a in acts
                _, _, done, info = e.step(a)
                if done:
                    solved += info["success"]
                    break
        assert solved >= 9
        e.reset(tasks[0])
        obs, _, _, info = e.step("go to red ball 1")
        assert not info["valid_action"] and ("no 'go to'" in obs or "not a valid action" in obs)
    with pytest.raises(Exception, match="action_set"):
        make_env("babyai", action_set="nope")
