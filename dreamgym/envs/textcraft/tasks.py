"""TextCraft's task grammar for generated tasks: a goal is "craft <item>", and the rules' variants.

    parse_goal("craft oak planks")                 # ("minecraft:oak_planks", "")
    parse_goal("craft a dragon egg")               # (None, "'a dragon egg' is not a craftable item")
    task = task_from_text(parent, "craft stick")   # a Task with goal stick and the parent's seed
    task_variants(parent.instruction, first_observation, random.Random(0), 3)  # ["craft stick", ...]

A generated task is (goal, parent's seed): the real env resets it as it resets a listed task (the package's
recipe tree for the goal, distractors and order drawn from the seed), so its first observation is a real reset
and the expert plans it. Its split is the goal's (env.py `goal_split`): a goal of the val or test split is held
out and the curriculum rejects it.

Grammar: `craft <item>`, lowercase, words separated by single spaces, where <item> is the name of an item the
recipe tree can craft (not a base item, not a tag) and whose expert plan from an empty inventory takes at most
MAX_PLAN_LEN actions (the listed tasks' bound), so the task is feasible within the step limit.

Simplifications: variants are the craftable items the first observation's crafting commands produce (the goal's
intermediate items and the distractors' outputs), kept to train-split goals, items of goal depth (>= 2) before
one-craft items; a variant may be easier than its parent (an intermediate item), which the variance curriculum
then ranks.
"""

from __future__ import annotations

import functools
import random

from dreamgym.data.schema import Task
from dreamgym.envs.textcraft.observation import parse_recipes

# the game core (env.py, core.py: the recipe tree and its data) is imported inside the functions, so reading the
# spec stays light (see the package docstring)

OPENING = "craft "


def normalize(text: str) -> str:
    """The text with surrounding whitespace stripped, every run of whitespace one space, a final "." dropped."""
    return " ".join(str(text).split()).removesuffix(".").rstrip()


@functools.lru_cache(maxsize=4096)
def _plan_length(goal: str) -> int | None:
    from dreamgym.envs.textcraft import core

    plan = core.shared_planner().plan(goal, {})
    return None if plan is None else len(plan)


def parse_goal(text: str) -> tuple[str | None, str]:
    """(item id, "") of a goal of the grammar (see the module docstring), or (None, the reason it is not one)."""
    from dreamgym.envs.textcraft import core
    from dreamgym.envs.textcraft.env import MAX_PLAN_LEN

    text = normalize(text)
    if not text:
        return None, "empty instruction"
    if text != text.lower():
        return None, "not lowercase"
    if not text.startswith(OPENING):
        return None, f"expected 'craft <item>', got '{text[:60]}'"
    name = text[len(OPENING):].strip()
    if not name:
        return None, "no item named"
    tree = core.shared_tree()
    goal = core.id_of(name)
    if not tree.is_craftable(goal) or tree.is_tag(goal):
        return None, f"'{name[:60]}' is not a craftable item"
    n = _plan_length(goal)
    if n is None:
        return None, f"no plan makes '{name}' from an empty inventory"
    if n > MAX_PLAN_LEN:
        return None, f"'{name}' takes {n} actions from an empty inventory (more than {MAX_PLAN_LEN})"
    return goal, ""


def task_from_text(parent: Task, text: str) -> Task | str:
    """A generated task of goal `text` with `parent`'s seed, or the reason it is not one."""
    from dreamgym.envs.textcraft import core
    from dreamgym.envs.textcraft.env import goal_split

    goal, reason = parse_goal(text)
    if goal is None:
        return reason
    if goal == parent.spec.get("goal"):
        return "same as the parent"
    seed = int(parent.spec.get("seed", 0))
    return Task(task_id=f"textcraft:{goal.removeprefix('minecraft:')}:{seed}:g", env="textcraft",
                instruction=f"craft {core.name_of(goal)}", split=goal_split(goal), spec={"goal": goal, "seed": seed},
                source="generated", parent_task_id=parent.task_id)


def task_variants(instruction: str, first_observation: str, rng: random.Random, n: int) -> list[str]:
    """Up to `n` distinct goals "craft <item>" of the items the first observation's crafting commands produce,
    other than `instruction`'s, that parse (craftable, plan within MAX_PLAN_LEN) and belong to the train split:
    items of goal depth (recipe depth >= 2, as the listed goals) first, then one-craft items; each group shuffled
    by `rng`."""
    from dreamgym.envs.textcraft.env import goal_split

    own, _ = parse_goal(instruction)
    deep_goals = _deep_goals()
    deep: list[str] = []
    shallow: list[str] = []
    for r in parse_recipes(first_observation.splitlines()):
        text = f"craft {r.output}"
        goal, _ = parse_goal(text)
        if goal is None or goal == own or goal_split(goal) != "train" or text in deep or text in shallow:
            continue
        (deep if goal in deep_goals else shallow).append(text)
    rng.shuffle(deep)
    rng.shuffle(shallow)
    return (deep + shallow)[: max(0, int(n))]


@functools.lru_cache(maxsize=1)
def _deep_goals() -> frozenset[str]:
    from dreamgym.envs.textcraft import core

    return frozenset(goal for goal, _depth in core.shared_tree().goals)
