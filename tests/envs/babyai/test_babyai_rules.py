"""BabyAI's rules (dreamgym.envs.babyai.rules): the annotator, the context simulator and rule, the recolouring."""

from __future__ import annotations

import random
import re

import pytest
from babyai_util import rows

from dreamgym.envs import get_spec, make_env
from dreamgym.envs.babyai.observation import COLORS
from dreamgym.envs.babyai.rules import consistent, normalized, predict, predict_invalid, validity, view_of
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


# ---- hindsight annotator ---------------------------------------------------------------------------------------
def _check_rationale(tr):
    note = SPEC.annotators["hindsight"](tr.state, tr.action, tr.next_state, tr.reward, tr.done, tr.valid_action,
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
    ann = SPEC.annotators["hindsight"]
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
    assert predict([], "no objects; …; carrying nothing", "turn left") is None  # cut to a budget: not the whole view
    assert predict([], "red ball 1: 2 ahead; carrying nothing; task completed", "turn left") is None
    # after an invalid action the view follows the env's message unchanged: the geometry applies to it
    assert predict([], "You cannot drop; red ball 1: 2 ahead; carrying nothing", "turn left") == (
        "red ball 1: 2 right; carrying nothing")
    assert predict([], "no objects; carrying red key", "pick up red key 1") is None
    assert predict([], "locked red door 1: 1 ahead; carrying red key", "toggle") == (
        "open red door 1: 1 ahead; carrying red key")
    # a turn keeps a wall ahead only within the side view; objects behind leave the view
    assert predict([], "grey box 1: 1 left; wall: 5 ahead; carrying nothing", "turn right") == (
        "no objects; carrying nothing")
    assert not SPEC.determined([], "no objects; carrying nothing", "turn left", "no objects; carrying nothing", False)


@pytest.fixture(scope="module")
def primitive_rows():
    pytest.importorskip("minigrid")
    return rows(make_env, n_tasks=8, action_set="primitive",
                levels=["PickupLoc", "GoToLocal", "UnlockLocal", "PutNextLocal"])


@pytest.mark.parametrize("which", ["babyai_rows", "primitive_rows"])
def test_babyai_rule_on_real_rows(which, request):
    """Determined transitions of every class exist: invalid actions wherever the state decides the env's message
    (all but go to / pick up from afar, whose message depends on the action set), and successes the geometry
    reproduces."""
    trs = request.getfixturevalue(which)
    obs = [(SPEC.observe(r.state, 4000), SPEC.observe(r.next_state, 4000)) for r in trs]
    flags = [SPEC.determined(_context(trs, i), s, r.action, n, r.valid_action)
             for i, (r, (s, n)) in enumerate(zip(trs, obs, strict=True))]
    assert 0.15 < sum(flags) / len(flags) < 1.0
    invalid = [(f, r, s) for f, r, (s, _) in zip(flags, trs, obs, strict=True) if not r.valid_action]
    assert len(invalid) > 20 and sum(f for f, _, _ in invalid) > 0.9 * len(invalid)
    for f, r, s in invalid:  # determined exactly where the state decides the message
        assert f == (validity(view_of(s), r.action)[0] is False), (r.action, s, r.next_state)
    if which == "primitive_rows":
        assert any(f for f, r in zip(flags, trs, strict=True) if r.reward > 0)  # e.g. the toggle that opens the door


def test_babyai_invalid_actions_are_determined_from_the_state():
    wall = "no objects; wall: 1 ahead; carrying nothing"
    assert predict_invalid(wall, "move forward") == ("You cannot move forward: the way is blocked; no objects; "
                                                     "wall: 1 ahead; carrying nothing")
    raw = ("You cannot move forward: the way is blocked. You see no objects. You are facing a wall 1 steps away. "
           "You are not carrying anything.")  # what the env replies
    assert SPEC.determined([], wall, "Move forward.", raw, False)
    assert not SPEC.determined([], wall, "move forward", raw, True)  # a valid move would change the view
    again = "There is no door in front of you to toggle; red ball 1: 2 ahead; carrying nothing"  # the last reason goes
    assert predict_invalid(again, "drop") == ("You cannot drop: you are not carrying anything; red ball 1: 2 ahead; "
                                              "carrying nothing")
    assert predict_invalid(again, "fly to the moon").startswith("'fly to the moon' is not a valid action now; red")
    assert predict_invalid(again, "go to red ball 9").startswith("'go to red ball 9' is not a valid action now")
    assert predict_invalid(again, "").startswith("No action given; red ball 1")
    held = "blue key 1: 1 ahead; carrying red ball"
    assert predict_invalid(held, "pick up blue key 1") == ("You cannot pick up blue key 1: you are already carrying "
                                                           "something; blue key 1: 1 ahead; carrying red ball")
    assert predict_invalid(held, "drop").startswith("You cannot drop here: the cell in front of you is not empty")
    assert predict_invalid("locked red door 1: 1 ahead; carrying nothing", "toggle").startswith(
        "You cannot toggle the door: it is locked and you do not carry its key")
    # not decided by the state: the action set or the planner's path gives the message; or the action is valid
    assert predict_invalid(again, "go to red ball 1") is None and predict_invalid(again, "pick up red ball 1") is None
    assert predict_invalid(again, "turn left") is None and predict_invalid(held, "toggle") is not None
    assert normalized("Pickup the Blue key 1!") == "pick up blue key 1"


# ---- consistency of a prediction with the context -----------------------------------------------------------------
def test_babyai_consistency_on_constructed_cases():
    def ok(state, action, pred, valid=True):
        return consistent([], state, action, pred, valid)

    s = "blue key 1: 2 ahead 1 left; red ball 1: 3 ahead; carrying nothing"
    right = "blue key 1: 1 ahead 1 left; red ball 1: 2 ahead; carrying nothing"
    assert ok(s, "move forward", right) is True and predict([], s, "move forward") == right
    # moved wrongly: a seen object not where the geometry puts it, or missing though still in sight
    assert ok(s, "move forward", "red ball 1: 3 ahead; blue key 1: 1 ahead 1 left; carrying nothing") is False
    assert ok(s, "move forward", "red ball 1: 2 ahead; carrying nothing") is False
    # an object invented in a cell that was in sight before, or one in the row that comes into view
    assert ok(s, "move forward", "red ball 1: 2 ahead; blue key 1: 1 ahead 1 left; green box 1: 1 ahead 1 right; "
                                 "carrying nothing") is False
    assert ok(s, "move forward", "red ball 1: 2 ahead; blue key 1: 1 ahead 1 left; green box 1: 6 ahead 2 right; "
                                 "carrying nothing") is True
    # a turn: what was behind comes into view at the side
    t = "red ball 1: 2 ahead; carrying nothing"
    assert ok(t, "turn right", "red ball 1: 2 left; green key 1: 2 ahead 1 right; carrying nothing") is True
    assert ok(t, "turn right", "red ball 1: 2 left; green key 1: 1 ahead 1 left; carrying nothing") is False
    assert ok(t, "turn right", "red ball 1: 2 ahead; carrying nothing") is False
    # behind a door just opened (cells it hid), not in front of it
    d = "closed red door 1: 1 ahead; wall: 1 left, 1 right; carrying nothing"
    opened = "open red door 1: 1 ahead; grey key 1: 3 ahead; wall: 1 left, 1 right; carrying nothing"
    assert ok(d, "toggle", opened) is True
    assert ok(d, "toggle", "closed red door 1: 1 ahead; wall: 1 left, 1 right; carrying nothing") is False
    # carrying must match; a drop puts the carried kind right ahead
    assert ok("blue key 1: 1 ahead; carrying nothing", "pick up blue key 1", "no objects; carrying blue key") is True
    assert ok("blue key 1: 1 ahead; carrying nothing", "pick up blue key 1", "no objects; carrying red key") is False
    assert ok("no objects; carrying blue key", "drop", "blue key 2: 1 ahead; carrying nothing") is True
    assert ok("no objects; carrying blue key", "drop", "red ball 1: 1 ahead; carrying nothing") is False
    # validity: what the state decides; an invalid action leaves the view unchanged
    w = "red ball 1: 2 right; wall: 1 ahead; carrying nothing"
    assert ok(w, "move forward", "You cannot move forward: the way is blocked; " + w, valid=False) is True
    assert ok(w, "move forward", "red ball 1: 2 right; carrying nothing", valid=False) is False
    assert ok(w, "move forward", "no objects; wall: 0 ahead; carrying nothing") is False  # a wall is no way
    assert ok(t, "turn left", "You cannot turn; " + t, valid=False) is False  # a turn is always valid
    # a macro: only what it cannot change (carrying, door states)
    m = "red ball 1: 3 ahead 2 left; closed red door 1: 4 ahead; carrying blue key"
    there = "red ball 1: 1 ahead; closed red door 1: 2 ahead 2 right; carrying blue key"
    assert ok(m, "go to red ball 1", there) is True
    assert ok(m, "go to red ball 1", "red ball 1: 1 ahead; carrying nothing") is False
    assert ok(m, "go to red ball 1", there.replace("closed", "open")) is False
    assert ok(m, "toggle and go through red door 1", "no objects; carrying blue key") is True
    # cannot judge a state that does not show its whole view
    assert ok("red ball 1: 3 ahead; …; carrying nothing", "turn left", "no objects; carrying nothing") is None


@pytest.mark.parametrize("which", ["babyai_rows", "primitive_rows"])
def test_babyai_consistency_accepts_every_real_next_state(which, request):
    """The rule never contradicts the env: every real next state is judged consistent (or not judged)."""
    trs = request.getfixturevalue(which)
    judged = [consistent(_context(trs, i), SPEC.observe(r.state, 600), r.action, SPEC.observe(r.next_state, 600),
                         r.valid_action) for i, r in enumerate(trs)]
    assert False not in judged and judged.count(True) > 0.9 * len(judged)
    shifted = [consistent(_context(trs, i), SPEC.observe(r.state, 600), r.action,
                          SPEC.observe(trs[(i + 1) % len(trs)].next_state, 600), r.valid_action)
               for i, r in enumerate(trs) if r.next_state != trs[(i + 1) % len(trs)].next_state]
    assert shifted.count(False) > 0.5 * len(shifted)  # the next step's state is mostly a contradiction


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


# ---- computing annotator ---------------------------------------------------------------------------------------
_MOVE = re.compile(r"((?:(?:open|closed|locked) )?\w+ \w+ \d+): ([\w ]+?) -> (?!gone)([\w ]+?)(?=[.;])")


def test_computing_rationale_moves_each_object():
    ann = SPEC.annotate
    s = "red ball 1: 4 ahead 3 right; grey key 1: 2 ahead; wall: 6 ahead, 2 left; carrying nothing"
    fwd = ann(s, "move forward", "", 0.0, False, True, {"instruction": "pick up the grey key"})
    assert fwd == ("valid. everything comes 1 nearer. red ball 1: 4 ahead 3 right -> 3 ahead 3 right; grey key 1: "
                   "2 ahead -> 1 ahead. wall: 5 ahead, 2 left. cells coming into view: unknown. goal not met: reward 0.")
    turn = ann(s, "turn left", "", 0.0, False, True, {"instruction": "pick up the grey key"})
    assert "red ball 1: 4 ahead 3 right -> gone; grey key 1: 2 ahead -> 2 right." in turn
    near = "grey key 1: 1 ahead; wall: 6 ahead; carrying nothing"
    assert ann(near, "pick up grey key 1", "", 1.0, True, True, {"instruction": "pick up the grey key"}).endswith(
        "now carrying grey key; the rest stays; what it hid comes into view: unknown. grey key matches the goal: "
        "reward 1, done.")
    assert ann(near, "pick up grey key 1", "", 0.0, False, True, {"instruction": "pick up a ball"}).endswith(
        "grey key is not the goal's ball: reward 0.")
    assert "its place (on your left) decides" in ann(near, "pick up grey key 1", "", 1.0, True, True,
                                                     {"instruction": "pick up the key on your left"})
    blocked = ann(near, "move forward", "", 0.0, False, False, {"instruction": "pick up a ball"})
    assert blocked == "invalid: you cannot move forward: the way is blocked. Nothing changes, reward 0."
    # the trace reads only the context: the real next state does not change it
    assert ann(s, "move forward", "anything", 0.0, False, True, {"instruction": "pick up the grey key"}) == fwd


def test_computing_rationale_agrees_with_real_transitions():
    """On real primitive-action transitions the context determines, every object move the trace writes lands where
    the real next state has it, and the trace's validity and reward are the env's."""
    pytest.importorskip("minigrid")
    trs = rows(make_env, levels=["PickupLoc"], action_set="primitive")
    moves = checked = 0
    for i, tr in enumerate(trs):
        state, nxt = SPEC.observe(tr.state, 4000), SPEC.observe(tr.next_state, 4000)
        note = SPEC.annotate(state, tr.action, nxt, tr.reward, tr.done, tr.valid_action, {"instruction": tr.instruction})
        assert note == finish([note], 140) and not has_tag(note) and not note.endswith("…"), note
        if not SPEC.determined(_context(trs, i), state, tr.action, nxt, tr.valid_action):
            continue
        checked += 1
        for name, _before, after in _MOVE.findall(note):
            moves += 1
            assert f"{name}: {after}" in [p.strip() for p in nxt.split(";")], (note, nxt)
        assert note.startswith("valid." if tr.valid_action else "invalid:"), note
        assert ("reward 1" in note) == (tr.reward > 0), note
    assert checked > len(trs) / 4 and moves > checked / 2
