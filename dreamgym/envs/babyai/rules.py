"""BabyAI's rules over abstract states: the rule-based annotator, the context-only simulator of its egocentric
geometry, the context rule and the consistency check built on it, and the colour-permutation augmenter.

    note = annotate(state, "pick up blue key 1", next_state, 0.0, False, True, {"instruction": "open the door"})
    predict(context, state, "turn left")          # the abstract next state the geometry gives, or None
    predict_invalid(state, "move forward")        # an invalid action: the env's message + the unchanged view, or None
    determined(context, state, action, next_state, valid)   # predict / predict_invalid reproduce the real next state
    consistent(context, state, action, predicted_next_state, valid)   # True / False, None: cannot judge
    augment(random.Random(0))(text)               # the six colours permuted consistently

Every function reads states through observation.parse_state (raw or abstract text alike).

The simulator: objects and walls shift / rotate with move forward and the turns, leave the 7x7 view, pick up /
drop / toggle act on the cell ahead. Simplifications: cells the agent never saw are empty and walls are straight
(a side wall keeps its distance when the agent moves along it); no occlusion; a turn never shows what was behind.
Multi-step macro actions (go to, go through, pick up from afar) are not simulated: their path is the planner's.
So an unseen object or wall coming into view, a door in a side wall or an occluded cell makes a transition not
determined. An invalid action is determined where the state decides the env's message (`validity`: everything
but go to / go through and pick up from afar, whose messages depend on the action set and the planner's path).
`consistent` judges a prediction for any transition: it checks only what the context shows (objects seen stay
where the geometry puts them when still in sight, nothing is invented in a cell that was in sight, carrying, door
states), with visibility estimated from the state (`observation.visible` on straight walls). On 3,264 real
transitions (both action sets, expert / noisy / blind policies) it judges every real next state consistent. The
annotator writes hindsight rationales (it knows the real outcome).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dreamgym.envs.babyai.observation import (
    COLORS,
    LABEL,
    PICKABLE,
    VIEW_AHEAD,
    VIEW_SIDE,
    BabyAIState,
    Sighting,
    abstract,
    has_key_for,
    local_map,
    parse_state,
    position,
    render,
    visible,
    wall_cells,
)
from dreamgym.envs.text import READ_BUDGET, finish, info_of, names, outcome, squeeze


# ---- annotators ------------------------------------------------------------------------------------------------
def annotate_hindsight(state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
                       info: Mapping[str, Any] | None = None) -> str:
    """BabyAI's after-the-fact rationale of a real transition (experience.annotator: hindsight): validity (the
    env's reason if invalid), doors that changed state, what is now carried or put down, objects seen / lost, and
    the goal (`info["instruction"]`) reached or not."""
    info = info_of(info)
    s, n = parse_state(state), parse_state(next_state)
    p0 = {o.label: (o.front, o.right) for o in s.objects}
    p1 = {o.label: (o.front, o.right) for o in n.objects}
    d0 = {o.label: o.door for o in s.objects if o.door}
    d1 = {o.label: o.door for o in n.objects if o.door}
    c0, c1 = s.carrying or "", n.carrying or ""
    goal = str(info.get("instruction", "")).strip()
    if not valid_action:
        why = n.messages[0] if n.messages else "the action is not possible here"
        return finish([f"Invalid: {why[:1].lower()}{why[1:]}; nothing changes.", outcome(0.0, done, info, goal)])
    parts = [f"Valid: {squeeze(action).lower()}."]
    changes = [f"{lab} is now {d1[lab]}" for lab in d1 if lab in d0 and d0[lab] != d1[lab]]
    if c1 != c0:
        changes.append(f"now carries {c1}" if c1 else f"puts down {c0}")
    new = [lab for lab in p1 if lab not in p0]
    gone = [lab for lab in p0 if lab not in p1 and not (c1 and lab.startswith(c1 + " "))]
    if new:
        changes.append(f"now sees {names(new)}")
    if gone:
        changes.append(f"loses sight of {names(gone)}")
    if not changes:
        changes.append("objects shift position" if p0 != p1 else "the view is unchanged")
    parts.append(changes[0][:1].upper() + changes[0][1:] + "".join(f"; {c}" for c in changes[1:]) + ".")
    parts.append(outcome(reward, done, info, goal))
    return finish(parts)


# ---- the context-only simulator and the context rule ------------------------------------------------------------
def moved(objects: Sequence[Sighting], walls: Mapping[str, int]) -> tuple[list[Sighting], dict[str, int]]:
    """Objects and walls one step forward: everything comes one step nearer."""
    objs = [Sighting(o.label, o.door, o.front - 1, o.right) for o in objects]
    return objs, ({**walls, "ahead": walls["ahead"] - 1} if "ahead" in walls else dict(walls))


def turned(objects: Sequence[Sighting], walls: Mapping[str, int], sign: int) -> tuple[list[Sighting], dict[str, int]]:
    """Objects and walls after a turn (`sign` 1: right, -1: left). Turning right, what was to the right is now
    ahead and what was ahead is now to the left; a wall ahead stays in sight to the side only within VIEW_SIDE."""
    objs = [Sighting(o.label, o.door, sign * o.right, -sign * o.front) for o in objects]
    side, other = ("right", "left") if sign > 0 else ("left", "right")
    out = {}
    if walls.get(side):
        out["ahead"] = walls[side]
    if walls.get("ahead", 0) and walls["ahead"] <= VIEW_SIDE:
        out[other] = walls["ahead"]
    return objs, out


def toggled(o: Sighting) -> Sighting:
    """A door toggled: closed <-> open, locked -> open (the env lists toggle of a locked door only with its key)."""
    flip = {"closed": "open", "open": "closed", "locked": "open"}
    return Sighting(o.label, flip.get(o.door, o.door), o.front, o.right)


def normalized(action: str) -> str:
    """`action` as the env reads it (env.py's step): lower case, "pickup" -> "pick up", no "the", no final
    period or exclamation mark, single spaces."""
    a = " ".join(str(action).lower().replace("pickup", "pick up").split()).strip(" .!")
    return " ".join(w for w in a.split() if w != "the")


def view_of(state: str) -> BabyAIState | None:
    """The parsed state when it shows the agent's whole view (not cut to a budget, not completed, carrying
    stated), else None. A leading message (an invalid action's reason) is allowed: the view after it is current."""
    st = parse_state(state)
    return None if st.completed or st.carrying is None or not st.whole else st


#: actions on an object in sight, "<verb><label>" (the longest verb first)
_OBJECT_VERBS = ("toggle and go through ", "go through ", "go to ", "pick up ")


def validity(st: BabyAIState, action: str) -> tuple[bool | None, str | None]:
    """Whether `action` is valid in state `st` as far as the state decides, with the env's message when it is not
    (view.py's `why`, else env.py's "'<action>' is not a valid action now."): (True, None) valid in either action
    set, (False, message) invalid in either, (None, None) when the action set or the planner's path decides (go to,
    go through, toggle and go through an object in sight; pick up an object that is not right ahead)."""
    raw = str(action).strip()
    act, ahead, wall = normalized(raw), st.at(1, 0), st.walls.get("ahead") == 1
    if not raw:
        return False, "No action given."
    if act in ("turn left", "turn right"):
        return True, None
    if act == "move forward":
        blocked = wall or (ahead is not None and ahead.door != "open")
        return (False, "You cannot move forward: the way is blocked.") if blocked else (True, None)
    if act == "drop":
        if not st.carrying:
            return False, "You cannot drop: you are not carrying anything."
        full = wall or ahead is not None
        return (False, "You cannot drop here: the cell in front of you is not empty.") if full else (True, None)
    if act == "toggle":
        if ahead is None or ahead.type != "door":
            return False, "There is no door in front of you to toggle."
        if ahead.door == "locked" and not has_key_for(ahead, st.carrying):
            return False, "You cannot toggle the door: it is locked and you do not carry its key."
        return True, None
    verb = next((v for v in _OBJECT_VERBS if act.startswith(v)), "")
    target = next((o for o in st.objects if verb and o.label == act[len(verb):]), None)
    if target is None or (verb == "pick up " and target.type not in PICKABLE):
        return False, f"'{raw[:60]}' is not a valid action now."
    if verb == "pick up " and (target.front, target.right) == (1, 0):
        if st.carrying:
            return False, f"You cannot pick up {target.label}: you are already carrying something."
        return True, None
    return None, None


def _in_view(objects: Sequence[Sighting]) -> list[Sighting]:
    return [o for o in objects
            if 0 <= o.front <= VIEW_AHEAD and abs(o.right) <= VIEW_SIDE and (o.front, o.right) != (0, 0)]


def _geometry(st: BabyAIState, act: str) -> tuple[list[Sighting], dict[str, int], str | None] | None:
    """The seen objects (anywhere, view or not), walls and carrying after the valid one-step action `act` (a
    normalized action), a dropped object left out (its label may be unknown); None for a macro action."""
    objs, walls, carrying = list(st.objects), dict(st.walls), st.carrying
    if act == "move forward":
        objs, walls = moved(objs, walls)
    elif act in ("turn left", "turn right"):
        objs, walls = turned(objs, walls, 1 if act == "turn right" else -1)
    elif act == "toggle":
        objs = [toggled(o) if (o.front, o.right) == (1, 0) else o for o in objs]
    elif act.startswith("pick up ") and st.at(1, 0) is not None and st.at(1, 0).label == act[len("pick up "):]:
        objs, carrying = [o for o in objs if (o.front, o.right) != (1, 0)], st.at(1, 0).kind
    elif act == "drop":
        walls, carrying = {d: v for d, v in walls.items() if d != "ahead"}, ""  # the dropped object blocks the view
    else:
        return None
    return objs, walls, carrying


def predict(context: Sequence[str], state: str, action: str) -> str | None:
    """The abstract next state BabyAI's egocentric geometry gives from the context alone for a valid `action`, or
    None when the action is a multi-step macro (go to / go through / pick up from afar: the path is the planner's),
    the state does not show its whole view (`view_of`), or the context does not say (which of several same-kind
    objects a drop puts down)."""
    st = view_of(state)
    act = normalized(action)
    if st is None or validity(st, act)[0] is False:
        return None
    after = _geometry(st, act)
    if after is None:
        return None
    objs, walls, carrying = after
    if act == "drop":
        labels = {" ".join(t) for t in LABEL.findall(" ".join([*context, state])) if f"{t[0]} {t[1]}" == st.carrying}
        if len(labels) != 1:
            return None  # which of several same-kind objects is carried is not in the context
        objs.append(Sighting(labels.pop(), "", 1, 0))
    return render(_in_view(objs), walls, carrying)


def predict_invalid(state: str, action: str) -> str | None:
    """The abstract next state of an invalid `action`: the env's message (`validity`) before the unchanged view; None
    when the state does not show its whole view or does not decide the message (or says the action is valid)."""
    st = view_of(state)
    if st is None:
        return None
    ok, why = validity(st, action)
    if ok is not False:
        return None
    parts = (p.strip() for p in abstract(str(state), READ_BUDGET).split(";"))
    view = "; ".join(p for p in parts if p not in st.messages)
    return abstract(f"{why} {view}", READ_BUDGET)


def determined(context: Sequence[str], state: str, action: str, next_state: str, valid: bool) -> bool:
    """Whether the context reproduces the real next state exactly: the geometry (`predict`) for a valid action, the
    env's message before the unchanged view (`predict_invalid`) for an invalid one. context: the task block and the
    history window's states; every text abstract (raw works too)."""
    pred = predict(context, state, action) if valid else predict_invalid(state, action)
    real = abstract(str(next_state), READ_BUDGET)
    # success appends "task completed": the task block decides it (and reward/done are scored on their own)
    return pred is not None and pred == real.removesuffix("; task completed")


# ---- consistency of a predicted next state with the context ------------------------------------------------------
def _cells(cells: set[tuple[int, int]], act: str) -> set[tuple[int, int]]:
    """View cells (front, right) before one-step action `act` in the coordinates after it (moved / turned)."""
    pts = [Sighting("", "", f, r) for f, r in cells]
    if act == "move forward":
        pts = moved(pts, {})[0]
    elif act in ("turn left", "turn right"):
        pts = turned(pts, {}, 1 if act == "turn right" else -1)[0]
    return {(o.front, o.right) for o in pts}


def _sight(st: BabyAIState) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """(cells seen, cells taken for walls) of the view in state `st` (observation.local_map: walls straight, unseen
    cells free), a door straight ahead or aside taken as part of a wall across that line (doors sit in walls)."""
    walls = dict(st.walls)
    for o in st.objects:
        if o.door and o.right == 0:
            walls.setdefault("ahead", o.front)
        elif o.door and o.front == 0:
            walls.setdefault("right" if o.right > 0 else "left", abs(o.right))
    full = BabyAIState(st.objects, walls, st.carrying)
    return visible(local_map(full)[1]), wall_cells(full)


def _shows(o: Sighting, seen: set[tuple[int, int]], wall: set[tuple[int, int]]) -> bool:
    """Whether object `o` would be in sight at its place: a seen cell, not one taken for a wall if `o` is a door (the
    walls are straight lines only as far as the state says, and a door sits in a wall)."""
    return (o.front, o.right) in seen and not (o.door and (o.front, o.right) in wall)


def _place(o: Sighting) -> tuple[str, int, int]:
    return o.door, o.front, o.right


def consistent(context: Sequence[str], state: str, action: str, next_state: str, valid: bool) -> bool | None:
    """Whether a predicted `next_state` (with predicted validity `valid`) contradicts nothing the context shows; None
    when the state does not show its whole view (`view_of`), so it cannot be judged.

    Validity must agree with what the state decides (`validity`). An invalid action leaves the view unchanged. A
    valid one-step action: the geometry (`_geometry`) moves the objects seen in the state; each one it keeps in a
    visible cell must be at its place (door state included), carrying must match, a seen object may show nowhere
    else, and an object the prediction adds must sit in a cell not visible before the action (the far row after
    move forward, the side after a turn, behind a door just opened), a dropped one right ahead with the carried
    kind. A macro action (go to / go through / pick up from afar): only what it cannot change, i.e. what is carried
    (the picked-up kind after pick up, which then is out of view) and the states of the doors seen (the door of
    toggle and go through becomes open). A prediction cut to a budget may miss objects.
    """
    st = view_of(state)
    if st is None:
        return None
    act, nx = normalized(action), parse_state(next_state)
    cut = not nx.whole
    sure = validity(st, act)[0]
    if sure is not None and sure != bool(valid):
        return False
    pred = {o.label: o for o in nx.objects}
    if not valid:
        before = {o.label: _place(o) for o in st.objects}
        return (nx.carrying == st.carrying and dict(nx.walls) == dict(st.walls) and (cut or len(pred) == len(before))
                and all(before.get(k) == _place(o) for k, o in pred.items()))
    after = _geometry(st, act)
    if after is None:  # a macro: the agent moves along the planner's path
        verb = next((v for v in _OBJECT_VERBS if act.startswith(v)), "")
        target = act[len(verb):]
        if verb == "pick up ":  # a task completed on the way (reaching the object) ends the macro early
            return (nx.carrying == target.rsplit(" ", 1)[0] and target not in pred) or (
                nx.completed and nx.carrying == st.carrying)
        doors = {o.label: o.door for o in st.objects if o.door}
        if verb == "toggle and go through ":
            doors[target] = "open"
        return nx.carrying == st.carrying and all(o.door == doors[o.label] for o in nx.objects if o.label in doors)
    objs, walls, carrying = after
    if nx.carrying != carrying:
        return False
    where, labels = {o.label: o for o in objs}, {o.label for o in st.objects}
    # the prediction may hide what is behind the walls it shows (walls come into view) and its closed doors
    seen, wall = _sight(BabyAIState(nx.objects, {**walls, **nx.walls}, carrying))
    if not cut and any(o.label not in pred and _shows(o, seen, wall) for o in _in_view(objs)):
        return False  # a seen object the geometry keeps in sight is missing
    seen, wall = (_cells(c, act) for c in _sight(st))  # in sight before the action, in the coordinates after it
    for lab, p in pred.items():
        if lab in where:
            if _place(p) != _place(where[lab]):
                return False  # a seen object elsewhere than the geometry puts it
        elif lab in labels or (_shows(p, seen, wall) and not (act == "drop" and (p.front, p.right) == (1, 0))):
            return False  # a seen object that left the view, or one invented in a cell that was in sight
    if act == "drop" and not any((p.front, p.right) == (1, 0) and p.kind == st.carrying for p in pred.values()):
        return False  # the carried object is not put down right ahead
    return True


_GOAL = re.compile(r"pick up (?:the|a) (?:(" + "|".join(COLORS) + r") )?(ball|box|key)(?: (.+))?")
#: the word cap of computing rationales (a move in a crowded room writes ~100 words)
COMPUTE_WORDS = 140


def _goal_line(goal: str, carried: str) -> str:
    """Whether a pick-up that leaves `carried` ("red ball") in the hands meets the goal, from the instruction."""
    m = _GOAL.fullmatch(goal.strip().rstrip("."))
    if not (carried and m):
        return "goal not met: reward 0."
    color, kind, where = m.groups()
    if carried.split()[-1] != kind or (color and carried.split()[0] != color):
        return f"{carried} is not the goal's {' '.join(x for x in (color, kind) if x)}: reward 0."
    if where:
        return f"{carried} matches the goal's kind; its place ({where}) decides: reward 1, done."
    return f"{carried} matches the goal: reward 1, done."


def annotate(state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
             info: Mapping[str, Any] | None = None) -> str:
    """BabyAI's computing rationale: the egocentric geometry applied to the state alone, step by step. Whether
    the action is possible (`validity`, with the env's message when not); for a move or a turn, every seen object
    in the state's order with its move ("purple key 1: 2 ahead -> 1 ahead", "-> gone" when it leaves the view: the
    trace walks the state line by line, a copy a small model can make), the walls, and that cells coming into view
    are unknown; for pick up / drop / toggle what changes in front; then whether
    the goal (`info["instruction"]`) is met. Only what the context determines is written: where the state cannot
    tell (a macro action's path, a view cut to a budget), the trace says the game decides. Where the rule's verdict
    and the real validity disagree (a view the abstract state renders ambiguously), validity is left to the game."""
    info = info_of(info)
    st = view_of(state)
    act = normalized(action)
    goal = str(info.get("instruction", "")).strip()
    if st is None:
        return finish(["the view is not whole: the game decides.", "" if reward else "reward 0."], COMPUTE_WORDS)
    valid, message = validity(st, act)
    if valid is False and not valid_action:
        return finish([f"invalid: {message[:1].lower()}{message[1:]} Nothing changes, reward 0."], COMPUTE_WORDS)
    after = _geometry(st, act) if valid else None
    if after is None or not valid_action:
        why = "the planner's path decides." if valid is None else "the game decides whether it is possible."
        return finish([why, "" if reward else "goal not met: reward 0."], COMPUTE_WORDS)
    objs, walls, carrying = after
    notes = ["valid."]
    if act in ("move forward", "turn left", "turn right"):
        notes.append("everything comes 1 nearer." if act == "move forward" else f"the view turns {act.split()[1]}.")
        inside = {o.label for o in _in_view(objs)}
        moves = [f"{o.name}: {position(b.front, b.right)} -> {position(o.front, o.right) if o.label in inside else 'gone'}"
                 for b, o in zip(st.objects, objs, strict=True)]  # the state's order: each line copies the next
        ws = [f"{walls[d]} {d}" for d in ("ahead", "left", "right") if walls.get(d)]
        notes += ["; ".join(moves) + "." if moves else "", f"wall: {', '.join(ws)}." if ws else "no wall known.",
                  "cells coming into view: unknown."]
    elif act == "toggle":
        door = st.at(1, 0)
        notes.append(f"{door.name} becomes {toggled(door).door}; the rest stays.")
    elif act == "drop":
        notes.append(f"{st.carrying} is put 1 ahead; the rest stays.")
    else:
        notes.append(f"now carrying {carrying}; the rest stays; what it hid comes into view: unknown.")
    notes.append(_goal_line(goal, carrying) if act.startswith("pick up ") else "goal not met: reward 0.")
    return finish(notes, COMPUTE_WORDS)


annotators = {"hindsight": annotate_hindsight}


# ---- augmentation ----------------------------------------------------------------------------------------------
_COLOR = re.compile(r"\b(" + "|".join(COLORS) + r")\b")


def augment(rng: random.Random) -> Callable[[str], str]:
    """A random permutation of BabyAI's six colours, as a text -> text function. BabyAI's dynamics do not depend
    on colour names (a key opens the door of its own colour, a task names the colour it wants), so a consistent
    renaming of an example is another valid transition."""
    perm = list(COLORS)
    rng.shuffle(perm)
    mapping = dict(zip(COLORS, perm, strict=True))
    return lambda text: _COLOR.sub(lambda m: mapping[m.group(1)], text)
