"""BabyAI's task grammar: missions parse or are rejected with a reason, generated tasks reset on the parent's grid
with their own mission (minigrid verifies it, the bot solves it), an infeasible mission fails at reset, and the
rules' variants of real first observations are all feasible."""

from __future__ import annotations

import random

import pytest
from envutil import expert_solves

from dreamgym.curriculum.generate import check_task
from dreamgym.curriculum.pool import task_key
from dreamgym.envs import make_env
from dreamgym.envs.babyai.tasks import mission_text, parse_mission, task_from_text, task_variants
from dreamgym.errors import DreamGymError


@pytest.fixture(scope="module")
def env():
    e = make_env("babyai", levels=["PickupLoc"], action_set="primitive", max_steps=64)
    yield e
    e.close()


@pytest.mark.parametrize("text, parsed", [
    ("pick up the red ball", ("pickup", "red", "ball", None)),
    ("pick up a key on your left", ("pickup", None, "key", "left")),
    ("  go to   the grey door  ", ("goto", "grey", "door", None)),
    ("go to a blue box in front of you", ("goto", "blue", "box", "front")),
])
def test_missions_of_the_grammar_parse(text, parsed):
    assert parse_mission(text) == parsed
    assert parse_mission(mission_text(*parsed)) == parsed  # the writer and the parser agree


@pytest.mark.parametrize("text, reason", [
    ("", "empty"), ("Pick up the red ball", "lowercase"), ("open the red door", "unsupported instruction"),
    ("pick up the pink ball", "unknown colour"), ("pick up the red door", "not an object type"),
    ("pick up red ball", "expected 'the' or 'a'"), ("pick up the ball and go to the key", "compound"),
    ("pick up the", "no object"), ("pick up the big red ball", "malformed"),
])
def test_malformed_missions_give_a_reason(text, reason):
    got = parse_mission(text)
    assert isinstance(got, str) and reason in got


def test_variants_of_real_first_observations_reset_and_the_expert_solves_them(env):
    tried = 0
    for parent in env.list_tasks("train", n=8):
        first = env.reset(parent)
        variants = task_variants(parent.instruction, first, random.Random(0), 3)  # [] when nothing else is seen
        assert parent.instruction not in variants and len(set(variants)) == len(variants)
        for text in variants:
            task = task_from_text(parent, text)
            assert not isinstance(task, str), task
            assert (task.source, task.parent_task_id, task.split) == ("generated", parent.task_id, "train")
            assert task.spec == {**parent.spec, "mission": text} and task.task_id.startswith(parent.task_id)
            assert env.reset(task) == first  # the parent's grid; only the mission differs
            assert env._gym.unwrapped.mission == text
            assert expert_solves(env, task)  # minigrid verifies the new mission and the bot plans for it
            tried += 1
    assert tried >= 12


def test_the_new_mission_is_what_counts(env):
    parent = env.list_tasks("train", n=1)[0]
    other = task_from_text(parent, task_variants(parent.instruction, env.reset(parent), random.Random(0), 1)[0])
    env.reset(other)  # picking up the parent's object does not end the generated task
    assert expert_solves(env, parent)
    assert expert_solves(env, other)


def infeasible_mission(env, parent) -> str:
    """A mission of the grammar that no object of the parent's grid matches (found by real resets)."""
    for colour in ("red", "green", "blue", "purple", "yellow", "grey"):
        for typ in ("box", "key", "ball"):
            text = f"pick up the {colour} {typ} behind you"
            try:
                env.reset(task_from_text(parent, text))
            except DreamGymError:
                return text
    raise AssertionError("every mission fits this grid")


def test_a_mission_no_object_matches_is_infeasible_at_reset(env):
    parent = env.list_tasks("train", n=1)[0]
    first = env.reset(parent)
    bad = task_from_text(parent, infeasible_mission(env, parent))
    assert not isinstance(bad, str)
    with pytest.raises(DreamGymError, match="no object of its grid matches"):
        env.reset(bad)
    assert env.reset(parent) == first  # the env is usable after the failed reset


def test_task_from_text_rejects_the_parent_and_malformed_text(env):
    parent = env.list_tasks("train", n=1)[0]
    assert task_from_text(parent, f"  {parent.instruction} ") == "same as the parent"
    assert "unsupported" in task_from_text(parent, "put the red ball next to the box")


def test_check_task_with_the_real_grammar_and_a_real_reset(env):
    parent, held = env.list_tasks("train", n=1)[0], env.list_tasks("test", n=1)[0]
    first = env.reset(parent)
    text = task_variants(parent.instruction, first, random.Random(1), 1)[0]
    verdict, state = check_task(parent, text, task_from_text, set(), set(), env.reset)
    assert verdict.accepted and state == first
    dup, _ = check_task(parent, text, task_from_text, {task_key(verdict.task)}, set(), env.reset)
    assert dup.reason == "duplicate"
    held_first = env.reset(held)
    held_text = task_variants(held.instruction, held_first, random.Random(0), 1)[0]
    out, _ = check_task(held, held_text, task_from_text, set(), set(), env.reset)
    assert out.reason == "held out"  # a variant of a test task is a test task
    bad, _ = check_task(parent, infeasible_mission(env, parent), task_from_text, set(), set(), env.reset)
    assert bad.reason == "infeasible" and "no object" in bad.detail
