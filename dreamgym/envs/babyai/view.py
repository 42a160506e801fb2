"""Text view of a BabyAI (minigrid) state for dreamgym.envs.babyai.env: the describer, the stable object labels
and the high-level (macro) action table. Pure functions over an unwrapped minigrid env; no gym bookkeeping here.

Conventions: positions are world (x, y); `front` / `right` are agent-relative offsets (steps ahead / to the right);
an object's label is "<color> <type> <n>", numbered per color+type in the order the agent first saw it, so the
same object keeps its label for the whole episode.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from minigrid.core.actions import Actions
from minigrid.core.constants import DIR_TO_VEC

LEFT, RIGHT, FORWARD = int(Actions.left), int(Actions.right), int(Actions.forward)
PICKUP, DROP, TOGGLE = int(Actions.pickup), int(Actions.drop), int(Actions.toggle)

#: object types that are scenery, never listed as objects
_SCENERY = ("wall", "floor", "empty", "unseen")


@dataclass
class SeenObj:
    label: str
    obj: object
    pos: tuple[int, int]
    front: int
    right: int


@dataclass
class View:
    """What the agent sees now, plus the derived action table (action text -> primitive actions)."""

    visible: set = field(default_factory=set)
    objects: list[SeenObj] = field(default_factory=list)
    text: str = ""
    actions: dict[str, list[int]] = field(default_factory=dict)
    #: reasons for common invalid actions (action text -> message)
    reasons: dict[str, str] = field(default_factory=dict)


class Labeler:
    """Stable per-episode labels: `label(obj)` numbers objects per color+type in first-seen order."""

    def __init__(self):
        self._by_id: dict[int, tuple[object, str]] = {}  # id(obj) -> (obj kept alive, label)
        self._count: dict[str, int] = {}

    def label(self, obj) -> str:
        hit = self._by_id.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        name = f"{obj.color} {obj.type}"
        n = self._count.get(name, 0) + 1
        self._count[name] = n
        lab = f"{name} {n}"
        self._by_id[id(obj)] = (obj, lab)
        return lab


def visible_cells(u) -> tuple[set, list]:
    """World cells the agent sees now (its own cell included) and [(pos, front, right)] of each, near first."""
    grid, vis = u.gen_obs_grid()
    vs = u.agent_view_size
    ax, ay = int(u.agent_pos[0]), int(u.agent_pos[1])
    fx, fy = (int(v) for v in u.dir_vec)
    rx, ry = (int(v) for v in u.right_vec)
    cells, rel = set(), []
    for j in range(vs):
        for i in range(vs):
            if not vis[i, j]:
                continue
            front, right = vs - 1 - j, i - vs // 2
            x, y = ax + fx * front + rx * right, ay + fy * front + ry * right
            if 0 <= x < u.width and 0 <= y < u.height:
                cells.add((x, y))
                rel.append(((x, y), front, right))
    rel.sort(key=lambda t: (abs(t[1]) + abs(t[2]), t[1], t[2]))
    return cells, rel


def _where(front: int, right: int) -> str:
    if right == 0:
        return f"right in front of you {front} steps away"
    side = f"{abs(right)} steps to your {'right' if right > 0 else 'left'}"
    return side if front == 0 else f"{front} steps in front of you and {side}"


def _art(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _door_state(door) -> str:
    return "locked" if door.is_locked else ("open" if door.is_open else "closed")


def _passable(cell) -> bool:
    return cell is None or (cell.type == "door" and cell.is_open)


def plan_path(u, visible: set, goal) -> list[int] | None:
    """Fewest primitive moves (turns and forward steps through visible free cells) to a state where
    goal(x, y, d) holds; [] if it holds already, None if unreachable."""
    start = (int(u.agent_pos[0]), int(u.agent_pos[1]), int(u.agent_dir))
    if goal(*start):
        return []
    prev = {start: None}
    queue = deque([start])
    while queue:
        s = queue.popleft()
        x, y, d = s
        dx, dy = (int(v) for v in DIR_TO_VEC[d])
        nxt = []
        if (x + dx, y + dy) in visible and _passable(u.grid.get(x + dx, y + dy)):
            nxt.append(((x + dx, y + dy, d), FORWARD))
        nxt.append(((x, y, (d - 1) % 4), LEFT))
        nxt.append(((x, y, (d + 1) % 4), RIGHT))
        for ns, a in nxt:
            if ns in prev:
                continue
            prev[ns] = (s, a)
            if goal(*ns):
                path = []
                while prev[ns] is not None:
                    ns, a = prev[ns]
                    path.append(a)
                return path[::-1]
            queue.append(ns)
    return None


def _facing(pos):
    px, py = pos

    def goal(x, y, d):
        dx, dy = DIR_TO_VEC[d]
        return x + dx == px and y + dy == py

    return goal


def _on(pos):
    return lambda x, y, d: (x, y) == tuple(pos)


def build_view(u, labeler: Labeler, primitive: bool = False) -> View:
    """Describe the agent's view and tabulate the actions valid now. `primitive`: only one-step actions (turn,
    move forward, toggle, drop, and "pick up <obj>" for the object right in front); no go-to / go-through macros."""
    visible, rel = visible_cells(u)
    view = View(visible=visible)
    ax, ay = int(u.agent_pos[0]), int(u.agent_pos[1])
    for pos, front, right in rel:
        if pos == (ax, ay):
            continue
        cell = u.grid.get(*pos)
        if cell is None or cell.type in _SCENERY:
            continue
        view.objects.append(SeenObj(labeler.label(cell), cell, pos, front, right))

    # ---- text -------------------------------------------------------------------------------------------
    parts = []
    for o in view.objects:
        state = f"{_door_state(o.obj)} " if o.obj.type == "door" else ""
        desc = f"{state}{o.label}"
        parts.append(f"There is {_art(desc)} {desc}, {_where(o.front, o.right)}.")
    if not parts:
        parts.append("You see no objects.")
    walls = _wall_distances(u, visible)
    if walls[0]:
        parts.append(f"You are facing a wall {walls[0]} steps away.")
    side = [f"{walls[k]} steps to your {name}" for k, name in ((1, "left"), (2, "right")) if walls[k]]
    if side:
        parts.append("There is a wall " + " and ".join(side) + ".")
    carrying = u.carrying
    parts.append(f"You are carrying {_art(carrying.color)} {carrying.color} {carrying.type}." if carrying
                 else "You are not carrying anything.")
    view.text = " ".join(parts)

    # ---- actions ----------------------------------------------------------------------------------------
    acts, why = view.actions, view.reasons
    acts["turn left"] = [LEFT]
    acts["turn right"] = [RIGHT]
    fwd = u.grid.get(*u.front_pos)
    if _passable(fwd):
        acts["move forward"] = [FORWARD]
    else:
        why["move forward"] = "You cannot move forward: the way is blocked."
    if carrying is not None:
        if fwd is None:
            acts["drop"] = [DROP]
        else:
            why["drop"] = "You cannot drop here: the cell in front of you is not empty."
    else:
        why["drop"] = "You cannot drop: you are not carrying anything."
    if fwd is not None and fwd.type == "door":
        if fwd.is_locked and not (carrying is not None and carrying.type == "key" and carrying.color == fwd.color):
            why["toggle"] = "You cannot toggle the door: it is locked and you do not carry its key."
        else:
            acts["toggle"] = [TOGGLE]
    else:
        why["toggle"] = "There is no door in front of you to toggle."
    if primitive:
        front = tuple(int(v) for v in u.front_pos)
        for o in view.objects:
            if o.pos == front and o.obj.can_pickup():
                if carrying is not None:
                    why[f"pick up {o.label}"] = f"You cannot pick up {o.label}: you are already carrying something."
                else:
                    acts[f"pick up {o.label}"] = [PICKUP]
            elif o.obj.can_pickup():
                why[f"pick up {o.label}"] = f"You cannot pick up {o.label}: it is not right in front of you."
            why.setdefault(f"go to {o.label}", "There is no 'go to' here: turn left, turn right or move forward.")
        return view
    for o in view.objects:
        obj, lab = o.obj, o.label
        to_face = plan_path(u, visible, _facing(o.pos))
        if to_face:  # [] = already facing it: "go to" would be a no-op
            acts[f"go to {lab}"] = to_face
        elif to_face is None:
            why[f"go to {lab}"] = f"You cannot go to {lab}: there is no path to it in sight."
        if obj.can_pickup():
            if carrying is not None:
                why[f"pick up {lab}"] = f"You cannot pick up {lab}: you are already carrying something."
            elif to_face is not None:
                acts[f"pick up {lab}"] = to_face + [PICKUP]
        if obj.type == "door":
            if obj.is_open:
                path = plan_path(u, visible, _on(o.pos))
                if path is not None:
                    acts[f"go through {lab}"] = path + [FORWARD]
            elif to_face is not None:
                has_key = carrying is not None and carrying.type == "key" and carrying.color == obj.color
                if obj.is_locked and not has_key:
                    why[f"toggle and go through {lab}"] = (f"You cannot open {lab}: it is locked and you do not "
                                                           "carry its key.")
                else:
                    acts[f"toggle and go through {lab}"] = to_face + [TOGGLE, FORWARD, FORWARD]
    return view


def _wall_distances(u, visible: set) -> tuple[int, int, int]:
    """Distance to the first wall straight ahead, to the left, to the right (0 = none in sight or blocked
    first by something else)."""
    ax, ay = int(u.agent_pos[0]), int(u.agent_pos[1])
    out = []
    for vx, vy in (tuple(u.dir_vec), tuple(-u.right_vec), tuple(u.right_vec)):
        dist, k = 0, 1
        while True:
            p = (ax + int(vx) * k, ay + int(vy) * k)
            if p not in visible:
                break
            cell = u.grid.get(*p)
            if cell is not None:
                dist = k if cell.type == "wall" else 0
                break
            k += 1
        out.append(dist)
    return tuple(out)
