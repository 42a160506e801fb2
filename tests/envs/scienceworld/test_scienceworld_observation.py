"""ScienceWorld's abstract state (dreamgym.envs.scienceworld.observation): the abstraction, its parser, the action
lister, and the package's spec and lightness."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from envutil import check_idempotent_on_generated_text
from hypothesis import given, settings
from hypothesis import strategies as st

from dreamgym.envs import get_spec
from dreamgym.envs.scienceworld import ALL_TASK_NAMES, observation, rules
from dreamgym.envs.scienceworld.observation import (
    SciState,
    Thing,
    abstract,
    actions,
    parse_state,
    parse_thing,
    recall_room,
    reply_effect,
)
from dreamgym.envs.text import plain_task_context
from dreamgym.errors import DreamGymError

SPEC = get_spec("scienceworld")
SCIENCEWORLD_RAW = ("This room is called the kitchen. In it, you see:\nthe agent\na substance called air\na chair. On "
                    "the chair is: nothing.\na fridge. The fridge door is closed.\nYou also see:\nA door to the hallway "
                    "(that is open)\n[Location: kitchen. Inventory: an orange]")
KITCHEN = ("This room is called the kitchen. In it, you see:\n\tthe agent\n\ta substance called air\n\ta chair. On the "
           "chair is: nothing.\n\ta counter. On the counter is: a bowl (containing a red apple, a banana, an orange, a "
           "potato), a drawer.\n\ta cupboard. The cupboard door is open. In the cupboard is: a ceramic cup (containing "
           "nothing), a drawer, a tin cup (containing nothing).\n\ta freezer. The freezer door is closed.\n\ta glass "
           "jar (containing a substance called sodium chloride)\n\ta lighter\n\ta oven, which is turned off. The oven "
           "door is closed.\n\ta sink, which is turned off. In the sink is: nothing.\n\ta stopwatch, which is "
           "deactivated.\n\ta stove, which is turned off. On the stove is: nothing.\n\ta table. On the table is: a "
           "glass cup (containing nothing).\nYou also see:\n\tA door to the bathroom (that is closed)\n\tA door to the "
           "hallway (that is open)\n\tA door to the outside (that is closed)\n[Location: kitchen. Inventory: a metal "
           "pot (containing nothing), an orange, a thermometer, currently reading a temperature of 10 degrees celsius]")
WORKSHOP = ("This room is called the workshop. In it, you see:\nthe agent\na substance called air\na green light bulb, "
            "which is off\na table. On the table is: a battery, a black wire, a switch, which is off.\nYou also see:\n"
            "A door to the hallway (that is open)\n[Location: workshop. Inventory: an orange]")
MOVED = "You move the metal pot to the stove.\n[Location: kitchen. Inventory: an orange]"


# ---- the spec and the package -------------------------------------------------------------------------------------
def test_spec_fields_are_the_package_functions():
    assert SPEC.name == "scienceworld" and SPEC.env_class == "dreamgym.envs.scienceworld.env:ScienceWorldEnv"
    assert SPEC.abstract is observation.abstract and SPEC.actions is observation.actions
    assert SPEC.task_context is plain_task_context and SPEC.task_text("  Your task is\nto boil water. ") == (
        "Your task is to boil water.")
    assert SPEC.annotate is rules.annotate and SPEC.determined is rules.determined and SPEC.augment is None
    assert SPEC.config.__name__ == "ScienceWorldEnvConfig" and SPEC.description


_LIGHT = """
import sys, psutil
import dreamgym.envs.scienceworld
from dreamgym.envs import get_spec
from dreamgym.envs.scienceworld import ALL_TASK_NAMES
spec = get_spec("scienceworld")
s = spec.observe("You move to the kitchen.\\n[Location: kitchen. Inventory: an orange]")
spec.admissible(spec.task_text("boil water"), s, {})
spec.annotate(s, "look around", s, 0.0, False, True)
spec.determined([], s, "look around", s, True)
print(len(ALL_TASK_NAMES), sorted(m for m in sys.modules if m.split(".")[0] in ("scienceworld", "py4j")),
      len(psutil.Process().children(recursive=True)))
"""


def test_package_import_is_light():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    res = subprocess.run([sys.executable, "-c", _LIGHT], capture_output=True, text=True, check=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=root))
    assert res.stdout.strip() == "30 [] 0"  # no scienceworld, no py4j, no java child process


def test_env_names_are_reexported_lazily():
    pytest.importorskip("scienceworld")
    from dreamgym.envs.scienceworld import DEFAULT_TASK_NAMES, INVALID_REPLY, ScienceWorldEnv, compact
    from dreamgym.envs.scienceworld.env import ScienceWorldEnv as Real

    assert ScienceWorldEnv is Real and SPEC.resolve_class() is Real and ScienceWorldEnv.name == "scienceworld"
    assert DEFAULT_TASK_NAMES == ALL_TASK_NAMES and len(ALL_TASK_NAMES) == 30 and compact(" a \n\n b ") == "a\nb"
    assert INVALID_REPLY == observation.INVALID_REPLY
    env = ScienceWorldEnv()
    assert env.jvm_pid is None  # building the env starts no JVM either
    env.close()
    with pytest.raises(AttributeError):
        import dreamgym.envs.scienceworld as pkg

        pkg.NoSuchName  # noqa: B018


# ---- abstraction (copied from tests/experience/test_format.py, against the spec) -----------------------------------
def test_scienceworld_abstraction_keeps_location_line():
    assert SPEC.observe(SCIENCEWORLD_RAW) == (
        "In the kitchen you see:\na chair. On the chair is: nothing.\na fridge. The fridge door is closed.\n"
        "door to hallway (open)\n[Location: kitchen. Inventory: an orange]")
    small = SPEC.observe(SCIENCEWORLD_RAW, 80)
    assert len(small) <= 80 and small.endswith("[Location: kitchen. Inventory: an orange]")


def test_scienceworld_abstraction_idempotent_on_samples():
    for budget in (30, 60, 600):
        a = SPEC.observe(SCIENCEWORLD_RAW, budget)
        assert 0 < len(a) <= budget and SPEC.observe(a, budget) == a


_FRAGMENTS = sorted({s for line in SCIENCEWORLD_RAW.splitlines() for s in re.split(r"(?<=[.!?])\s+", line)})


def test_scienceworld_abstraction_is_idempotent_on_generated_text():
    check_idempotent_on_generated_text(SPEC.observe, _FRAGMENTS)


def test_abstraction_is_the_package_function_and_checks_the_budget():
    assert abstract(KITCHEN, 600) == SPEC.observe(KITCHEN) == observation.read_abstract(KITCHEN, 600)
    with pytest.raises(DreamGymError, match="below the minimum"):
        SPEC.observe(KITCHEN, 3)


def test_abstraction_on_real_states_is_idempotent_and_within_budget(sw_transitions):
    for text in {t.state for t in sw_transitions} | {t.next_state for t in sw_transitions}:
        for budget in (300, 600):
            a = SPEC.observe(text, budget)
            assert a and len(a) <= budget and SPEC.observe(a, budget) == a
            assert "[Location: " in a


# ---- the parser ----------------------------------------------------------------------------------------------------
def test_parse_state_reads_raw_and_abstract_alike():
    raw, ab = parse_state(KITCHEN), parse_state(SPEC.observe(KITCHEN, 4000))
    assert raw == ab and isinstance(raw, SciState)
    assert raw.room == "kitchen" and raw.location == "kitchen" and raw.message == "In the kitchen you see:"
    assert raw.inventory == ("a metal pot (containing nothing)", "an orange",
                             "a thermometer, currently reading a temperature of 10 degrees celsius")
    assert [t.label for t in raw.inventory_things] == ["metal pot", "orange", "thermometer"]
    assert raw.doors == (("bathroom", False), ("hallway", True), ("outside", False))
    assert [t.name for t in raw.things][:4] == ["chair", "counter", "cupboard", "freezer"] and raw.reply == ()
    assert not raw.invalid and parse_state("No known action matches that input.\n[Location: kitchen. "
                                           "Inventory: an orange]").invalid


def test_parse_thing_reads_nested_listings_doors_and_devices():
    counter = parse_thing("a counter. On the counter is: a bowl (containing a red apple, a banana), a drawer.")
    assert counter.container and [c.name for c in counter.contents] == ["bowl", "drawer"]
    assert [c.name for c in counter.contents[0].contents] == ["red apple", "banana"]
    bed = parse_thing("a bed. On the bed is: a mattress. On the mattress is: a white pillow..")
    assert bed.contents[0].name == "mattress" and bed.contents[0].contents[0].name == "white pillow"
    assert parse_thing("a cupboard. The cupboard door is closed.").closed is True
    oven = parse_thing("a oven, which is turned off. The oven door is closed.")
    assert (oven.name, oven.appliance, oven.device, oven.closed) == ("oven", True, "off", True)
    assert parse_thing("a red light bulb, which is on").device == "on"
    water = parse_thing("a substance called water")
    assert (water.name, water.substance, water.label) == ("water", True, "substance called water")
    toilet = parse_thing("a toilet. In the toilet is: A drain, which is open, a substance called water.")
    assert [(c.name, c.closed) for c in toilet.contents] == [("drain", False), ("water", None)]
    plane = parse_thing("an inclined plane B, with: a steel block approximately 14% down the plane")
    assert plane.name == "inclined plane b" and plane.contents[0].name == "steel block"
    assert parse_thing("a thermometer, currently reading a temperature of 10 degrees celsius") == Thing(
        "a thermometer, currently reading a temperature of 10 degrees celsius", "thermometer")


def test_parse_state_of_a_reply():
    s = parse_state(MOVED)
    assert (s.message, s.location, s.inventory, s.room, s.things) == (
        "You move the metal pot to the stove.", "kitchen", ("an orange",), None, ())
    assert s.reply == ("You move the metal pot to the stove.",)
    outside = parse_state("This outside location is called the outside. Here you see:\nthe agent\nthe ground\n"
                          "[Location: unknown. Inventory: ]")
    assert outside.room == "outside" and outside.things[0].name == "ground" and outside.inventory == ()
    assert parse_state("").location is None


# ---- the action lister ---------------------------------------------------------------------------------------------
def test_actions_of_a_kitchen_look_around():
    acts = SPEC.admissible(SPEC.task_text("boil water"), SPEC.observe(KITCHEN, 4000))
    assert acts == sorted(set(acts)) == actions("", KITCHEN, {})
    for a in ("look around", "inventory", "task", "reset task", "wait", "wait1", "pick up lighter", "open freezer",
              "activate stove", "deactivate freezer", "move metal pot to stove", "put down metal pot",
              "go to hallway", "close door to hallway", "open bathroom door", "open door to bathroom",
              "look in sink", "use thermometer on stove", "use lighter on lighter", "connect agent to kitchen",
              "focus on orange in bowl", "put down orange in inventory", "open drawer in counter",
              "open drawer in cupboard", "pick up cup containing nothing in table", "pour bowl into bowl",
              "eat banana", "close drain", "pick up sewer", "open glass jar"):
        assert a in acts, a
    for a in ("pick up stove", "go to bathroom", "put down lighter", "pick up orange", "look in freezer",
              "move metal pot to metal pot", "activate freezer", "use stove on lighter"):
        assert a not in acts, a


def test_actions_name_electrical_terminals():
    acts = actions("", WORKSHOP, {})
    assert {"focus on anode in battery", "focus on battery cathode", "focus on black wire terminal 1",
            "connect anode in battery to black wire terminal 2", "activate switch", "pick up battery",
            "connect agent to table", "go to door"} <= set(acts)
    assert not {"connect battery to table", "mix anode in battery", "activate green light bulb"} & set(acts)


def test_actions_of_a_reply_use_location_inventory_and_named_things():
    acts = actions("", SPEC.observe(MOVED), {})
    assert {"put down orange", "eat orange", "connect orange to kitchen", "look in kitchen", "pick up metal pot",
            "look in stove", "move orange to metal pot", "look around"} <= set(acts)
    assert not any(a.startswith("go to") for a in acts) and "pick up stove" not in acts
    assert actions("", "No known action matches that input.", {})[:3] == ["connect agent to air",
                                                                         "connect agent to inventory",
                                                                         "connect air to agent"]


def test_actions_approximate_the_real_list_on_real_episodes(sw_transitions):
    recall = precision = gold = alone = 0.0
    n = n_gold = 0
    history: dict[str, list[str]] = {}
    for tr in sw_transitions:
        state, seen = SPEC.observe(tr.state), history.setdefault(tr.episode, [])
        derived = set(SPEC.admissible(SPEC.task_text(tr.instruction), state, {}, seen))
        real = set(tr.listed)
        assert {"look around", "inventory", "wait1"} <= derived & real
        recall += len(derived & real) / len(real)
        precision += len(derived & real) / len(derived)
        alone += len(set(actions("", state, {})) & real) / len(real)
        n += 1
        if tr.policy == "gold":
            gold += tr.expert in derived
            n_gold += 1
        seen.append(state)
    assert n >= 25 and n_gold >= 20
    assert recall / n >= 0.35 and precision / n >= 0.7 and gold / n_gold >= 0.3 and alone < recall


def test_recall_room_brings_back_the_last_look_around():
    look = SPEC.observe(KITCHEN, 4000)
    took = SPEC.observe("You move the lighter to the inventory.\n[Location: kitchen. Inventory: a lighter, a metal pot "
                        "(containing nothing), an orange, a thermometer, currently reading a temperature of 10 degrees "
                        "celsius]")
    now = parse_state(SPEC.observe("The freezer is now open.\n[Location: kitchen. Inventory: a lighter, a metal pot "
                                   "(containing nothing), an orange]"))
    room = recall_room(now, [look, took])
    assert room.room == "kitchen" and room.doors == parse_state(look).doors and room.inventory == now.inventory
    names = [t.name for t in room.things]
    assert "lighter" not in names and names[-1] == "thermometer"  # taken / back in the room
    assert next(t for t in room.things if t.name == "freezer").closed is False
    assert recall_room(now, []) == now and recall_room(parse_state(look), [took]) == parse_state(look)
    elsewhere = parse_state("You move to the hallway.\n[Location: hallway. Inventory: an orange]")
    assert recall_room(elsewhere, [look]) == elsewhere
    opened = recall_room(parse_state("The door is now open.\n[Location: workshop. Inventory: an orange]"),
                         [SPEC.observe(WORKSHOP.replace("(that is open)", "(that is closed)"))])
    assert opened.doors == (("hallway", True),)
    acts = actions("", "The freezer is now open.\n[Location: kitchen. Inventory: an orange]", {}, [look])
    assert {"close freezer", "look in freezer", "activate stove", "go to hallway"} <= set(acts)
    assert "open freezer" not in acts and reply_effect("The sink is now activated.") == ("sink", "on")


_PIECES = sorted({*(line for line in KITCHEN.splitlines()), *(line for line in WORKSHOP.splitlines()), *MOVED.split("\n"),
                  "a bed. On the bed is: a mattress. On the mattress is: a white pillow..", "(containing", ")", ", ",
                  ". On the ", "door to x (open)", "…"})


def test_parser_and_lister_never_raise_on_generated_text():
    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.sampled_from(_PIECES) | st.text(max_size=12), max_size=8), st.integers(24, 600))
    def check(parts, budget):
        text = SPEC.observe("\n".join(parts), budget)
        state = parse_state(text)
        acts = actions("", text, {})
        assert acts == sorted(set(acts)) and "look around" in acts and isinstance(state.message, str)
        assert not any(a.endswith((" ", " on", " to", " into")) or "  " in a for a in acts), acts

    check()
