"""Tests of the TextWorld cooking env (dreamgym/envs/textworld/env.py) and its game cache (games.py).

Games are generated on first use (~3-6 s each on this machine), so the fast tests share one session-scoped
game cache holding three val games; the 50-task expert run and the two-process generation race are slow.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap

import pytest

from dreamgym.envs.registry import make_env
from dreamgym.envs.textworld import games
from dreamgym.envs.textworld.env import OBJECTIVE, REFUSAL, TextWorldEnv, clean_text
from dreamgym.errors import ConfigError, UnknownNameError

N_FAST = 3


@pytest.fixture(scope="session")
def game_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("tw_games"))


@pytest.fixture(scope="session")
def env(game_dir):
    e = make_env("textworld", game_dir=game_dir)
    yield e
    e.close()


@pytest.fixture(scope="session")
def tasks(env):
    return env.list_tasks("val", n=N_FAST)


def run_expert(e, task, rng=None, eps=0.0):
    e.reset(task)
    done, info, n = False, {}, 0
    while not done:
        if rng is not None and rng.random() < eps:
            a = e.random_action(rng)
        else:
            a = e.expert_action()
            assert a is not None, f"expert gave up at step {n} of {task.task_id}"
        _, _, done, info = e.step(a)
        n += 1
    return info, n


# ---- tasks --------------------------------------------------------------------------------------------
def test_list_tasks_deterministic_and_disjoint(game_dir):
    e = TextWorldEnv(game_dir=game_dir)
    a, b = e.list_tasks("train", n=20), TextWorldEnv(game_dir=game_dir).list_tasks("train", n=20)
    assert [t.task_id for t in a] == [t.task_id for t in b]
    assert [t.spec for t in a] == [t.spec for t in b]
    ids = {s: {t.task_id for t in e.list_tasks(s)} for s in ("train", "val", "test")}
    seeds = {s: {t.spec["seed"] for t in e.list_tasks(s)} for s in ("train", "val", "test")}
    assert len(ids["train"]) == e.sizes["train"] and len(ids["val"]) == e.sizes["val"]
    for s1, s2 in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not ids[s1] & ids[s2] and not seeds[s1] & seeds[s2]
    t = a[3]
    assert t.env == "textworld" and t.split == "train" and t.instruction == OBJECTIVE
    assert json.loads(json.dumps(t.spec)) == t.spec
    assert [x.task_id for x in e.list_tasks("train", n=5, start=3)] == [x.task_id for x in a[3:8]]
    with pytest.raises(UnknownNameError):
        e.list_tasks("dev")


def test_listing_does_not_generate(tmp_path):
    TextWorldEnv(game_dir=str(tmp_path)).list_tasks("val", n=10)
    assert list(tmp_path.iterdir()) == []


def test_bad_settings_raise():
    with pytest.raises(ConfigError):
        TextWorldEnv(go=5)
    with pytest.raises(ConfigError):
        TextWorldEnv(recipe=1, take=2)
    with pytest.raises(ValueError):
        TextWorldEnv(max_steps=0)


def test_settings_change_task_ids(game_dir):
    a = TextWorldEnv(game_dir=game_dir).list_tasks("val", n=1)[0]
    b = TextWorldEnv(game_dir=game_dir, recipe=2, take=2).list_tasks("val", n=1)[0]
    assert a.task_id != b.task_id and a.spec["seed"] == b.spec["seed"]


# ---- reset / determinism ------------------------------------------------------------------------------
def test_reset_deterministic(env, tasks, game_dir):
    first = env.reset(tasks[0])
    assert first.startswith(OBJECTIVE) and "-= " in first
    assert "$$" not in first and "\n\n" not in first and "=-0/" not in first
    other = make_env("textworld", game_dir=game_dir)
    try:
        assert other.reset(tasks[0]) == first
        env.reset(tasks[1])  # another episode in between
        assert env.reset(tasks[0]) == first
        rng = random.Random(7)
        actions, obs1 = [], []
        for _ in range(12):
            a = env.random_action(rng)
            actions.append(a)
            o, _, done, _ = env.step(a)
            obs1.append(o)
            if done:
                break
        other.reset(tasks[0])
        obs2 = [other.step(a).observation for a in actions]
        assert obs1 == obs2
    finally:
        other.close()


def test_reset_same_text_in_fresh_process(env, tasks, game_dir):
    first = env.reset(tasks[0])
    seq = ["look", "inventory", env.expert_action(), "xyzzy"]
    expected = [env.step(a).observation for a in seq]
    code = textwrap.dedent(f"""
        import json, sys
        from dreamgym.envs.registry import make_env
        from dreamgym.data.schema import Task
        e = make_env("textworld", game_dir={game_dir!r})
        t = Task.from_row(json.loads(sys.stdin.read()))
        out = [e.reset(t)] + [e.step(a).observation for a in {seq!r}]
        print(json.dumps(out))
    """)
    env_vars = dict(os.environ, PYTHONHASHSEED="123")
    res = subprocess.run([sys.executable, "-c", code], input=json.dumps(tasks[0].to_row()), text=True,
                         capture_output=True, env=env_vars, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1]) == [first] + expected


def test_clean_text():
    raw = ("\nYou take the knife.\n\n\n\nYour score has just gone up by one point.\n\n>      "
           "                 -= Kitchen =-1/4")
    assert clean_text(raw) == "You take the knife.\nYour score has just gone up by one point."
    end = ("\nYou eat the meal.\n\n      *** The End ***\n\nYou scored 5 out of a possible 5, in 9 turns.\n\n\n"
           "Would you like to RESTART, RESTORE a saved game, QUIT or UNDO the last command?\n>   ")
    assert clean_text(end) == "You eat the meal.\n*** The End ***\nYou scored 5 out of a possible 5, in 9 turns."


# ---- actions ------------------------------------------------------------------------------------------
def test_invalid_actions_never_raise(env, tasks):
    env.reset(tasks[0])
    acts = env.available_actions()
    assert acts and all(isinstance(a, str) for a in acts) and "look" in acts
    for bad in ["", "   ", "xyzzy", "quit", "restart", "save", "undo", "tw-trace-actions", "take the moon",
                "eat meal", "go up", "ÄÖé ∑", "a" * 5000, "look\nquit", "\x00\x01", "; drop table"]:
        obs, reward, done, info = env.step(bad)
        assert isinstance(obs, str) and obs
        assert info["valid_action"] is False, bad
        assert reward == 0.0 and not done
    obs, _, _, info = env.step("quit")
    assert obs == REFUSAL and info["sent_to_game"] is False
    # the game is intact: the expert still wins from here
    done = False
    while not done:
        _, _, done, info = env.step(env.expert_action())
    assert info["success"]


def test_admissible_actions_are_valid(env, tasks):
    env.reset(tasks[1])
    rng = random.Random(3)
    for _ in range(15):
        a = env.random_action(rng)
        assert a in env.available_actions()
        _, _, done, info = env.step(a)
        assert info["valid_action"] is True, a
        if done:
            break


def test_step_limit_truncates(game_dir, tasks):
    e = make_env("textworld", game_dir=game_dir, max_steps=3)
    try:
        e.reset(tasks[0])
        results = [e.step("look") for _ in range(3)]
        assert [r.done for r in results] == [False, False, True]
        assert results[-1].info["truncated"] and not results[-1].info["success"]
    finally:
        e.close()
        e.close()


def test_expert_solves_tasks(env, tasks):
    for task in tasks:
        info, n = run_expert(env, task)
        assert info["success"] and info["score"] == info["max_score"] and n <= env.max_steps
        assert env.expert_action() is None  # episode over


def test_expert_reads_cookbook_first(env, tasks):
    env.reset(tasks[0])
    seen = []
    while True:
        a = env.expert_action()
        seen.append(a)
        env.step(a)
        if a == "examine cookbook" or len(seen) > 20:
            break
    assert seen[-1] == "examine cookbook"
    assert all(x.startswith(("go ", "open ")) for x in seen[:-1])


def test_expert_replans_after_random_actions(env, tasks):
    rng = random.Random(11)
    wins = 0
    for task in tasks:
        info, _ = run_expert(env, task, rng=rng, eps=0.3)
        wins += info["success"]
    assert wins >= 2


def test_random_policy_and_lost_game(env, tasks):
    rng = random.Random(0)
    for task in tasks[:2]:
        env.reset(task)
        done = False
        while not done:
            obs, reward, done, info = env.step(env.random_action(rng))
            assert isinstance(obs, str) and reward in (0.0, 1.0)
        assert info["success"] or info["truncated"] or info["lost"]
    # burning an ingredient loses the game: terminal, not truncated, no success
    for task in tasks:
        env.reset(task)
        cook = None
        while not env.done:
            a = env.expert_action()
            if a.startswith("cook "):
                cook = a
                break
            env.step(a)
        if cook is None:
            continue
        env.step(cook)
        obs, reward, done, info = env.step(cook)
        assert done and info["lost"] and not info["success"] and not info["truncated"] and reward == 0.0
        assert "lost" in obs.lower()
        break
    else:
        pytest.skip("no task with a cooking step among the fast tasks")


def test_close_twice(game_dir, tasks):
    e = TextWorldEnv(game_dir=game_dir)
    e.close()
    e.reset(tasks[0])
    e.close()
    e.close()
    assert e.reset(tasks[0]).startswith(OBJECTIVE)  # usable again after close
    e.close()


# ---- generation cache -----------------------------------------------------------------------------------
def test_generation_race_loser_discards_its_copy(tmp_path, monkeypatch):
    settings = {"recipe": 1, "take": 1, "go": 1, "open": False, "cook": False, "cut": False}
    final = games.game_path(tmp_path, settings, 5).parent

    def fake_generate(folder, settings, seed, split):
        for name in (games.GAME_FILE, "game.json"):
            (folder / name).write_text("mine")
        final.mkdir(parents=True)  # another process finishes first
        for name in (games.GAME_FILE, "game.json"):
            (final / name).write_text("theirs")

    monkeypatch.setattr(games, "_generate_into", fake_generate)
    path, _ = games.ensure_game(tmp_path, settings, 5, "train")
    assert path.read_text() == "theirs"
    assert [p.name for p in final.parent.iterdir()] == [final.name]  # no temp dir left behind
    path2, secs = games.ensure_game(tmp_path, settings, 5, "train")
    assert path2 == path and secs == 0.0


@pytest.mark.slow
def test_two_processes_generate_same_game(tmp_path):
    code = textwrap.dedent(f"""
        from dreamgym.envs.registry import make_env
        e = make_env("textworld", game_dir={str(tmp_path)!r}, go=1)
        print(e.reset(e.list_tasks("test", n=1)[0]))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    assert outs[0][0] == outs[1][0]
    dirs = [p for p in (tmp_path / f"tw{games._tw_version()}").iterdir()]
    assert len(dirs) == 1 and (dirs[0] / games.GAME_FILE).is_file()


@pytest.mark.slow
def test_expert_success_rate_50_val(game_dir):
    e = make_env("textworld", game_dir=game_dir)
    try:
        wins = sum(run_expert(e, t)[0]["success"] for t in e.list_tasks("val", n=50))
    finally:
        e.close()
    assert wins >= 48
