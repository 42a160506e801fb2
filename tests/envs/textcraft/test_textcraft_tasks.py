"""TextCraft's task grammar: goals parse or are rejected with a reason, generated tasks are real resets with the
parent's seed that the expert solves, a held-out goal is rejected by the curriculum's check, and variants come from
the first observation's crafting commands."""

from __future__ import annotations

import random

import pytest
from envutil import expert_solves

from dreamgym.curriculum.generate import check_task
from dreamgym.envs import make_env
from dreamgym.envs.textcraft.env import MAX_PLAN_LEN, goal_split
from dreamgym.envs.textcraft.observation import parse_recipes
from dreamgym.envs.textcraft.tasks import parse_goal, task_from_text, task_variants


@pytest.fixture(scope="module")
def env():
    e = make_env("textcraft")
    yield e
    e.close()


def test_goals_parse_or_give_a_reason():
    assert parse_goal(" craft  oak planks. ") == ("minecraft:oak_planks", "")
    for text, reason in [("", "empty"), ("Craft stick", "lowercase"), ("get 1 oak logs", "expected 'craft <item>'"),
                         ("craft", "expected"), ("craft dragon egg", "not a craftable item"),
                         ("craft planks", "not a craftable item"),  # a tag, not an item
                         ("craft netherite block", f"more than {MAX_PLAN_LEN}")]:
        goal, why = parse_goal(text)
        assert goal is None and reason in why, (text, why)


def test_variants_are_train_goals_of_the_commands_and_the_expert_solves_them(env):
    tried = 0
    for parent in env.list_tasks("train", n=5):
        first = env.reset(parent)
        outputs = {f"craft {r.output}" for r in parse_recipes(first.splitlines())}
        variants = task_variants(parent.instruction, first, random.Random(0), 3)
        assert variants and parent.instruction not in variants and set(variants) <= outputs
        for text in variants:
            task = task_from_text(parent, text)
            assert not isinstance(task, str), task
            assert (task.source, task.parent_task_id, task.split) == ("generated", parent.task_id, "train")
            assert task.spec == {"goal": parse_goal(text)[0], "seed": parent.spec["seed"]}
            assert env.reset(task).endswith(f"Goal: {text}.")  # a real reset: the goal's own recipe tree
            assert expert_solves(env, task)
            tried += 1
    assert tried == 15


def test_same_goal_and_held_out_goals_are_rejected(env):
    parent = env.list_tasks("train", n=1)[0]
    assert task_from_text(parent, parent.instruction) == "same as the parent"
    held = env.list_tasks("test", n=1)[0]
    assert goal_split(held.spec["goal"]) == "test"
    verdict, _ = check_task(parent, held.instruction, task_from_text, set(), set(), env.reset)
    assert verdict.reason == "held out"  # a test goal never enters the pool, whatever the seed
    ok, state = check_task(parent, task_variants(parent.instruction, env.reset(parent), random.Random(0), 1)[0],
                           task_from_text, set(), set(), env.reset)
    assert ok.accepted and state.startswith("Crafting commands:")
