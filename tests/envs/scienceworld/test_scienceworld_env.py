"""Tests of the ScienceWorld env (dreamgym/envs/scienceworld/env.py).

One module-scoped env (one JVM) serves the fast tests; a second instance checks determinism across JVMs and
that close() stops its java process. The 50-val-task expert run (~50 s) is marked slow.
"""

from __future__ import annotations

import json
import random

import psutil
import pytest

from dreamgym.data.schema import Task
from dreamgym.envs.base import EnvNotResetError
from dreamgym.envs.registry import make_env
from dreamgym.envs.scienceworld.env import ALL_TASK_NAMES, INVALID_REPLY, ScienceWorldEnv, compact
from dreamgym.errors import DreamGymError, UnknownNameError


def _java_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        p = psutil.Process(pid)
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def env():
    e = make_env("scienceworld")
    yield e
    pid = e.jvm_pid
    e.close()
    assert not _java_alive(pid), "java process survived close()"


@pytest.fixture(scope="module")
def val_tasks(env):
    return env.list_tasks("val", n=60)


def _task(tasks, name, k=0):
    return [t for t in tasks if t.spec["task_name"] == name][k]


def _finish_expert(env):
    """Follow the expert from the current state to the end; returns the last step's result (None: no step)."""
    r = None
    while not env.done:
        a = env.expert_action()
        if a is None:
            break
        r = env.step(a)
    return r


def _play_expert(env, task, max_steps=None):
    obs = env.reset(task)
    return obs, _finish_expert(env)


# ---- construction and listing ----------------------------------------------------------------------------
def test_bad_kwargs_raise_without_jvm():
    with pytest.raises(UnknownNameError):
        ScienceWorldEnv(task_names=["boil", "no-such-task"])
    with pytest.raises(DreamGymError):
        ScienceWorldEnv(jvm_heap="lots")
    with pytest.raises(ValueError):
        ScienceWorldEnv(max_steps=0)


def test_list_tasks_deterministic_interleaved(env, val_tasks):
    again = env.list_tasks("val", n=60)
    assert [t.task_id for t in again] == [t.task_id for t in val_tasks]
    assert [t.instruction for t in again] == [t.instruction for t in val_tasks]
    # task i takes task name i % 30: the first 30 val tasks are one of each task type, in package order
    assert [t.spec["task_name"] for t in val_tasks[:30]] == list(ALL_TASK_NAMES)
    assert [t.spec["task_name"] for t in val_tasks[30:60]] == list(ALL_TASK_NAMES)
    assert env.list_tasks("val", n=5, start=30) == val_tasks[30:35]
    for t in val_tasks:
        assert t.env == "scienceworld" and t.split == "val"
        assert t.task_id == f"scienceworld/{t.spec['task_name']}/{t.spec['variation']}"
        assert t.instruction.startswith("Your task is to")
        assert Task.from_row(t.to_row()).spec == t.spec
        json.dumps(t.spec)
    assert len({t.task_id for t in val_tasks}) == len(val_tasks)


def test_splits_disjoint(env):
    ids = {s: {t.task_id for t in env.list_tasks(s, n=60)} for s in ("train", "val", "test")}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
    for name in ALL_TASK_NAMES:  # the package's variation splits themselves are disjoint
        v = env._variations(name)
        assert v["train"] and v["val"] and v["test"]
        assert not (set(v["train"]) & set(v["val"]) or set(v["train"]) & set(v["test"]) or set(v["val"]) & set(v["test"]))


def test_unknown_split_raises(env):
    with pytest.raises(UnknownNameError):
        env.list_tasks("dev")


def test_subset_of_task_names():
    e = ScienceWorldEnv(task_names=["find-animal", "boil"])
    try:
        assert e.jvm_pid is None  # the JVM starts lazily
        tasks = e.list_tasks("val", n=4)
        assert [t.spec["task_name"] for t in tasks] == ["find-animal", "boil", "find-animal", "boil"]
    finally:
        pid = e.jvm_pid
        e.close()
        e.close()  # twice is safe
    assert pid is not None and not _java_alive(pid)
    with pytest.raises(DreamGymError):  # a closed env does not start a new JVM
        e.reset(tasks[0])


# ---- determinism -------------------------------------------------------------------------------------------
def test_reset_deterministic_and_replay(env, val_tasks):
    task = _task(val_tasks, "chemistry-mix-paint-secondary-color")
    obs1 = env.reset(task)
    actions = ["open door to hallway", "look around", "asdf", "go to hallway", "look around"]
    run1 = [env.step(a).observation for a in actions]
    env.reset(_task(val_tasks, "boil"))  # another episode in between
    env.step("look around")
    obs2 = env.reset(task)
    run2 = [env.step(a).observation for a in actions]
    assert obs1 == obs2 and run1 == run2
    assert obs1.startswith("This room is called the ") and "\n[Location: " in obs1
    assert obs1 == compact(obs1.replace("\n", "\n\t  "))  # already compact


def test_deterministic_across_jvms(env, val_tasks):
    tasks = [_task(val_tasks, "grow-fruit"), _task(val_tasks, "inclined-plane-friction-named-surfaces")]
    other = ScienceWorldEnv(jvm_heap="256m")
    try:
        for task in tasks:
            for e in (env, other):
                e.reset(task)
            gold = [a for a in env.gold_path() if not a.isdigit()][:25]
            assert other.reset(task) == env.reset(task)
            for a in gold:
                assert env.step(a).observation == other.step(a).observation
    finally:
        pid = other.jvm_pid
        assert any(arg == "-Xmx256m" for arg in psutil.Process(pid).cmdline())
        other.close()
    assert not _java_alive(pid)


def test_list_tasks_mid_episode_keeps_state(env, val_tasks):
    task = _task(val_tasks, "find-animal")
    env.reset(task)
    env.step("open door to hallway")
    env.list_tasks("train", n=3, start=100)  # loads other tasks into the JVM
    env.list_tasks("test", n=2, start=500)
    after = env.step("go to hallway").observation
    env.reset(task)
    env.step("open door to hallway")
    assert env.step("go to hallway").observation == after


# ---- actions -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["", "   ", "xyzzy plugh", "0", "3", "a" * 1000, "open door\nclose door",
                                    "füße ☃ 中文", "focus on", "<|endoftext|>"])
def test_invalid_actions(env, val_tasks, action):
    env.reset(_task(val_tasks, "boil"))
    r = env.step(action)
    assert r.info["valid_action"] is False and r.reward == 0.0 and not r.done
    assert r.observation.startswith(INVALID_REPLY)


def test_step_before_reset_and_after_done():
    e = ScienceWorldEnv()
    with pytest.raises(EnvNotResetError):
        e.step("look around")
    with pytest.raises(EnvNotResetError):
        e.expert_action()
    assert e.available_actions() is None
    assert e.jvm_pid is None
    e.close()


def test_available_actions_and_random_policy(env, val_tasks):
    rng = random.Random(0)
    for task in (_task(val_tasks, "boil"), _task(val_tasks, "power-component")):
        env.reset(task)
        acts = env.available_actions()
        assert acts == sorted(set(acts)) and "look around" in acts and len(acts) > 50
        for _ in range(15):
            a = env.random_action(rng)
            assert isinstance(a, str)
            r = env.step(a)
            assert isinstance(r.observation, str) and r.observation
            if r.done:
                break


def test_step_limit_truncates(env, val_tasks):
    old = env.max_steps
    env.max_steps = 3
    try:
        env.reset(_task(val_tasks, "boil"))
        infos = [env.step("look around").info for _ in range(3)]
        assert [i["truncated"] for i in infos] == [False, False, True] and env.done
        with pytest.raises(EnvNotResetError):
            env.step("look around")
    finally:
        env.max_steps = old


def test_wrong_focus_fails_terminally(env, val_tasks):
    env.reset(_task(val_tasks, "boil"))
    r = env.step("focus on orange")
    assert r.done and r.info["failed"] and not r.info["success"] and not r.info["truncated"]
    assert r.info["score"] < 0 and r.reward == 0.0


# ---- expert -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["find-animal", "chemistry-mix", "grow-plant", "lifespan-longest-lived"])
def test_expert_solves(env, val_tasks, name):
    _, r = _play_expert(env, _task(val_tasks, name))
    assert r.info["success"] and r.reward == 1.0 and r.done and r.info["score"] == 100.0


def test_ambiguous_actions_resolved(env, val_tasks):
    task = _task(val_tasks, "grow-plant")
    env.reset(task)
    assert any(a.isdigit() for a in env.gold_path())  # the gold path answers an ambiguity prompt
    resolved = []
    while not env.done:
        r = env.step(env.expert_action())
        assert not r.observation.startswith("Ambiguous")
        if r.info["ambiguity_resolved"]:
            resolved.append(r.info["ambiguity_resolved"])
    assert resolved and r.info["success"]


def test_expert_after_off_policy_actions(env, val_tasks):
    """Gold path computed lazily mid-episode (replay), after off-policy actions; the expert still succeeds."""
    task = _task(val_tasks, "find-plant", 1)
    env._gold_cache.pop((task.spec["task_name"], task.spec["variation"]), None)
    env.reset(task)
    for a in ["inventory", "look around", "nonsense"]:
        env.step(a)
    first = env.gold_path()[0]
    assert env.expert_action() == first  # off-policy actions do not move the pointer
    r = _finish_expert(env)
    assert r is not None and r.info["success"]


# ---- slow: expert over the first 50 val tasks ----------------------------------------------------------------
@pytest.mark.slow
def test_expert_success_rate_first_50_val(env):
    tasks = env.list_tasks("val", n=50)
    wins = 0
    for task in tasks:
        _, r = _play_expert(env, task)
        wins += bool(r is not None and r.info["success"])
    assert wins / len(tasks) >= 0.8
