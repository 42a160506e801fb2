"""TextCraft observation: abstraction (recipes to the task block, idempotent, budgeted), the state and recipe
parser, the spec's fields, no action list, and a light package import."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from envutil import check_idempotent_on_generated_text

import dreamgym.envs.textcraft as package
from dreamgym.envs import get_spec
from dreamgym.envs.text import ELLIPSIS
from dreamgym.envs.textcraft import observation, rules
from dreamgym.envs.textcraft.observation import (
    Recipe,
    inventory_line,
    parse_inventory,
    parse_recipes,
    parse_state,
    task_context,
    textcraft_recipes,
)

FIRST = ("Crafting commands:\ncraft 4 oak planks using 1 oak logs\ncraft 1 chest using 8 planks\n\n"
         "Goal: craft chest.")


def abstract(text: str, budget: int = 600) -> str:
    return get_spec("textcraft").observe(text, budget)


# ---- abstraction and task block -----------------------------------------------------------------------------

def test_textcraft_abstraction_moves_recipes_to_the_task():
    assert abstract(FIRST) == "Goal: craft chest."
    task = get_spec("textcraft").task_text("craft chest", FIRST)
    assert task == "craft chest\ncraft 4 oak planks using 1 oak logs\ncraft 1 chest using 8 planks"
    later = "Crafted 4 minecraft:oak_planks\nInventory: 4 oak planks"
    assert abstract(later) == "Crafted 4 oak planks\nInventory: 4 oak planks"
    assert abstract("Could not find a valid recipe for ItemTagWithCount(item_tag=ItemTag(tag=None, "
                    "item_id='minecraft:lead'), count=2)\nInventory: empty") == (
        "Could not find a valid recipe for 2 lead\nInventory: empty")
    long_msg = "Got 1 " + "x" * 200 + "\nInventory: 1 oak logs"
    cut = abstract(long_msg, 40)
    assert cut.endswith("Inventory: 1 oak logs") and len(cut) <= 40 and ELLIPSIS in cut


def test_task_context_without_recipes_is_the_instruction():
    assert task_context("  craft\nchest ") == "craft chest"
    assert task_context("craft chest", "Got 1 oak logs\nInventory: 1 oak logs") == "craft chest"
    assert textcraft_recipes(FIRST) == ["craft 4 oak planks using 1 oak logs", "craft 1 chest using 8 planks"]


def test_abstraction_on_real_rows_is_idempotent_and_within_budget(textcraft_rows):
    steps, _ = textcraft_rows
    texts = sorted(set(steps["state"]) | set(steps["next_state"]))
    for budget in (24, 40, 120, 600):
        for text in texts:
            a = abstract(text, budget)
            assert a and len(a) <= budget
            assert abstract(a, budget) == a
    assert not any(" using " in abstract(t) for t in texts)  # the recipes sit in the task block only


TEXTCRAFT_RAW = ("Crafting commands:\ncraft 4 oak planks using 1 oak logs\n\nGoal: craft chest.\nCrafted 4 "
                 "minecraft:oak_planks\nInventory: 1 oak logs, 4 oak planks\nCould not find stick")
_FRAGMENTS = sorted({s for line in TEXTCRAFT_RAW.splitlines() for s in re.split(r"(?<=[.!?])\s+", line)})


def test_abstraction_is_idempotent_on_generated_text():
    check_idempotent_on_generated_text(abstract, _FRAGMENTS)


# ---- the parser ---------------------------------------------------------------------------------------------

def test_parse_state_reads_message_inventory_and_first_observation():
    s = parse_state("Crafted 4 minecraft:oak_planks\nInventory: 1 oak logs, 4 oak planks")
    assert s.text == "Crafted 4 oak planks\nInventory: 1 oak logs, 4 oak planks"
    assert s.message == "Crafted 4 oak planks" and s.inventory == {"oak logs": 1, "oak planks": 4}
    assert not s.initial and s.held == {"oak logs": 1, "oak planks": 4}
    first = parse_state(FIRST)  # raw: abstracted first
    assert first.text == "Goal: craft chest." and first.initial and first.inventory is None and first.held == {}
    unknown = parse_state("Crafted 1 minecraft:stick")
    assert unknown.inventory is None and unknown.held is None and not unknown.initial
    assert parse_state("Inventory: empty").inventory == {} and parse_state("").message == ""
    assert parse_state(s.text) == s  # abstract input reads the same


def test_inventory_parser_and_writer_are_inverse():
    assert parse_inventory("Got 2 x\nInventory: 3 oak logs, 2 stick, 1 oak logs") == {"oak logs": 4, "stick": 2}
    assert parse_inventory("Got 2 x") is None and parse_inventory("Inventory: ") == {}
    for inv in ({}, {"oak logs": 2}, {"oak planks": 4, "oak logs": 1, "chest": 1}):
        assert parse_inventory(inventory_line(inv)) == inv
    assert inventory_line({"a": 0, "b": 2}) == "Inventory: 2 b" and inventory_line({}) == "Inventory: empty"


def test_parse_recipes_of_the_task_block():
    task = task_context("craft chest", FIRST + "\ncraft 1 wooden hoe using 2 stick, 2 planks\ncraft x using y")
    assert parse_recipes([task]) == [Recipe(4, "oak planks", ((1, "oak logs"),)), Recipe(1, "chest", ((8, "planks"),)),
                                     Recipe(1, "wooden hoe", ((2, "stick"), (2, "planks")))]
    assert parse_recipes(["Goal: craft chest.", ""]) == []


def test_real_env_reset_gives_the_task_block_and_observation_of_the_spec():
    spec = get_spec("textcraft")
    with spec.make() as env:
        task = env.list_tasks("val", n=1)[0]
        first = env.reset(task)
        assert env.task_text == task_context(task.instruction, first) and len(parse_recipes([env.task_text])) >= 1
        assert env.observe(first) == spec.observe(first, env.observation_budget) == f"Goal: {task.instruction}."
        obs = env.step(env.expert_action()).observation
        assert parse_state(env.observe(obs)).inventory


# ---- the spec, the action lister, the light import ----------------------------------------------------------

def test_spec_fields_are_the_package_functions():
    spec = get_spec("textcraft")
    assert spec is package.SPEC and spec.name == "textcraft" and spec.description
    assert spec.abstract is observation.abstract
    assert spec.task_context is observation.task_context
    assert spec.annotate is rules.annotate and spec.determined is rules.determined
    assert spec.actions is None and spec.augment is None and spec.config.__name__ == "TextCraftEnvConfig"
    from dreamgym.envs.textcraft.env import TextCraftEnv

    assert spec.resolve_class() is TextCraftEnv is package.TextCraftEnv and TextCraftEnv.name == "textcraft"


def test_no_action_list_is_derived():
    """The real env lists no actions (generate mode), so the spec derives none from a state."""
    spec = get_spec("textcraft")
    task = task_context("craft chest", FIRST)
    assert spec.admissible(task, "Got 1 oak logs\nInventory: 1 oak logs") is None
    assert spec.admissible(task, "Goal: craft chest.", {"max_steps": 5}) is None
    assert spec.resolve_class().has_action_list is False


_IMPORT = r"""
import json, sys
import dreamgym.envs.textcraft
from dreamgym.envs import get_spec
spec = get_spec("textcraft")
spec.observe("Got 1 minecraft:oak_logs\nInventory: 1 oak logs")
spec.annotate("Goal: craft chest.", "get 1 oak logs", "Got 1 oak logs\nInventory: 1 oak logs", 0.0, False, True)
before = sorted(sys.modules)
from dreamgym.envs.textcraft import TextCraftEnv
print(json.dumps({"before": before, "after": sorted(sys.modules)}))
"""


def test_package_import_is_light():
    import dreamgym

    root = os.path.dirname(os.path.dirname(os.path.abspath(dreamgym.__file__)))
    pypath = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    res = subprocess.run([sys.executable, "-c", _IMPORT], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=pypath))
    assert res.returncode == 0, res.stderr
    mods = json.loads(res.stdout.strip().splitlines()[-1])
    heavy = {"dreamgym.envs.textcraft.core", "dreamgym.envs.textcraft.env", "textcraft"}
    assert not heavy & set(mods["before"]) and not any(m.startswith("textcraft.") for m in mods["before"])
    assert not any(m.startswith("dreamgym.experience") for m in mods["before"])
    assert heavy <= set(mods["after"])  # reading an env name imports the game core then
