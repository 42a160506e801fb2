"""TextCraft rules: the computing and hindsight annotators on real rows and hand-made cases, the context-only simulator and the
context-determined rule (hand-made cases and the share of real transitions it determines)."""

from __future__ import annotations

import re

import pytest
from envutil import check_rationale

from dreamgym.envs import get_spec
from dreamgym.envs.text import squeeze
from dreamgym.envs.textcraft.rules import goal_of, textcraft_predict

TASK = ("craft chest\ncraft 4 oak planks using 1 oak logs\ncraft 1 chest using 8 planks\n"
        "craft 1 wooden hoe using 2 stick, 2 planks")


def _check_rationale(row, instruction=""):
    return check_rationale(get_spec("textcraft"), row, instruction, success_words=("reached", "Crafted the goal"),
                           annotator="hindsight")


# ---- annotator ----------------------------------------------------------------------------------------------

def test_rule_annotators_on_real_rows(textcraft_rows):
    steps, tasks = textcraft_rows
    instr = dict(zip(tasks["task_id"], tasks["instruction"], strict=True))
    rows = steps.to_dict("records")
    assert any(not r["valid_action"] for r in rows) and any(r["reward"] > 0 for r in rows)
    notes = [_check_rationale(r, instr[r["task_id"]]) for r in rows]
    assert notes == [_check_rationale(r, instr[r["task_id"]]) for r in rows]  # deterministic
    goal = instr[rows[0]["task_id"]]
    assert goal in notes[0] or goal.removeprefix("craft ") in notes[0]
    spec = get_spec("textcraft")
    for ann in (spec.annotate, spec.annotators["hindsight"]):
        for r in rows[:50]:  # raw and abstract states give the same rationale
            args = (r["action"], r["reward"], r["done"], r["valid_action"], {"instruction": instr[r["task_id"]]})
            assert ann(spec.observe(r["state"]), args[0], spec.observe(r["next_state"]), *args[1:]) \
                == ann(r["state"], args[0], r["next_state"], *args[1:])


def test_textcraft_rationale_names_missing_items_and_deltas():
    ann = get_spec("textcraft").annotators["hindsight"]
    info = {"instruction": "craft chest"}
    s = "Crafted 4 minecraft:oak_planks\nInventory: 1 oak logs, 4 oak planks"
    craft = ann(s, "craft 1 chest using 8 oak planks", "Could not find enough items to craft minecraft:chest\n"
                "Inventory: 1 oak logs, 4 oak planks", 0.0, False, False, info)
    assert craft == ("Invalid: not enough items, needs 8 oak planks (have 4); nothing changes. The goal chest is not "
                     "crafted yet: reward 0.")
    got = ann(s, "get 2 oak logs", "Got 2 oak logs\nInventory: 3 oak logs, 4 oak planks", 0.0, False, True, info)
    assert got == ("Valid: oak logs is a base item, fetched. Inventory: +2 oak logs. The goal chest is not crafted "
                   "yet: reward 0.")
    nope = ann(s, "get 2 stick", "Could not find stick\nInventory: 1 oak logs, 4 oak planks", 0.0, False, False, info)
    assert nope.startswith("Invalid: stick is not a base item")
    done = ann("Inventory: 8 oak planks", "craft 1 chest using 8 oak planks", "Crafted 1 minecraft:chest\n"
               "Inventory: 1 chest", 1.0, True, True, info)
    assert "-8 oak planks, +1 chest" in done and done.endswith("Crafted the goal chest: reward 1, done.")


def test_rationale_of_first_step_limit_and_malformed_commands():
    ann = get_spec("textcraft").annotators["hindsight"]
    first = ann("Crafting commands:\ncraft 4 oak planks using 1 oak logs\n\nGoal: craft oak planks.", "get 2 oak logs",
                "Got 2 oak logs\nInventory: 2 oak logs", 0.0, False, True, {"instruction": "craft oak planks"})
    assert first == ("Valid: oak logs is a base item, fetched. Inventory: +2 oak logs. The goal oak planks is not "
                     "crafted yet: reward 0.")
    limit = ann("Inventory: 1 oak logs", "dance", "Could not execute dance\nInventory: 1 oak logs", 0.0, True, False,
                {"instruction": "craft chest", "truncated": True})
    assert limit == ("Invalid: not a well-formed command; nothing changes. Goal (chest) not reached and the step limit "
                     "is hit: reward 0, done.")
    recipe = ann("Inventory: 9 oak planks", "craft 1 chest using 9 oak planks", "Could not find a valid recipe for "
                 "1 chest\nInventory: 9 oak planks", 0.0, False, False)
    assert recipe == ("Invalid: no recipe matches these inputs and counts; nothing changes. The goal is not crafted "
                      "yet: reward 0.")


def test_goal_of_instruction():
    assert goal_of({"instruction": "craft chest"}) == goal_of({"instruction": "Goal: craft chest.\nmore"}) == "chest"
    assert goal_of({}) == goal_of({"instruction": "dance"}) == ""


# ---- simulator and context rule -----------------------------------------------------------------------------

def test_textcraft_rule():
    determined = get_spec("textcraft").determined
    inv = "Got 1 oak logs\nInventory: 1 oak logs"
    cases = [  # (state, action, real next state, valid, determined)
        (inv, "craft 4 oak planks using 1 oak logs", "Crafted 4 minecraft:oak_planks\nInventory: 4 oak planks",
         True, True),
        (inv, "get 2 oak logs", "Got 2 oak logs\nInventory: 3 oak logs", True, True),
        ("Goal: craft chest.", "get 3 oak logs", "Got 3 oak logs\nInventory: 3 oak logs", True, True),
        (inv, "get 1 chest", "Could not find chest\nInventory: 1 oak logs", False, True),
        (inv, "get 2 stick", "Could not find stick\nInventory: 1 oak logs", False, False),  # unlisted recipe
        (inv, "craft 1 chest using 8 oak planks", "Could not find enough items to craft minecraft:chest\n"
         "Inventory: 1 oak logs", False, True),
        ("Inventory: 1 oak logs, 8 oak planks", "craft 1 chest using 8 oak planks",
         "Crafted 1 minecraft:chest\nInventory: 1 oak logs, 1 chest", True, True),  # tag planks <- oak planks
        ("Inventory: 9 oak planks", "craft 1 chest using 9 oak planks", "Could not find a valid recipe for "
         "ItemTagWithCount(item_tag=ItemTag(tag=None, item_id='minecraft:chest'), count=1)\nInventory: 9 oak planks",
         False, True),
        ("Inventory: 2 oak logs", "craft 1 stick using 2 oak logs", "Could not find a valid recipe for 1 stick\n"
         "Inventory: 2 oak logs", False, False),  # stick's recipe is not listed
        (inv, "inventory", "Inventory: 1 oak logs", True, True),
        (inv, "dance", "Could not execute dance\nInventory: 1 oak logs", False, True),
        (inv, "get 2 oak logs", "Got 2 oak logs\nInventory: 2 oak logs", True, False),  # not what the rules give
        ("Crafted 1 minecraft:stick", "get 1 oak logs", "Got 1 oak logs\nInventory: 1 oak logs", True, False),
    ]
    for state, action, nxt, valid, det in cases:
        assert determined([TASK], state, action, nxt, valid) is det, (action, nxt)
    assert not determined([], inv, "get 2 oak logs", "Got 2 oak logs\nInventory: 3 oak logs", True)  # no recipes
    assert textcraft_predict([TASK], "Inventory: 1 oak logs, 4 oak planks", "craft 4 oak planks using 1 oak logs") \
        == ("Crafted 4 oak planks\nInventory: 8 oak planks", True)


@pytest.mark.parametrize("action,expected", [
    ("craft 1 chest using 8 oak planks, x", ("Wrong item format: x\nInventory: 8 oak planks", False)),
    ("craft 1 wooden hoe using 2 stick, 2 oak planks", ("Could not find enough items to craft wooden hoe\n"
                                                        "Inventory: 8 oak planks", False)),
    ("craft 1 stick using 2 oak planks", None),  # stick's recipe is not listed
    ("get 4 oak logs", ("Got 4 oak logs\nInventory: 8 oak planks, 4 oak logs", True)),
    ("get 1 diamond", None),  # named by no recipe
    ("inventory", ("Inventory: 8 oak planks", True)),
])
def test_textcraft_predict_cases(action, expected):
    assert textcraft_predict([TASK], "Inventory: 8 oak planks", action) == expected


def test_rule_determines_most_real_transitions(textcraft_rows):
    """With the task block and two history states as context (as the SFT examples), most real transitions are
    determined, and the determined ones are exactly what the simulator predicts."""
    spec = get_spec("textcraft")
    steps, tasks = textcraft_rows
    instr = dict(zip(tasks["task_id"], tasks["instruction"], strict=True))
    hits = total = 0
    for _, ep in steps.sort_values(["episode_id", "t"]).groupby("episode_id"):
        rows = ep.to_dict("records")
        first = rows[0]["state"] if rows[0]["t"] == 0 else None
        task = spec.task_text(instr[rows[0]["task_id"]], first)
        states = [spec.observe(r["state"]) for r in rows]
        for i, r in enumerate(rows):
            nxt = spec.observe(r["next_state"])
            det = spec.determined([task, *states[max(0, i - 2):i]], states[i], r["action"], nxt, r["valid_action"])
            if det:
                pred, valid = textcraft_predict([task], states[i], r["action"])
                assert (squeeze(pred), valid) == (squeeze(nxt), r["valid_action"])
            hits += det
            total += 1
    assert 0.5 < hits / total <= 1.0


# ---- computing annotator ---------------------------------------------------------------------------------------
_ARITH = re.compile(r"(?:^|[.;:] )([a-z][a-z ]*?) (\d+)([+-])(\d+)=(\d+)")


def test_computing_rationale_carries_out_the_rule():
    ann = get_spec("textcraft").annotate
    info = {"instruction": "craft chest", "context": [TASK]}
    got = ann("Inventory: 1 oak logs", "get 2 oak logs", "Got 2 oak logs\nInventory: 3 oak logs", 0.0, False, True, info)
    assert got == "oak logs is an ingredient no listed recipe makes: fetched. oak logs 1+2=3. goal chest not made: reward 0."
    craft = ann("Inventory: 3 oak logs", "craft 4 oak planks using 1 oak logs", "Crafted 4 oak planks\n"
                "Inventory: 2 oak logs, 4 oak planks", 0.0, False, True, info)
    assert craft == ("recipe 4 oak planks <- 1 oak logs: inputs held. oak logs 3-1=2; oak planks 0+4=4. goal chest not "
                     "made: reward 0.")
    short = ann("Inventory: 4 oak planks", "craft 1 chest using 8 oak planks", "", 0.0, False, False, info)
    assert short == "needs 8 oak planks, have 4: not enough, invalid. goal chest not made: reward 0."
    win = ann("Inventory: 8 oak planks", "craft 1 chest using 8 oak planks", "", 1.0, True, True, info)
    assert win == "recipe 1 chest <- 8 planks: inputs held. oak planks 8-8=0; chest 0+1=1. chest is the goal: reward 1, done."
    fetched = ann("Inventory: 8 oak planks", "get 1 chest", "", 0.0, False, False, info)
    assert fetched.startswith("a listed recipe makes chest, so it cannot be fetched: invalid.")
    unknown = ann("Inventory: 8 oak planks", "get 1 diamond", "Got 1 diamond", 0.0, False, True, info)
    assert unknown == "diamond is in no listed recipe: the game decides. goal chest not made: reward 0."
    # the trace reads only the context: the real next state and outcome do not change it
    assert ann("Inventory: 1 oak logs", "get 2 oak logs", "anything", 0.0, False, True, info) == got


def test_computing_rationale_agrees_with_real_transitions(textcraft_rows):
    """On the real transitions the context determines, the trace's arithmetic gives the real next inventory, and
    it calls the action invalid and the goal made exactly when the env did."""
    from dreamgym.envs.textcraft.observation import parse_state
    from dreamgym.experience.examples import build_examples
    from dreamgym.experience.prompt import PromptSpec

    steps, tasks = textcraft_rows
    ex = build_examples(steps, tasks, PromptSpec(get_spec("textcraft"), 0, 0, 3072, 600, True))
    det = ex[ex["determined"]]
    assert len(det) >= 0.8 * len(ex)
    sums = 0
    for r in det.itertuples():
        inv = parse_state(r.next_state).inventory or {}
        for item, a, op, b, c in _ARITH.findall(r.reasoning):
            assert int(c) == (int(a) + int(b) if op == "+" else int(a) - int(b)), r.reasoning
            assert inv.get(item, 0) == int(c), (r.reasoning, r.next_state)
            sums += 1
        assert ("invalid" in r.reasoning) == (not r.valid), r.reasoning
        assert ("reward 1" in r.reasoning) == (r.reward > 0), r.reasoning
        assert "decides" not in r.reasoning
    assert sums > len(det) / 2
