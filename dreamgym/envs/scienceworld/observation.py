"""What a ScienceWorld observation says: its abstract state, the one parser of that state, and the actions it admits.

    text = abstract(raw_observation, 600)                       # the abstract state (idempotent)
    st = parse_state(text)                                      # raw or abstract text -> SciState
    st.location, st.inventory, st.room, st.things, st.doors
    acts = actions(task_text, text, {}, history)                # the admissible actions, sorted like the real list

Abstract state: the simulator's reply without the "the agent" / "a substance called air" lines (always there) and
"You also see:", the look-around header shortened ("In the kitchen you see:"), door lines shortened ("door to
hallway (open)"); the "[Location: … Inventory: …]" line and the door lines are always kept within the budget.
The outside's header ("This outside location is called the outside. Here you see:") has no comma and is kept
verbatim. ScienceWorld shows no text once that the dynamics need later, so the task block is the instruction
alone (the generic `plain_task_context`).

Parser (`parse_state`): the annotator and the action lister read states through `SciState` (the context rule
compares whole texts: entities and numbers): the reply's first line and lines, the location and inventory of the
Location line, the room a look-around lists with its things (`Thing`: name, contents, door, device state, nested
"On the X is: …" sentences), and the doors.

Actions (`actions`): the real env lists the simulator's valid action-object combinations of the whole room (objects
in closed containers and unnamed parts such as drains and electrical terminals included, each named by its
unique referent: "cup containing nothing in table", "drawer in counter", "bathroom door"). The lister fills
ScienceWorld's action templates with what the abstract state names: the agent, the air, the inventory, the
current room, the rooms behind the doors shown, the doors, the things listed (contents included), the inventory's
things, things the reply's sentences name, drains of sinks / bathtubs / toilets (and the sewer) and the terminals
of electrical parts. Templates: "look around", "inventory", "task", "reset task", "wait", "wait1"; focus on / look
at on every object, mix / disconnect on all but terminals, connect on every pair (an electrical part through its
terminals); look in on open containers; pick up / put down / move / pour / dunk by movability and containers;
open / close for doors and doors of containers; activate / deactivate for devices; use for tools; eat / read /
flush by name; "go to" a room through an open door (and its door). Referents follow the simulator's rule (the
alphabetically first name that no other visible object shares, from the name, its last noun, "containing X" and
"in <container>"). Besides the real list's spelling it lists "open / close door to <room>", the gold path's.
Most replies ("You move to the kitchen.", "The door is now open.") list nothing of the room, so a state without a
listing gets its room from the latest look-around of its location in the episode's earlier states (`recall_room`):
less what went into the inventory since, plus what left it, with the doors and things the replies since opened,
closed or switched ("The door is now open.", "The sink is now activated.").

Measured on real episodes (3 tasks x 2 val variations: boil, find-animal, chemistry-mix; the gold path, up to 40
steps, and 12 random steps each: 192 states, 120 gold steps; abstract states at the default 600-char budget, the
episode's earlier states as history): recall of the real list 0.45 (mean per state; 0.37 pooled over all actions),
precision 0.83 (0.85 pooled), the gold action in the derived list on 0.41 of the gold steps (in the real list:
0.68; the gold path spells objects its own way, "thermometer in inventory", "examine X"). At 4000 chars: recall
0.65, precision 0.83, gold 0.49 (at 600 a look-around's listing is cut to fit). Without history (the state
alone): recall 0.11, precision 0.79, gold 0.28. The rest is what no state shows: rooms never looked around in,
the contents of closed containers (the simulator lists them), and its own referents for hidden duplicates.

Simplifications: name lists (non-movable appliances, liquids, tools, food, readables, electrical parts) are written
from the seed data; a referent the simulator makes from hidden objects or its randomised tie-breaking is not
reproduced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from dreamgym.envs.text import ELLIPSIS, READ_BUDGET, check_budget, entities, fit_parts, squeeze, truncate

#: all task names, in the package's task-id order (1-1 boil ... 10-2 mendelian-genetics-unknown-plant)
ALL_TASK_NAMES = (
    "boil", "melt", "freeze", "change-the-state-of-matter-of",
    "use-thermometer", "measure-melting-point-known-substance", "measure-melting-point-unknown-substance",
    "power-component", "power-component-renewable-vs-nonrenewable-energy",
    "test-conductivity", "test-conductivity-of-unknown-substances",
    "find-living-thing", "find-non-living-thing", "find-plant", "find-animal",
    "grow-plant", "grow-fruit",
    "chemistry-mix", "chemistry-mix-paint-secondary-color", "chemistry-mix-paint-tertiary-color",
    "lifespan-longest-lived", "lifespan-shortest-lived", "lifespan-longest-lived-then-shortest-lived",
    "identify-life-stages-1", "identify-life-stages-2",
    "inclined-plane-determine-angle", "inclined-plane-friction-named-surfaces",
    "inclined-plane-friction-unnamed-surfaces",
    "mendelian-genetics-known-plant", "mendelian-genetics-unknown-plant",
)
#: the simulator's reply to a command it cannot parse
INVALID_REPLY = "No known action matches that input."

# ---- abstract state ---------------------------------------------------------------------------------------------
_SW_ROOM = re.compile(r"This (?:room|outside location) is called the ([\w -]+)\. (?:In it|Here), you see:")
_SW_DOOR = re.compile(r"A door to the ([\w -]+) \(that is (open|closed)\)")
_SW_DROP = {"the agent", "a substance called air", "You also see:"}


def abstract(text: str, budget: int) -> str:
    """ScienceWorld reply without the agent/air lines, short room and door lines, the Location line kept."""
    parts: list[tuple[str, bool]] = []
    for raw_line in text.splitlines():
        line = squeeze(raw_line)
        if not line or line in _SW_DROP:
            continue
        m = _SW_ROOM.fullmatch(line)
        if m:
            line = f"In the {m.group(1)} you see:"
        else:
            line = _SW_DOOR.sub(lambda d: f"door to {d.group(1)} ({d.group(2)})", line)
        parts.append((line, line.startswith(("[Location:", "door to "))))
    if not parts:
        return squeeze(text)
    return fit_parts(parts, budget, "\n")


def read_abstract(text: str, budget: int = READ_BUDGET) -> str:
    """The abstract state of a raw or abstract observation within `budget` chars (as the spec observes it)."""
    return truncate(abstract(str(text), check_budget(budget)), int(budget))


# ---- the parser -------------------------------------------------------------------------------------------------
_FOOT = re.compile(r"\[Location: ([^.\]]+)\. Inventory: (.*)\]$", re.M)
_CONT = re.compile(r"^(?:which|with:|currently|its|that|the time)\b")
_HEADERS = (re.compile(r"In the ([\w -]+) you see:"),
            re.compile(r"This (?:room|outside location) is called the ([\w -]+)\. (?:In it|Here),? you see:"),
            re.compile(r"Inside the ([\w -]+) is:"))
_DOOR = re.compile(r"door to ([\w -]+?) \((open|closed)\)")
_ARTICLE = re.compile(r"^(?:an?|the|some) ", re.I)
_CALLED = re.compile(r"^substance called ")
_HOLDS = re.compile(r"^(?:On|In) the (.+?) is:\s*(.*)$")
_DOOR_STATE = re.compile(r"^The (.+?) door is (open|closed)$")
_DRAIN_STATE = re.compile(r"^The drain is (open|closed)$")


def _comma_split(text: str) -> list[str]:
    """`text` split at commas outside parentheses, fragments stripped."""
    frags, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            frags.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    frags.append("".join(cur).strip())
    return frags


def top_level_items(text: str) -> list[str]:
    """The items of a ScienceWorld listing "a, b (x, y), c, which is on": split at commas outside parentheses,
    a fragment that continues a description (", which …", ", with: …", ", currently …") joined to its item."""
    out: list[str] = []
    for f in _comma_split(text):
        if out and _CONT.match(f):
            out[-1] += ", " + f
        elif f:
            out.append(f)
    return [o for o in out if o != "nothing"]


def short_label(item: str) -> str:
    """An item's label: its text without the article, the parenthesis and the description after a comma
    ("a thermometer, currently reading …" -> "thermometer"; "a substance called water" -> "substance called water")."""
    item = re.sub(r"\s*\(.*$", "", item)
    item = re.sub(r",.*$", "", item).strip()
    return re.sub(r"^(?:an?|the) ", "", item)


@dataclass(frozen=True)
class Thing:
    """One listed thing: `text` as listed, `name` (article, "substance called", details dropped), what it holds
    (`contents`; `container`: it shows them), its door (`closed`: True / False, None: none shown), its device
    state (`device`: "on" / "off" / ""), whether it says "turned on/off" (`appliance`), and `substance`."""

    text: str
    name: str
    contents: tuple[Thing, ...] = ()
    container: bool = False
    closed: bool | None = None
    device: str = ""
    appliance: bool = False
    substance: bool = False

    @property
    def label(self) -> str:
        """The listed text's short label (see `short_label`)."""
        return short_label(self.text)


@dataclass(frozen=True)
class SciState:
    """A parsed abstract state: its lines, `message` (the first line but the Location line), `location` and
    `inventory` (the Location line's item texts; location None: no Location line), the listed `room` and its
    `things` (None / (): the state lists no room), `doors` ((room, open) pairs), and the `reply` lines (those of
    neither the listing, the doors nor the Location line)."""

    lines: tuple[str, ...]
    message: str
    location: str | None
    inventory: tuple[str, ...]
    room: str | None = None
    things: tuple[Thing, ...] = ()
    doors: tuple[tuple[str, bool], ...] = ()
    reply: tuple[str, ...] = ()

    @property
    def invalid(self) -> bool:
        """Whether the reply is the simulator's "No known action matches that input."."""
        return self.message.startswith(INVALID_REPLY)

    @property
    def inventory_things(self) -> tuple[Thing, ...]:
        """The inventory's items parsed as things."""
        return tuple(parse_thing(i) for i in self.inventory)


def _sentences(text: str) -> list[str]:
    """`text` split at ". " outside parentheses, the final full stop dropped."""
    out, depth, cur = [], 0, []
    text = text.rstrip(ELLIPSIS).strip()
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == "." and depth == 0 and (i + 1 == len(text) or text[i + 1] in " ."):
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return [s for s in out if s]


def _with_contents(thing: Thing, name: str, items: list[Thing]) -> Thing:
    """`thing` with `items` as the contents of itself (when named `name`) or of its first content so named."""
    if thing.name == name or thing.name.endswith(" " + name):
        return replace(thing, contents=thing.contents + tuple(items), container=True)
    for k, c in enumerate(thing.contents):
        new = _with_contents(c, name, items)
        if new is not c:
            return replace(thing, contents=thing.contents[:k] + (new,) + thing.contents[k + 1:])
    return thing


def _head(text: str, sentence: str) -> Thing:
    """An item `text` from its first sentence: name, "(containing …)", ", which is …" / ", with: …" details."""
    name_part, *details = _comma_split(sentence)
    name_part = _ARTICLE.sub("", name_part)
    contents: tuple[Thing, ...] = ()
    container = False
    m = re.match(r"^(.*?)\s*\((.*)\)\s*(.*)$", name_part)
    if m:
        name_part, inner = m.group(1), m.group(2)
        if inner.startswith("containing"):
            container = True
            contents = tuple(parse_thing(i) for i in top_level_items(inner[len("containing"):].strip()))
    name_part = re.sub(r" (?:titled|approximately|at the bottom of) .*$", "", name_part)
    substance = bool(_CALLED.match(name_part))
    name = _CALLED.sub("", name_part).strip().lower()
    device, appliance, closed = "", False, None
    for d in details:
        if d.startswith("with: "):
            container = True
            contents += tuple(parse_thing(i) for i in top_level_items(d[len("with: "):]))
        elif d.startswith("which is "):
            word = d[len("which is "):].strip()
            appliance = word.startswith("turned ")
            word = word.removeprefix("turned ")
            if word in ("open", "closed"):
                closed = word == "closed"
            elif word in ("on", "activated"):
                device = "on"
            elif word in ("off", "deactivated"):
                device = "off"
    return Thing(text, name, contents, container, closed, device, appliance, substance)


def parse_thing(text: str) -> Thing:
    """One listed item ("a cupboard. The cupboard door is open. In the cupboard is: a tin cup (containing
    nothing).") as a Thing; nested "On the mattress is: …" sentences go to the content so named."""
    sentences = _sentences(squeeze(text))
    thing = _head(squeeze(text), sentences[0] if sentences else squeeze(text))
    for sent in sentences[1:]:
        if m := _HOLDS.match(sent):
            target = m.group(1).lower()
            thing = _with_contents(thing, target, [parse_thing(i) for i in top_level_items(m.group(2))])
        elif m := _DOOR_STATE.match(sent):
            thing = replace(thing, closed=m.group(2) == "closed")
        elif m := _DRAIN_STATE.match(sent):
            drain = Thing(f"a drain, which is {m.group(1)}", "drain", closed=m.group(1) == "closed")
            thing = replace(thing, contents=thing.contents + (drain,))
    return thing


def parse_state(text: str, budget: int = READ_BUDGET) -> SciState:
    """The one parser of ScienceWorld states: raw or abstract `text` (abstracted first at `budget`) as a SciState."""
    text = read_abstract(text, budget)
    lines = tuple(text.splitlines())
    foot = _FOOT.search(text)
    location, inventory = (foot.group(1), tuple(top_level_items(foot.group(2)))) if foot else (None, ())
    message = next((ln for ln in lines if ln.strip() and not ln.startswith("[Location:")), "")
    room, listed, doors, reply, listing = None, [], [], [], False
    for line in lines:
        if line.startswith("[Location:"):
            continue
        if line.startswith(("door to ", "You also see:")):
            doors.extend((m.group(1), m.group(2) == "open") for m in _DOOR.finditer(line))
            continue
        header = next((m for m in (p.fullmatch(line) for p in _HEADERS) if m), None)
        if header:
            room, listing = header.group(1), True
        elif listing and line != ELLIPSIS:
            listed.append(line)
        elif not listing:
            reply.append(line)
    things = tuple(parse_thing(line) for line in listed)
    return SciState(lines, message, location, inventory, room, things, tuple(doors), tuple(reply))


# ---- admissible actions -----------------------------------------------------------------------------------------
#: things that stay put (appliances and fixtures; "turned on/off" things are fixed too)
_FIXED = {"fridge", "freezer", "ultra low temperature freezer", "oven", "stove", "sink", "bathtub", "toilet",
          "blast furnace", "drain"}
#: things that are on until deactivated without saying so
_ALWAYS_ON = {"fridge", "freezer", "ultra low temperature freezer"}
#: electrical parts whose activate/deactivate the agent controls
_SWITCHES = {"switch", "gas generator"}
#: devices the agent switches on and off (besides those saying "turned on/off")
_APPLIANCES = {"oven", "stove", "sink", "bathtub", "toilet", "blast furnace", "stopwatch"}
_ELECTRIC = ("light bulb", "buzzer", "motor", "generator", "battery", "switch", "solar panel")
_LIQUID = re.compile(r"\b(?:water|juice|paint|milk|oil|mercury|sap)$")
_TOOLS = {"lighter", "thermometer", "axe", "shovel", "multimeter", "measuring tape", "meter stick"}
_FOOD = ("apple", "banana", "orange", "potato", "ice cream", "juice", "chocolate", "marshmallow", "seed", "bread",
         "peanut", "cake", "cookie", "dough", "smores", "jam", "butter", "honey", "nut", "berry", "milk", "fruit",
         "mango", "lemon", "cherry", "pea", "flour")
_READABLE = ("recipe", "book", "paper", "note", "letter")
_DRAINED = {"sink", "bathtub", "toilet"}
_OPEN_CONTAINERS = {"pot", "cup", "box", "bowl", "table", "counter", "chair", "stove", "sink", "bathtub", "jug",
                    "pit", "fountain", "desk", "bed", "furnace"}
_ID_WORD = re.compile(r"^(?:\d+|[A-Z]|[a-z])$")
_NOT_THINGS = {"inventory", "agent", "air", "task", "contents", "recipe reads", "plane", "bottom"}
_BASIC = ("inventory", "look around", "reset task", "task", "wait", "wait1")


@dataclass
class _Obj:
    """One visible object for the lister: candidate names (or fixed referent `options`), its "containing" text and
    container (`place`), kind, what the templates need to know of it, and the referent chosen for it."""

    names: tuple[str, ...]
    kind: str = "thing"
    options: tuple[str, ...] = ()
    contains: str | None = None
    place: str | None = None
    thing: Thing | None = None
    in_inventory: bool = False
    movable: bool = False
    holds: bool = False
    opens: bool = False
    closes: bool = False
    on: bool = False
    off: bool = False
    parent_movable: bool = False
    extra: tuple[str, ...] = ()
    electric: bool = False
    referent: str = ""


def _is_liquid(thing: Thing) -> bool:
    """Whether a thing is a liquid (by its name: "liquid X", water, juice, paint, …)."""
    return thing.name.startswith("liquid ") or (bool(_LIQUID.search(thing.name)) and not thing.container)


def _names(thing: Thing) -> tuple[str, ...]:
    """A thing's candidate names: its name without a state prefix, and its last noun ("glass cup" -> "cup")."""
    name = re.sub(r"^(?:liquid|solid|gaseous) ", "", thing.name)
    words = name.split()
    if thing.substance and _is_liquid(thing):
        return (name, "substance")  # the simulator also calls a liquid substance "substance"
    if thing.substance or len(words) < 2 or _ID_WORD.match(words[-1]):
        return (name,)
    return (name, words[-1])


def _thing_obj(thing: Thing, place: str, in_inventory: bool, parent_movable: bool) -> list[_Obj]:
    """The objects a thing stands for: itself, its contents, its drain and its terminals (none for a nameless one)."""
    name = thing.name
    if not name.strip(" " + ELLIPSIS):
        return []
    liquid = _is_liquid(thing)
    fixed = thing.appliance or name in _FIXED or name.endswith(("freezer", "fridge")) or liquid or name == "air"
    solid_substance = thing.substance and not liquid
    drawer_closed = name.endswith("drawer") and not thing.container
    closed = bool(thing.closed) or drawer_closed or name.endswith("glass jar")
    holds = (thing.container or thing.closed is False or name in ("ground", "sewer")) and not closed
    obj = _Obj(_names(thing), place=place, thing=thing, in_inventory=in_inventory, movable=not fixed,
               holds=holds and name != "drain", opens=closed,
               closes=thing.closed is False or (name == "drain" and not closed),
               parent_movable=parent_movable and not solid_substance and not name.endswith("wire"))
    if thing.container:
        obj.contains = thing.contents[0].name if thing.contents else "nothing"
    if thing.appliance or name in _SWITCHES or name in _APPLIANCES or name in _ALWAYS_ON:
        obj.on = thing.device == "on" or (name in _ALWAYS_ON and thing.device != "off")
        obj.off = not obj.on
    if name == "drain":
        obj.kind, obj.names, obj.place = "drain", ("drain", f"{place} drain"), None
    out = [obj]
    for c in thing.contents:
        out += _thing_obj(c, name, in_inventory, obj.movable)
    if name in _DRAINED and not any(c.name == "drain" for c in thing.contents):
        out.append(_Obj(("drain", f"{name} drain"), kind="drain", closes=True))
    if any(name.endswith(e) for e in _ELECTRIC):
        obj.electric = True
        out += [_terminal(t, obj.names) for t in ("anode", "cathode")]
    elif name.endswith("wire"):
        obj.electric = True
        out += [_terminal(t, obj.names) for t in ("terminal 1", "terminal 2")]
    return out


def _terminal(terminal: str, owner: Sequence[str]) -> _Obj:
    """An electrical terminal of a part: "anode in battery" or "battery anode", whichever the referent rule picks."""
    return _Obj((terminal,), kind="terminal", options=(terminal, *(f"{terminal} in {n}" for n in owner),
                                                       *(f"{n} {terminal}" for n in owner)))


def _mentioned(state: SciState) -> set[str]:
    """The things the reply's sentences name ("You move the metal pot to the stove." -> metal pot, stove)."""
    found = entities("\n".join(state.reply))
    return {e for e in found if e not in _NOT_THINGS and not e.startswith("door") and e != state.location}


def _visible_objects(state: SciState) -> list[_Obj]:
    """Every object the state shows (see the module docstring), each with its candidate names and abilities."""
    here = state.room or (state.location if state.location not in (None, "unknown") else None)
    objs = [_Obj(("agent",), kind="agent"), _Obj(("air", "substance"), kind="air"),
            _Obj(("inventory",), kind="inventory", holds=True)]
    if here:
        objs.append(_Obj((here,), kind="room", holds=True))
    for room, is_open in dict(state.doors).items():
        if room != here:
            objs.append(_Obj((room,), kind="room", holds=True))
        objs.append(_Obj(("door", f"door to {room}", f"{room} door"), kind="door", opens=not is_open,
                         closes=is_open, extra=(f"door to {room}",)))
    for thing in state.things:
        objs += _thing_obj(thing, here or "", False, False)
    for thing in state.inventory_things:
        objs += _thing_obj(thing, "inventory", True, False)
    known = {n for o in objs for n in o.names} | {r for r, _ in state.doors}
    effect = reply_effect(state.message)
    for name in sorted(_mentioned(state) - known):  # what the reply names: an open container if its noun says so
        thing = Thing(f"a {name}", name, container=name.split()[-1] in _OPEN_CONTAINERS)
        if effect and effect[0] == name:
            thing = _changed(thing, *effect)
        objs += _thing_obj(thing, here or "", False, False)
    if any(o.kind == "drain" for o in objs):
        objs.append(_Obj(("sewer",), movable=True, holds=True, place=here))
    return objs


def _referent_options(obj: _Obj) -> list[str]:
    """The names the simulator accepts for `obj`: each name, with "containing X" and "in <container>"."""
    if obj.options:
        return sorted(set(obj.options))
    conts = [""] + ([f" containing {obj.contains}"] if obj.contains else [])
    places = [""] + ([f" in {obj.place}"] if obj.place else [])
    return sorted({n + c + p for n in obj.names for c in conts for p in places})


def _choose_referents(objs: Sequence[_Obj]) -> list[str]:
    """One referent per object, the simulator's way: the alphabetically first option no other object shares, else
    the first option."""
    options = [_referent_options(o) for o in objs]
    count: dict[str, int] = {}
    for opts in options:
        for r in opts:
            count[r] = count.get(r, 0) + 1
    return [next((r for r in opts if count[r] == 1), opts[0]) for opts in options]


def recall_room(state: SciState, history: Sequence[str]) -> SciState:
    """`state` with its room's things and doors from the latest look-around of its location in `history` (earlier
    states, oldest first) when it lists no room itself: things taken into the inventory since are left out, things
    that left it are back in the room, and a door the replies since opened or closed is updated (the only door that
    was closed / open). `state` itself when no earlier state lists its location."""
    if state.room is not None or state.location is None:
        return state
    since: list[SciState] = []  # the states after the look-around, newest first
    for text in reversed(history):
        past = parse_state(text)
        if past.room and past.location == state.location:
            break
        since.append(past)
    else:
        return state
    look = past
    doors = dict(look.doors)
    then, now = [t.name for t in look.inventory_things], [t.name for t in state.inventory_things]
    taken = [n for n in dict.fromkeys(now) if now.count(n) > then.count(n)]
    things = tuple(t for t in look.things if t.name not in taken)
    for reply in [*(p.message for p in reversed(since)), state.message]:
        effect = reply_effect(reply)
        if effect and effect[0] == "door":
            now_open = effect[1] == "open"
            turn = [room for room, is_open in doors.items() if is_open != now_open]
            if len(turn) == 1:
                doors[turn[0]] = now_open
        elif effect:
            things = tuple(_changed(t, *effect) for t in things)
    back = tuple(t for t in look.inventory_things if then.count(t.name) > now.count(t.name))
    return replace(state, room=look.room, things=things + back, doors=tuple(doors.items()))


_NOW = re.compile(r"The (.+?) is now (open|closed|activated|deactivated)\.")


def reply_effect(message: str) -> tuple[str, str] | None:
    """(thing, "open" / "closed" / "on" / "off") of a reply "The X is now open." / "… activated.", else None."""
    m = _NOW.fullmatch(message.strip())
    if m is None:
        return None
    return m.group(1), {"activated": "on", "deactivated": "off"}.get(m.group(2), m.group(2))


def _changed(thing: Thing, name: str, now: str) -> Thing:
    """`thing` (or the content so named) opened, closed, switched on or off as `now` says."""
    if thing.name == name:
        if now in ("open", "closed"):
            return replace(thing, closed=now == "closed")
        return replace(thing, device=now)
    return replace(thing, contents=tuple(_changed(c, name, now) for c in thing.contents))


def actions(task_text: str, state: str, env_kwargs: Mapping[str, Any], history: Sequence[str] = ()) -> list[str]:
    """The admissible actions of ScienceWorld state `state` (raw or abstract) after the episode's earlier states
    `history` (oldest first), sorted: ScienceWorld's templates filled with the objects the state shows, the room
    recalled from its last look-around (`recall_room`; see the module docstring). `task_text` and `env_kwargs`
    are not needed: the real list depends on the room alone."""
    st = recall_room(parse_state(state), history)
    objs = _visible_objects(st)
    refs = _choose_referents(objs)
    for o, r in zip(objs, refs, strict=True):
        o.referent = r
    out = set(_BASIC)
    wired = [o for o in objs if not o.electric]  # an electrical part is connected through its terminals
    for o in objs:
        r = o.referent
        out.update((f"focus on {r}", f"look at {r}"))
        if o.kind != "terminal":
            out.update((f"mix {r}", f"disconnect {r}"))
        if not o.electric:
            out.update(f"connect {r} to {p.referent}" for p in wired if p is not o)
        if o.holds:
            out.add(f"look in {r}")
        if o.opens:
            out.update(f"open {n}" for n in (r, *o.extra))
        if o.closes:
            out.update(f"close {n}" for n in (r, *o.extra))
        if o.kind == "door" and o.closes:
            room = o.extra[0].removeprefix("door to ")
            out.update((f"go to {room}", f"go to {r}"))
        if o.on:
            out.add(f"deactivate {r}")
        if o.off:
            out.add(f"activate {r}")
        out.update(_thing_actions(o, objs))
    return sorted(out)


def _thing_actions(o: _Obj, objs: Sequence[_Obj]) -> list[str]:
    """The templates of a thing: pick up / put down / move / pour / dunk / use / eat / read / flush."""
    if o.kind != "thing":
        return []
    name, r = o.names[0], o.referent
    out = []
    targets = [p for p in objs if p.holds]
    if o.movable:
        out.append(f"put down {r}" if o.in_inventory else f"pick up {r}")
        out += [f"move {r} to {p.referent}" for p in targets if p is not o]
        if o.holds or o.parent_movable:
            out += [f"pour {r} into {p.referent}" for p in targets]
    if o.thing is not None and any(_is_liquid(c) for c in o.thing.contents):
        out += [f"dunk {r} into {p.referent}" for p in targets if p.movable and p.kind == "thing" and p is not o]
    if name in _TOOLS:
        out += [f"use {r} on {p.referent}" for p in objs]
    if any(name.endswith(f) for f in _FOOD):
        out.append(f"eat {r}")
    if any(name.endswith(w) for w in _READABLE):
        out.append(f"read {r}")
    if name == "toilet":
        out.append(f"flush {r}")
    return out
