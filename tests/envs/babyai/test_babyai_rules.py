"""BabyAI's rules (dreamgym.envs.babyai.rules): the annotator, the context simulator and rule, the recolouring."""

from __future__ import annotations

import random
import re

import pytest
from babyai_util import rows

from dreamgym.envs import get_spec, make_env
from dreamgym.envs.babyai.observation import COLORS
from dreamgym.envs.babyai.rules import predict
from dreamgym.envs.text import MAX_WORDS, finish
from dreamgym.experience.format import format_target, has_tag, parse_target

SPEC = get_spec("babyai")
COLOR_RE = re.compile(r"\b(red|green|blue|purple|yellow|grey)\b")


@pytest.fixture(scope="module")
def babyai_rows():
    pytest.importorskip("minigrid")
    return rows(make_env)


def _context(trs, i):
    """The task block and the two previous states of transition i's episode, abstract."""
    tr = trs[i]
    hist = [t.state for t in trs[max(0, i - 2):i] if t.episode == tr.episode]
    return [SPEC.task_text(tr.instruction)] + [SPEC.observe(h, 4000) for h in hist]


# ---- annotator (copied from tests/experience/test_annotators.py, against the spec) --------------------------------
def _check_rationale(tr):
    note = SPEC.annotate(tr.state, tr.action, tr.next_state, tr.reward, tr.done, tr.valid_action,
                         {"instruction": tr.instruction})
    assert note == finish([note]) and not has_tag(note)
    assert 3 <= len(note.split()) <= MAX_WORDS + 1
    assert note.startswith("Valid" if tr.valid_action else "Invalid:"), note
    if not note.endswith("…"):  # a rationale cut at MAX_WORDS (many objects seen / lost at once) loses its outcome
        assert f"reward {1 if tr.reward > 0 else 0}" in note, note
        assert "reached" in note or not tr.reward > 0
    assert parse_target(format_target(note, tr.valid_action, "s", tr.reward, tr.done)).reasoning == note
    return note


def test_babyai_rule_annotator_on_real_rows(babyai_rows):
    assert any(not r.valid_action for r in babyai_rows) and any(r.reward > 0 for r in babyai_rows)
    notes = [_check_rationale(r) for r in babyai_rows]
    assert notes == [_check_rationale(r) for r in babyai_rows]  # deterministic
    assert babyai_rows[0].instruction in notes[0]


def test_babyai_rationale_names_the_change():
    ann = SPEC.annotate
    s = "There is a blue key 1, right in front of you 1 steps away. You are not carrying anything."
    n = "You see no objects. You are carrying a blue key."
    note = ann(s, "pick up blue key 1", n, 0.0, False, True, {"instruction": "go to the red ball"})
    assert note == ("Valid: pick up blue key 1. Now carries blue key. Goal (go to the red ball) not reached yet: "
                    "reward 0.")
    turn = ann("You see no objects. You are not carrying anything.", "turn left",
               "There is a red ball 1, 2 steps to your left. You are not carrying anything.", 0.0, False, True)
    assert "now sees red ball 1" in turn.lower()
    bad = ann(s, "move forward", "You cannot move forward: the way is blocked. " + s, 0.0, False, False)
    assert bad.startswith("Invalid: you cannot move forward: the way is blocked; nothing changes.")
    win = ann(s, "go to blue key 1", s + " The task is completed.", 1.0, True, True,
              {"instruction": "go to the blue key"})
    assert win.endswith("Goal (go to the blue key) reached: reward 1, done.")
    door = ann("closed red door 1: 1 ahead; carrying red key", "toggle", "open red door 1: 1 ahead; carrying red key",
               0.0, False, True)
    assert door.startswith("Valid: toggle. Red door 1 is now open.")
    assert ann(n, "drop", s, 0.0, False, True).startswith("Valid: drop. Puts down blue key; now sees blue key 1.")
    assert ann(s, "turn left", s, 0.0, False, True).startswith("Valid: turn left. The view is unchanged.")


# ---- the context rule (copied from tests/experience/test_examples.py, against the spec) ---------------------------
def test_babyai_rule():
    det = SPEC.determined
    s = "red ball 1: 3 ahead; wall: 4 ahead; carrying nothing"
    assert det([], s, "move forward", "red ball 1: 2 ahead; wall: 3 ahead; carrying nothing", True)
    # the side wall vanished (a door in it?) / an unseen key came into view: not in the context
    assert not det([], s, "move forward", "red ball 1: 2 ahead; carrying nothing", True)
    assert not det([], s, "turn left", "grey key 2: 1 ahead; carrying nothing", True)
    turn = "red ball 1: 1 ahead 2 right; wall: 2 ahead, 3 right; carrying nothing"
    assert predict([], turn, "turn right") == "red ball 1: 2 ahead 1 left; wall: 3 ahead, 2 left; carrying nothing"
    assert det([], turn, "turn right", "red ball 1: 2 ahead 1 left; wall: 3 ahead, 2 left; carrying nothing", True)
    assert predict([], turn, "go to red ball 1") is None  # a macro: the planner's path
    assert det([], "blue key 1: 1 ahead; carrying nothing", "pick up blue key 1", "no objects; carrying blue key", True)
    drop_from = "no objects; wall: 2 ahead; carrying blue key"
    assert not det([], drop_from, "drop", "blue key 1: 1 ahead; carrying nothing", True)
    assert det(["blue key 1: 1 ahead; carrying nothing"], drop_from, "drop",
               "blue key 1: 1 ahead; carrying nothing", True)  # its label is in the history
    assert det([], "closed red door 1: 1 ahead; carrying nothing", "toggle",
               "open red door 1: 1 ahead; carrying nothing; task completed", True)
    assert not det([], s, "pick up red ball 1", "no objects; carrying green box", True)
    raw = "There is a red ball 1, 1 steps in front of you and 1 steps to your left. You are not carrying anything."
    assert det([], raw, "turn left", "There is a red ball 1, 1 steps in front of you and "
               "1 steps to your right. You are not carrying anything.", True)  # raw texts work too


def test_babyai_predict_refuses_what_the_context_does_not_show():
    assert predict([], "red ball 1: 1 ahead; carrying nothing", "move forward") is None  # blocked
    assert predict([], "You cannot drop; no objects; carrying nothing", "turn left") is None  # not the view's
    assert predict([], "no objects; carrying red key", "pick up red key 1") is None
    assert predict([], "locked red door 1: 1 ahead; carrying red key", "toggle") == (
        "open red door 1: 1 ahead; carrying red key")
    # a turn keeps a wall ahead only within the side view; objects behind leave the view
    assert predict([], "grey box 1: 1 left; wall: 5 ahead; carrying nothing", "turn right") == (
        "no objects; carrying nothing")
    assert not SPEC.determined([], "no objects; carrying nothing", "turn left", "no objects; carrying nothing", False)


def test_babyai_rule_on_real_rows(babyai_rows):
    """Determined transitions exist; the simulator never claims a valid transition that changes nothing it sees."""
    flags = [SPEC.determined(_context(babyai_rows, i), SPEC.observe(r.state, 4000), r.action,
                             SPEC.observe(r.next_state, 4000), r.valid_action) for i, r in enumerate(babyai_rows)]
    assert 0.15 < sum(flags) / len(flags) < 1.0
    assert not any(f for f, r in zip(flags, babyai_rows, strict=True) if not r.valid_action)


# ---- recolouring (copied from tests/experience/test_augment.py, against the package) -----------------------------
def test_babyai_recolouring_is_consistent(babyai_rows):
    changed = 0
    for i, tr in enumerate(babyai_rows):
        rc = SPEC.augment(random.Random(i))
        texts = [tr.instruction, tr.state, tr.action, tr.next_state]
        new = [rc(t) for t in texts]
        orig_all, new_all = " ".join(texts), " ".join(new)
        pairs = set(zip(COLOR_RE.findall(orig_all), COLOR_RE.findall(new_all), strict=True))
        assert len({a for a, _ in pairs}) == len(pairs) == len({b for _, b in pairs})  # one bijective renaming
        assert COLOR_RE.sub("C", orig_all) == COLOR_RE.sub("C", new_all)
        changed += orig_all != new_all
        # a symmetry of the dynamics: the rules commute with the renaming
        ctx, ctx_new = _context(babyai_rows, i), [rc(t) for t in _context(babyai_rows, i)]
        assert SPEC.determined(ctx_new, rc(SPEC.observe(tr.state, 4000)), rc(tr.action),
                               rc(SPEC.observe(tr.next_state, 4000)), tr.valid_action) == SPEC.determined(
            ctx, SPEC.observe(tr.state, 4000), tr.action, SPEC.observe(tr.next_state, 4000), tr.valid_action)
        info = {"instruction": tr.instruction}
        assert SPEC.annotate(*new[1:], tr.reward, tr.done, tr.valid_action, {"instruction": new[0]}) == rc(
            SPEC.annotate(tr.state, tr.action, tr.next_state, tr.reward, tr.done, tr.valid_action, info))
        assert SPEC.admissible("", new[1]) == [rc(a) for a in SPEC.admissible("", tr.state)]
    assert changed > len(babyai_rows) / 2  # most rows name a colour, and a random permutation moves most


def test_colour_list_matches_minigrid():
    constants = pytest.importorskip("minigrid.core.constants")
    assert sorted(COLORS) == sorted(constants.COLOR_NAMES)
