"""BabyAI's rules over abstract states: the rule-based annotator, the context-only simulator of its egocentric
geometry and the context rule built on it, and the colour-permutation augmenter.

    note = annotate(state, "pick up blue key 1", next_state, 0.0, False, True, {"instruction": "open the door"})
    predict(context, state, "turn left")          # the abstract next state the geometry gives, or None
    determined(context, state, action, next_state, valid)   # predict(...) reproduces the real next state
    augment(random.Random(0))(text)               # the six colours permuted consistently

Every function reads states through observation.parse_state (raw or abstract text alike).

The simulator: objects and walls shift / rotate with move forward and the turns, leave the 7x7 view, pick up /
drop / toggle act on the cell ahead. Simplifications: cells the agent never saw are empty and walls are straight
(a side wall keeps its distance when the agent moves along it); no occlusion; a turn never shows what was behind.
Multi-step macro actions (go to, go through, pick up from afar) are not simulated: their path is the planner's.
So an unseen object or wall coming into view, a door in a side wall or an occluded cell makes a transition not
determined. The annotator writes hindsight rationales (it knows the real outcome).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dreamgym.envs.babyai.observation import (
    COLORS,
    LABEL,
    VIEW_AHEAD,
    VIEW_SIDE,
    Sighting,
    abstract,
    parse_state,
    render,
)
from dreamgym.envs.text import READ_BUDGET, finish, info_of, names, outcome, squeeze


# ---- annotator -------------------------------------------------------------------------------------------------
def annotate(state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
             info: Mapping[str, Any] | None = None) -> str:
    """BabyAI's rationale of a real transition: validity (the env's reason if invalid), doors that changed state,
    what is now carried or put down, objects seen / lost, and the goal (`info["instruction"]`) reached or not."""
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


def predict(context: Sequence[str], state: str, action: str) -> str | None:
    """The abstract next state BabyAI's egocentric geometry gives from the context alone, or None when the action
    is a multi-step macro (go to / go through / pick up from afar: the path is the planner's), a part of the state
    is not the view's, or the context does not say (which of several same-kind objects a drop puts down)."""
    st = parse_state(state)
    if not st.plain:
        return None
    objs, walls, carrying = list(st.objects), dict(st.walls), st.carrying
    act = squeeze(action).lower()
    if act == "move forward":
        if walls.get("ahead") == 1 or st.at(1, 0) is not None:
            return None  # blocked: the env would not list it as valid
        objs, walls = moved(objs, walls)
    elif act in ("turn left", "turn right"):
        objs, walls = turned(objs, walls, 1 if act == "turn right" else -1)
    elif act == "toggle":
        objs = [toggled(o) if (o.front, o.right) == (1, 0) else o for o in objs]
    elif act.startswith("pick up "):
        target = st.at(1, 0)
        if target is None or target.name != act[len("pick up "):] or carrying != "":
            return None
        objs = [o for o in objs if o is not target]
        carrying = target.kind
    elif act == "drop":
        labels = {" ".join(t) for t in LABEL.findall(" ".join([*context, state])) if f"{t[0]} {t[1]}" == carrying}
        if not carrying or len(labels) != 1 or st.at(1, 0) is not None:
            return None  # which of several same-kind objects is carried is not in the context
        objs.append(Sighting(labels.pop(), "", 1, 0))
        walls = {d: v for d, v in walls.items() if d != "ahead"}  # the dropped object blocks the view ahead
        carrying = ""
    else:
        return None
    in_view = [o for o in objs if 0 <= o.front <= VIEW_AHEAD and abs(o.right) <= VIEW_SIDE]
    objs = [o for o in in_view if (o.front, o.right) != (0, 0)]
    return render(objs, walls, carrying)


def determined(context: Sequence[str], state: str, action: str, next_state: str, valid: bool) -> bool:
    """Whether BabyAI's geometry applied to the context (`predict`) reproduces the real next state exactly.
    context: the task block and the history window's states; every text abstract (raw works too)."""
    if not valid:
        return False
    pred = predict(context, state, action)
    real = abstract(str(next_state), READ_BUDGET)
    # success appends "task completed": the task block decides it (and reward/done are scored on their own)
    return pred is not None and pred == real.removesuffix("; task completed")


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
