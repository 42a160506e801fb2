"""BabyAI's abstract state (dreamgym.envs.babyai.observation): the abstraction, its parser, the action lister,
and the package's spec and lightness."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from babyai_util import play, rows
from envutil import check_idempotent_on_generated_text

from dreamgym.envs import get_spec, make_env
from dreamgym.envs.babyai import observation, rules
from dreamgym.envs.babyai.observation import (
    BabyAIState,
    Sighting,
    abstract,
    actions,
    parse_state,
    render,
)
from dreamgym.envs.text import ELLIPSIS, plain_task_context
from dreamgym.errors import DreamGymError

BABYAI_RAW = ("There is a red ball 1, 4 steps in front of you and 3 steps to your right. There is an open grey door 1, "
              "right in front of you 2 steps away. There is a blue key 2, 1 steps to your left. You are facing a wall "
              "6 steps away. There is a wall 2 steps to your left and 1 steps to your right. You are carrying a "
              "yellow box.")
SPEC = get_spec("babyai")
PRIMITIVE = {"action_set": "primitive"}


@pytest.fixture(scope="module")
def babyai_rows():
    pytest.importorskip("minigrid")
    return rows(make_env)


# ---- the spec and the package -------------------------------------------------------------------------------------
def test_spec_fields_are_the_package_functions():
    assert SPEC.name == "babyai" and SPEC.env_class == "dreamgym.envs.babyai.env:BabyAIEnv"
    assert SPEC.abstract is observation.abstract and SPEC.actions is observation.actions
    assert SPEC.task_context is plain_task_context
    assert SPEC.annotate is rules.annotate and SPEC.determined is rules.determined and SPEC.augment is rules.augment
    assert SPEC.config.__name__ == "BabyAIEnvConfig" and SPEC.description


_LIGHT = """
import sys
import dreamgym.envs.babyai
from dreamgym.envs import get_spec
spec = get_spec("babyai")
spec.admissible("", spec.observe("You see no objects. You are not carrying anything."), {})
print(sorted(m for m in sys.modules if m.split(".")[0] in ("minigrid", "gymnasium")))
"""


def test_package_import_is_light():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    res = subprocess.run([sys.executable, "-c", _LIGHT], capture_output=True, text=True, check=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=root))
    assert res.stdout.strip() == "[]"


def test_env_names_are_reexported_lazily():
    pytest.importorskip("minigrid")
    from dreamgym.envs.babyai import DEFAULT_LEVELS, BabyAIEnv, level_id
    from dreamgym.envs.babyai.env import BabyAIEnv as Real

    assert BabyAIEnv is Real and SPEC.resolve_class() is Real and BabyAIEnv.name == "babyai"
    assert level_id(DEFAULT_LEVELS[0]).startswith("BabyAI-")
    with pytest.raises(AttributeError):
        import dreamgym.envs.babyai as pkg

        pkg.NoSuchName  # noqa: B018


# ---- abstraction (copied from tests/experience/test_format.py, against the spec) -----------------------------------
def test_babyai_abstraction_is_a_compact_rewrite():
    assert SPEC.observe(BABYAI_RAW) == ("red ball 1: 4 ahead 3 right; open grey door 1: 2 ahead; blue key "
                                        "2: 1 left; wall: 6 ahead, 2 left, 1 right; carrying yellow box")
    invalid = "You cannot move forward: the way is blocked. You see no objects. You are not carrying anything."
    assert SPEC.observe(invalid) == "You cannot move forward: the way is blocked; no objects; carrying nothing"
    small = SPEC.observe(BABYAI_RAW, 90)  # the farthest (last) objects go first; walls/carrying stay
    assert len(small) <= 90 and small.endswith("carrying yellow box") and ELLIPSIS in small
    assert small.startswith("red ball 1: 4 ahead 3 right")


def test_babyai_task_context_is_the_instruction():
    assert SPEC.task_text("  go to\nthe red ball ") == "go to the red ball"


@pytest.mark.parametrize("budget", [24, 40, 120, 600])
def test_babyai_abstraction_on_real_rows_is_idempotent_and_within_budget(babyai_rows, budget):
    for text in sorted({r.state for r in babyai_rows} | {r.next_state for r in babyai_rows}):
        a = SPEC.observe(text, budget)
        assert a and len(a) <= budget
        assert SPEC.observe(a, budget) == a


def test_babyai_abstraction_idempotent_on_samples():
    for budget in (30, 60, 600):
        a = SPEC.observe(BABYAI_RAW, budget)
        assert 0 < len(a) <= budget and SPEC.observe(a, budget) == a


_FRAGMENTS = sorted(set(re.split(r"(?<=[.!?])\s+", BABYAI_RAW + " You see no objects. The task is completed.")))


def test_babyai_abstraction_is_idempotent_on_generated_text():
    check_idempotent_on_generated_text(SPEC.observe, _FRAGMENTS)


def test_babyai_budget_below_minimum():
    with pytest.raises(DreamGymError, match="below the minimum"):
        SPEC.observe("x", 3)


# ---- the parser --------------------------------------------------------------------------------------------------
def test_parse_state_reads_raw_and_abstract_alike():
    st_ = parse_state(BABYAI_RAW)
    assert st_ == parse_state(SPEC.observe(BABYAI_RAW))
    assert st_.objects == (Sighting("red ball 1", "", 4, 3), Sighting("grey door 1", "open", 2, 0),
                           Sighting("blue key 2", "", 0, -1))
    assert st_.walls == {"ahead": 6, "left": 2, "right": 1} and st_.carrying == "yellow box"
    assert st_.plain and not st_.completed and not st_.messages
    assert st_.at(2, 0).name == "open grey door 1" and st_.at(2, 0).kind == "grey door" and st_.at(1, 0) is None
    # the describer's order: nearest first
    assert render(st_.objects, st_.walls, st_.carrying) == ("blue key 2: 1 left; open grey door 1: 2 ahead; red ball "
                                                            "1: 4 ahead 3 right; wall: 6 ahead, 2 left, 1 right; "
                                                            "carrying yellow box")


def test_render_inverts_the_parser_on_real_states(babyai_rows):
    plain = [SPEC.observe(t, 4000) for r in babyai_rows for t in (r.state, r.next_state)]
    plain = [t for t in plain if parse_state(t).plain]
    assert len(plain) > 100
    for text in plain:
        st_ = parse_state(text)
        assert render(st_.objects, st_.walls, st_.carrying) == text


def test_parse_state_flags_messages_completion_and_cuts():
    bad = parse_state("You cannot move forward: the way is blocked; no objects; carrying nothing")
    assert bad.messages == ("You cannot move forward: the way is blocked",) and not bad.plain and bad.whole
    assert bad.objects == () and bad.carrying == ""
    done = parse_state("red ball 1: 1 ahead; carrying nothing; task completed")
    assert done.completed and not done.plain and not done.messages
    cut = parse_state(SPEC.observe(BABYAI_RAW, 90))
    assert not cut.plain and not cut.whole and not cut.messages and cut.objects[0].label == "red ball 1"
    assert parse_state("red ball 1: somewhere; carrying nothing").messages == ("red ball 1: somewhere",)
    assert parse_state("no objects; wall: far ahead; carrying nothing") == BabyAIState(carrying="", plain=False,
                                                                                      whole=False)
    assert parse_state("no objects").carrying is None


# ---- admissible actions ------------------------------------------------------------------------------------------
def test_primitive_actions_from_the_cell_ahead():
    def acts(text):
        return actions("", text, PRIMITIVE)

    assert acts("no objects; carrying nothing") == ["turn left", "turn right", "move forward"]
    assert acts("no objects; wall: 1 ahead; carrying blue key") == ["turn left", "turn right"]
    assert acts("no objects; wall: 2 ahead; carrying blue key") == ["turn left", "turn right", "move forward", "drop"]
    assert acts("red ball 1: 1 ahead; carrying nothing") == ["turn left", "turn right", "pick up red ball 1"]
    assert acts("red ball 1: 1 ahead; carrying blue key") == ["turn left", "turn right"]
    assert acts("open red door 1: 1 ahead; carrying nothing") == ["turn left", "turn right", "move forward", "toggle"]
    assert acts("locked red door 1: 1 ahead; carrying blue key") == ["turn left", "turn right"]
    assert acts("locked red door 1: 1 ahead; carrying red key") == ["turn left", "turn right", "toggle"]
    assert acts("red ball 1: 2 ahead; carrying nothing; task completed") == []
    # the reason of an invalid action in front of the state changes nothing
    assert acts("You cannot drop: you are not carrying anything; red ball 1: 1 ahead; carrying nothing") == [
        "turn left", "turn right", "pick up red ball 1"]
    # the macro default: no "go to" for the object right ahead, the rest as the primitive set
    assert SPEC.admissible("", "red ball 1: 1 ahead; carrying nothing") == acts("red ball 1: 1 ahead; carrying nothing")


def test_macro_actions_follow_reachability():
    acts = actions("", "red ball 1: 2 ahead 1 right; closed blue door 1: 3 ahead; wall: 3 ahead; carrying nothing",
                   {})
    assert acts == ["turn left", "turn right", "move forward", "go to red ball 1", "pick up red ball 1",
                    "go to blue door 1", "toggle and go through blue door 1"]
    # boxed in: only turns, and the key two steps right (behind the box) cannot be reached
    boxed = "grey box 1: 1 right; red key 1: 2 right; wall: 1 ahead; carrying nothing"
    assert actions("", boxed, {}) == ["turn left", "turn right", "go to grey box 1", "pick up grey box 1"]
    locked = actions("", "locked red door 1: 2 ahead; carrying blue key", {})
    assert "go to red door 1" in locked and not any(a.startswith("toggle and") for a in locked)


def test_primitive_actions_equal_the_real_list_on_real_episodes():
    pytest.importorskip("minigrid")
    n = invalid = 0
    with make_env("babyai", max_steps=24, levels=["PickupLoc", "GoToLocal", "UnlockLocal", "PutNextLocal"],
                  action_set="primitive") as env:
        for tr in play(env, env.list_tasks("val", n=8), ("random", "expert", "blind")):
            assert SPEC.admissible(env.task_text, SPEC.observe(tr.state), PRIMITIVE) == list(tr.listed), tr.state
            n += 1
            invalid += not tr.valid_action
            if tr.info["success"]:
                assert SPEC.admissible(env.task_text, SPEC.observe(tr.next_state), PRIMITIVE) == []
    assert n >= 400 and invalid >= 40


def test_macro_actions_approximate_the_real_list():
    pytest.importorskip("minigrid")
    from dreamgym.envs.babyai.env import DEFAULT_LEVELS

    exact, jaccard, n = 0, 0.0, 0
    with make_env("babyai", max_steps=24, levels=list(DEFAULT_LEVELS)) as env:
        for tr in play(env, env.list_tasks("test", n=24), ("random", "expert", "noisy")):
            derived, real = SPEC.admissible(env.task_text, SPEC.observe(tr.state)), list(tr.listed)
            exact += derived == real
            jaccard += len(set(derived) & set(real)) / len(set(derived) | set(real))
            n += 1
    assert n >= 400 and exact / n >= 0.98 and jaccard / n >= 0.995


def test_abstraction_is_the_package_function():
    assert abstract(BABYAI_RAW, 600) == SPEC.observe(BABYAI_RAW)
