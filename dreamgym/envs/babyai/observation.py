"""BabyAI's abstract state: the compact rewrite of the describer, its one parser, and the admissible actions it
implies.

    text = abstract(raw_observation, 600)              # "red ball 1: 4 ahead 3 right; wall: 6 ahead; carrying nothing"
    st = parse_state(text)                             # BabyAIState(objects=(Sighting('red ball 1', '', 4, 3),), ...)
    actions("", text, {"action_set": "primitive"})     # ["turn left", "turn right", "move forward"]

The abstraction is a lossless rewrite of the describer's sentences (dreamgym/envs/babyai/view.py): "There is a
red ball 1, 4 steps in front of you and 3 steps to your right." -> "red ball 1: 4 ahead 3 right"; over budget the
farthest objects (listed last) are dropped first. It is idempotent, so `parse_state` reads raw and abstract text
alike, and everything in this package that reads a state (the annotator, the context rule, the action lister)
reads it through `parse_state`. BabyAI has no task context beyond its instruction (the spec uses plain_task_context).

Simplifications: the action lister sees only the abstract state. For the primitive action set it is exact (the
cell ahead decides every action); for the macro set it searches paths on a view rebuilt from the state (walls
straight, cells it does not describe free), where the env plans through the cells really visible.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dreamgym.envs.text import ELLIPSIS, READ_BUDGET, fit_parts, squeeze

#: BabyAI's six colour names (minigrid.core.constants.COLOR_NAMES, kept here: no env import in this module)
COLORS = ("red", "green", "blue", "purple", "yellow", "grey")
#: object types the agent can pick up (minigrid's can_pickup); doors are the other objects of BabyAI levels
PICKABLE = ("ball", "box", "key")
#: the agent sees 6 cells ahead and 3 to each side (minigrid's 7x7 view)
VIEW_AHEAD, VIEW_SIDE = 6, 3

# ---- abstraction: describer sentences -> abstract parts ---------------------------------------------------------
_SPLIT = re.compile(r"(?<=\.)\s+|;\s*")
_OBJ = re.compile(r"There is an? ((?:open |closed |locked )?\w+ \w+ \d+), (.+)\.")
_AHEAD = re.compile(r"right in front of you (\d+) steps away")
_SIDE = re.compile(r"(\d+) steps to your (left|right)")
_BOTH = re.compile(r"(\d+) steps in front of you and (\d+) steps to your (left|right)")
_WALL_AHEAD = re.compile(r"You are facing a wall (\d+) steps away\.")
_WALL_SIDE = re.compile(r"There is a wall (\d+) steps to your (left|right)(?: and (\d+) steps to your (right))?\.")
_CARRY = re.compile(r"You are carrying an? (\w+ \w+)\.")
_FIXED = {"You are not carrying anything.": "carrying nothing", "You see no objects.": "no objects",
          "The task is completed.": "task completed"}


def _where(where: str) -> str | None:
    m = _BOTH.fullmatch(where)
    if m:
        return f"{m.group(1)} ahead {m.group(2)} {m.group(3)}"
    m = _AHEAD.fullmatch(where)
    if m:
        return f"{m.group(1)} ahead"
    m = _SIDE.fullmatch(where)
    if m:
        return f"{m.group(1)} {m.group(2)}"
    return None


def abstract(text: str, budget: int) -> str:
    """BabyAI describer text -> "red ball 1: 4 ahead 3 right; wall: 6 ahead, 2 left; carrying nothing".

    Lossless for the describer's sentences (others, e.g. an invalid-action message, are kept verbatim without
    their final periods). Over budget, the farthest objects (listed last) are dropped first.
    """
    parts: list[tuple[str, bool]] = []
    walls: list[str] = []
    wall_at: int | None = None
    for sent in _SPLIT.split(squeeze(text)):
        sent = sent.strip()
        if not sent:
            continue
        m = _OBJ.fullmatch(sent)
        where = _where(m.group(2)) if m else None
        if m and where:
            parts.append((f"{m.group(1)}: {where}", False))
            continue
        m = _WALL_AHEAD.fullmatch(sent)
        if m:
            walls.insert(0, f"{m.group(1)} ahead")
            wall_at = len(parts) if wall_at is None else wall_at
            continue
        m = _WALL_SIDE.fullmatch(sent)
        if m:
            walls.append(f"{m.group(1)} {m.group(2)}")
            if m.group(3):
                walls.append(f"{m.group(3)} {m.group(4)}")
            wall_at = len(parts) if wall_at is None else wall_at
            continue
        m = _CARRY.fullmatch(sent)
        if m:
            parts.append((f"carrying {m.group(1)}", True))
            continue
        if sent in _FIXED:
            parts.append((_FIXED[sent], True))
            continue
        sent = sent.rstrip(". ")  # kept verbatim; without its final period it never re-matches a rule above
        if sent:
            parts.append((sent, True))
    if walls:
        parts.insert(wall_at, ("wall: " + ", ".join(walls), True))
    if not parts:
        return squeeze(text)
    return fit_parts(parts, budget, "; ")


# ---- the one parser of the abstract state --------------------------------------------------------------------------
_COLOR_RE = "|".join(COLORS)
_ITEM = re.compile(rf"((?:open|closed|locked) )?((?:{_COLOR_RE}) (?:ball|box|key|door) \d+): (.+)")
_POS = re.compile(r"(?:(\d+) ahead)?(?: ?(\d+) (left|right))?")
_WALL = re.compile(r"(\d+) (ahead|left|right)")
#: every object label ("red ball 1") in a text
LABEL = re.compile(rf"\b({_COLOR_RE}) (ball|box|key|door) (\d+)\b")


@dataclass(frozen=True)
class Sighting:
    """One object in view: its label ("red ball 1"), its door state ("open"/"closed"/"locked"; "" for a non-door),
    and where it is: `front` steps ahead, `right` steps to the right (negative: left)."""

    label: str
    door: str
    front: int
    right: int

    @property
    def name(self) -> str:
        """The label as the state writes it: a door's state first ("closed red door 1")."""
        return f"{self.door} {self.label}" if self.door else self.label

    @property
    def kind(self) -> str:
        """Colour and type ("red ball")."""
        return self.label.rsplit(" ", 1)[0]

    @property
    def color(self) -> str:
        """The colour ("red")."""
        return self.label.split(" ", 1)[0]

    @property
    def type(self) -> str:
        """The object type ("ball", "box", "key", "door")."""
        return self.label.split(" ")[1]


@dataclass(frozen=True)
class BabyAIState:
    """A parsed abstract state (see `parse_state`)."""

    #: the objects in view, in the state's order (nearest first)
    objects: tuple[Sighting, ...] = ()
    #: wall distance by direction ("ahead", "left", "right"): the first wall straight that way, where in sight
    walls: Mapping[str, int] = field(default_factory=dict)
    #: what the agent carries ("blue key"), "" for nothing, None when the state does not say
    carrying: str | None = None
    #: the parts that are not the describer's (an invalid action's reason comes first), in order
    messages: tuple[str, ...] = ()
    #: the state ends with "task completed"
    completed: bool = False
    #: only the view's own parts (objects, walls, carrying, "no objects"): a state the geometry rule can move
    plain: bool = True
    #: the view is whole: every part but messages (e.g. the last action's reason) is a view part, nothing cut
    whole: bool = True

    def at(self, front: int, right: int) -> Sighting | None:
        """The object at (front, right), or None."""
        return next((o for o in self.objects if (o.front, o.right) == (front, right)), None)


def parse_state(text: str) -> BabyAIState:
    """The parts of a BabyAI state (raw or abstract text: it is abstracted first, which is idempotent).

    An object part is "[door state] <colour> <type> <n>: [F ahead] [R left|right]"; a "wall: ..." part gives the
    wall distances; "carrying X" what is carried; "task completed" sets `completed`. Every other part but "no
    objects" and the budget's ellipsis is a message. A state with anything besides the view's parts is not `plain`;
    one whose view parts are all there and well formed (messages aside) is `whole`.
    """
    objects: list[Sighting] = []
    walls: dict[str, int] = {}
    carrying: str | None = None
    messages: list[str] = []
    completed, plain, whole = False, True, True
    for part in (p.strip() for p in abstract(str(text), READ_BUDGET).split(";")):
        m = _ITEM.fullmatch(part)
        pos = _POS.fullmatch(m.group(3)) if m else None
        if m and pos and (pos.group(1) or pos.group(2)):
            right = int(pos.group(2) or 0) * (-1 if pos.group(3) == "left" else 1)
            objects.append(Sighting(m.group(2), (m.group(1) or "").strip(), int(pos.group(1) or 0), right))
        elif part.startswith("wall: "):
            found = [_WALL.fullmatch(w) for w in part[len("wall: "):].split(", ")]
            plain = plain and all(found)
            whole = whole and all(found)
            walls.update({mw.group(2): int(mw.group(1)) for mw in found if mw})
        elif part.startswith("carrying "):
            rest = part[len("carrying "):]
            carrying = "" if rest == "nothing" else rest
        elif part != "no objects":
            plain = False
            if part == "task completed":
                completed = True
            elif part != ELLIPSIS:
                messages.append(part)
            else:
                whole = False
    return BabyAIState(tuple(objects), walls, carrying, tuple(messages), completed, plain, whole)


def view_order(o: Sighting) -> tuple[int, int, int]:
    """The describer's order of objects: nearest first (steps ahead plus steps aside), then ahead, then right."""
    return abs(o.front) + abs(o.right), o.front, o.right


def position(front: int, right: int) -> str:
    """A place in the view in the abstract state's words: "4 ahead 3 right", "2 ahead", "1 left"."""
    side = f"{abs(right)} {'right' if right > 0 else 'left'}" if right else ""
    return " ".join(x for x in (f"{front} ahead" if front else "", side) if x)


def render(objects: list[Sighting] | tuple[Sighting, ...], walls: Mapping[str, int], carrying: str | None) -> str:
    """The abstract text of a view in the describer's order and wording (see view.py build_view): objects
    nearest first, then walls, then what is carried ("" renders "carrying nothing", None nothing)."""
    parts = [f"{o.name}: {position(o.front, o.right)}" for o in sorted(objects, key=view_order)]
    out = "; ".join(parts) or "no objects"
    ws = [f"{walls[d]} {d}" for d in ("ahead", "left", "right") if walls.get(d)]
    if ws:
        out += "; wall: " + ", ".join(ws)
    if carrying is not None:
        out += f"; carrying {carrying or 'nothing'}"
    return out


# ---- admissible actions ------------------------------------------------------------------------------------------
def has_key_for(door: Sighting, carrying: str | None) -> bool:
    """Whether the carried thing is the key of `door`'s colour."""
    return carrying == f"{door.color} key"


#: (front, right) step of each heading in view coordinates: ahead, right, back, left (a right turn adds 1)
_HEADINGS = ((1, 0), (0, 1), (-1, 0), (0, -1))


def wall_cells(st: BabyAIState) -> set[tuple[int, int]]:
    """The wall cells of the 7x7 view in (front, right) coordinates, walls taken as straight lines at their
    distances: a wall ahead fills its row, a side wall its column except on rows where an object is seen beyond
    it (the wall has a gap or ends there)."""
    cells = set()
    if st.walls.get("ahead"):
        cells |= {(st.walls["ahead"], r) for r in range(-VIEW_SIDE, VIEW_SIDE + 1)}
    for side, sign in (("left", -1), ("right", 1)):
        d = st.walls.get(side)
        if d:
            cells |= {(f, sign * d) for f in range(VIEW_AHEAD + 1)
                      if not any(o.front == f and sign * o.right > d for o in st.objects)}
    return cells


def local_map(st: BabyAIState) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """(blocked, opaque) cells of the 7x7 view rebuilt from the state: walls (`wall_cells`) block and hide what is
    behind them, objects block their cell unless they are open doors, closed and locked doors also hide."""
    taken = {(o.front, o.right) for o in st.objects}
    walls = wall_cells(st) - taken
    blocked = walls | {(o.front, o.right) for o in st.objects if o.door != "open"}
    opaque = walls | {(o.front, o.right) for o in st.objects if o.door in ("closed", "locked")}
    return blocked, opaque


def visible(opaque: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """The view cells the agent sees given the opaque ones: minigrid's Grid.process_vis (rows from the agent's
    outwards; from every seen see-through cell, light spreads one cell sideways and into the next row)."""
    seen = {(0, 0)}
    for f in range(VIEW_AHEAD + 1):
        for step, order in ((1, range(-VIEW_SIDE, VIEW_SIDE)), (-1, range(VIEW_SIDE, -VIEW_SIDE, -1))):
            for r in order:
                if (f, r) not in seen or (f, r) in opaque:
                    continue
                seen.add((f, r + step))
                if f < VIEW_AHEAD:
                    seen.update({(f + 1, r + step), (f + 1, r)})
    return seen


def _reach(st: BabyAIState) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """(cells the agent can come to face, cells it can stand on) by turns and forward steps through visible free
    cells of `local_map`, as view.py plan_path searches."""
    blocked, opaque = local_map(st)
    free = visible(opaque) - blocked
    start = (0, 0, 0)
    seen, queue = {start}, deque([start])
    while queue:
        f, r, h = queue.popleft()
        df, dr = _HEADINGS[h]
        nxt = [(f, r, (h + 1) % 4), (f, r, (h - 1) % 4)]
        if (f + df, r + dr) in free:
            nxt.append((f + df, r + dr, h))
        for s in nxt:
            if s not in seen:
                seen.add(s)
                queue.append(s)
    face = {(f + _HEADINGS[h][0], r + _HEADINGS[h][1]) for f, r, h in seen}
    return face, {(f, r) for f, r, _ in seen}


def _primitive(st: BabyAIState) -> list[str]:
    """The one-step actions of view.py build_view (same strings, same order), decided by the cell ahead."""
    ahead = st.at(1, 0)
    wall_ahead = st.walls.get("ahead") == 1
    acts = ["turn left", "turn right"]
    if not wall_ahead and (ahead is None or ahead.door == "open"):
        acts.append("move forward")
    if st.carrying and ahead is None and not wall_ahead:
        acts.append("drop")
    if ahead is not None and ahead.type == "door" and (ahead.door != "locked" or has_key_for(ahead, st.carrying)):
        acts.append("toggle")
    return acts


def actions(task_text: str, state: str, env_kwargs: Mapping[str, Any], history: Sequence[str] = ()) -> list[str]:
    """The admissible actions of a BabyAI state (raw or abstract text), as the real env lists them.

    `env_kwargs["action_set"] == "primitive"`: exactly the env's `available_actions()` (turn left/right; move
    forward unless a wall or an object other than an open door is 1 ahead; drop when carrying and nothing is 1
    ahead; toggle at a door unless it is locked and the carried key is not its colour; "pick up <label>" for the
    pickable object 1 ahead when not carrying). Measured on 2,005 steps of real episodes (random, expert and
    half-invalid policies; levels PickupLoc, GoToLocal, UnlockLocal, PutNextLocal): identical at every step.

    The macro set (the env's default) is an approximation: after the one-step actions, for each object in view
    (nearest first) that the agent can come to face, "go to" (unless it is right ahead), "pick up" (pickable, hands
    empty), "go through" (open door) or "toggle and go through" (closed door, or locked with its key); reachability
    is searched as view.py plan_path does, on the view rebuilt from the state (`local_map`: straight walls, unseen
    cells free). On 1,435 steps of real macro episodes (random, expert and noisy-expert policies, the env's eight
    default levels, test tasks) the list is exactly the env's at 99.65% of the steps, mean Jaccard 0.9993.
    A completed task has no actions.
    """
    st = parse_state(state)
    if st.completed:
        return []
    acts = _primitive(st)
    hands_free = not st.carrying
    if env_kwargs.get("action_set", "macro") == "primitive":
        ahead = st.at(1, 0)
        if ahead is not None and ahead.type in PICKABLE and hands_free:
            acts.append(f"pick up {ahead.label}")
        return acts
    face, stand = _reach(st)
    for o in st.objects:
        pos = (o.front, o.right)
        if pos not in face:
            continue
        if pos != (1, 0):
            acts.append(f"go to {o.label}")
        if o.type in PICKABLE and hands_free:
            acts.append(f"pick up {o.label}")
        if o.door == "open":
            if pos in stand:
                acts.append(f"go through {o.label}")
        elif o.door and (o.door != "locked" or has_key_for(o, st.carrying)):
            acts.append(f"toggle and go through {o.label}")
    return acts
