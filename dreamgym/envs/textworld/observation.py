"""TextWorld's observation: the abstract state, the one parser of it, and the admissible actions it implies.

    state = abstract(raw_reply, 600)
    # "-= Kitchen =-\nYou see a closed fridge.\nThere is an exit to the east."
    view = parse_state(state)      # View(room="Kitchen", exits={"east"}, furniture={"fridge": False}, ...)
    actions(task_text, state, {})  # ["examine fridge", "go east", "inventory", "look", "open fridge"]

Abstract state. The objective (it is the task block), the final score line and TextWorld's flavour sentences are
dropped; exits, sightings, emptiness and score messages get one canonical wording each (their random template
variants are not predictable); a flavour-only reply becomes "Nothing notable.". The room header and "Score +1."
lines are always kept within the budget. It is idempotent. The task block is the objective alone
(`plain_task_context`): the recipe is shown only when the cookbook is read.

The parser. `parse_state(text)` reads abstract text (one reply, or several replies joined in episode order) into
a `View`: the room, its exits and doors, its furniture (containers open or closed), what lies on / in each
holder and on the floor, the inventory, the foods' cooking and cutting, the recipe once read, and the reply's
events (one per line whose whole text is a known message: take, put, cook, open, ...). Everything in this
package that reads a state (the annotator, the action lister) goes through it. Knowledge of the tw-cooking world
(which furniture is a container, which heat source cooks how, which foods are edible / cookable / cuttable) is
taken from TextWorld 1.7's `tw_cooking` generator and kept here as constants, so nothing imports textworld.

Admissible actions. `actions(task_text, state, env_kwargs)` lists, in TextWorld's format and order (sorted
strings), the commands the view makes admissible: look, inventory; go through free exits and open doors;
open / close doors and containers; examine the furniture and the things on / in open holders and on the floor;
take them (`take X from Y`, `take X` from the floor); for each carried thing drop, put on each supporter, insert
into each open container; eat / drink what is edible / drinkable; cook a cookable food with each heat source in
view; slice / dice / chop an uncut food with a carried knife; "prepare meal" in the kitchen once the recipe is
known and all its ingredients are carried. It cannot be exact: one reply rarely shows the whole room (after
"You take the knife from the table." only the table and the knife are known), and a container seen without its
state is taken as closed.

Measured against TextWorld's own admissible list on real episodes of the default config (recipe 1, take 1,
6 rooms, open / cook / cut; 140 val episodes, half expert, half uniformly random over the admissible list;
3,955 steps; per step, then averaged):

    input                         recall   precision   expert's action listed   exact list
    the current state alone       0.527    1.000       0.416                    0.337
    the episode's states so far   0.999    1.000       0.953                    0.975

(expert episodes alone, episode so far: 1.000 on all four; on the 40 last episodes, generated after the rules
were written: recall 0.999, precision 1.000, exact 0.980.) The misses of the episode input are "prepare meal"
before the cookbook is read; the expert's actions not listed are all "examine cookbook" with the cookbook carried,
which TextWorld's own list omits too (0.953 there as well).

Simplifications: names are matched against the tw-cooking vocabulary (an unknown thing is kept as a portable
object); an item list is split at ", " and " and " (no tw-cooking name holds either) and a part without an article
is flavour; a container whose state is not shown is taken as closed ("You see a fridge." is a closed one);
"prepare meal" needs the recipe in the text (and a meal prepared before it is shown leaves its ingredients in the
inventory).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from dreamgym.envs.text import READ_BUDGET, fit_parts, squeeze, truncate

# ---- the abstract state ----------------------------------------------------------------------------------------
_TW_OBJECTIVE = ("You are hungry!", "Let's cook a delicious meal.", "Check the cookbook in the kitchen for the recipe.",
                 "Once done, enjoy your meal!")
_OBJ = r"(an? [\w'-]+(?: [\w'-]+)*?)"
_ROOM = r"(?:an?|the) [\w -]+"
_TW_DROP = [re.compile(p) for p in (
    r"You scored \d+ out of a possible \d+, in \d+ turns?\.",
    r"Recipe #\d+", r"-{3,}",
    r"Gather all following ingredients and follow the directions to prepare this tasty meal\.",
    r".*\bText[Ww]orld\b.*",
    rf"You(?: find yourself in| are in| arrive in|'ve entered|'ve just shown up in|'ve just walked into|"
    rf"'ve just sauntered into|'re now in) {_ROOM}\.",
    rf"You make another one of your grand eccentric entrances into {_ROOM}\.",
    rf"Well, here we are in {_ROOM}\.", rf"That is to say, you're in {_ROOM}\.",
    rf"I just think it's great that you've just entered {_ROOM}\.",
    rf"It's not every day someone gets to be in {_ROOM}\.",
    rf"Look at you, bigshot, walking into {_ROOM} like it isn't some huge deal\.",
    r"If you're wondering why everything seems so usual all of a sudden, .*",
    r"(?:An?|You arrive in an?) (?:typical|standard|normal|ordinary|usual) (?:one|kind of place)\.",
    r"You can barely contain your excitement\.", r"The room seems oddly familiar.*", r"The room is well lit\.",
    r"Okay, just remember what you're here to do.*", r"You decide to just list off .*",
    r"I guess you better just go and list everything you see here\.", r"You begin to take stock of what's .*",
    r"You start to take note of what's in the room\.", r"You try to gain information on your surroundings.*",
    r"You look around you, at all the containers .*", r"You begin looking for stuff\.", r"Let's see what's in here\.",
    r"Look around you\.", r"Take it all in\.", r"It seems to be pretty ordinary here\.", r"Why\?",
    r"You need an exit without a door\?", r"You don't like doors\?", r"Don't worry, there is no door\.",
    r"(?:Hey, want to see|Were you looking for) an? [\w -]+\?", r"Look over there!", r"Look out!", r"Oh!",
    r"Oh, great\.", r"Hm\.", r"What a letdown!", r"Wow!", r"Huh, weird\.", r"But oh no!", r"[Oo]h well\.?",
    r"This always happens!", r"I mean, just wow!", r"Just like in the movies!", r"This\.\.\.",
    r"Aw, here you were, all excited for there to be things on it!", r"Why couldn't there just be stuff on it\?",
    r"You wonder idly who left that here\.", r"Now why would someone leave that there\?",
    r"There's something strange about this thing being here, .*", r"You shudder, but continue examining .*",
    r"You bend down to tie your shoe\.", r"You lean against the wall, inadvertently pressing a secret button\.",
    r"You make a mental note to not get your hopes up .*",
    r"Make a note of this, you might have to put stuff on or in it later on\.",
    r"This is the worst thing that could possibly happen, ever!", r"You couldn't pay me to eat that .*",
    r"That's an? [\w -]+!", r"The [\w -]+ (?:appears|would seem to be) out of place here\.?",
    r"The [\w -]+ looks to fit in here\.?",
)]
_TW_STATE_WORDS = {"empty", "open", "opened", "closed", "locked", "unlocked", "on", "off"}
_TW_ATTR = re.compile(r"The ([\w -]+?) (?:is|looks) (?:an? )?([\w -]+)[.!]")
_TW_EMPTY = [re.compile(p) for p in (
    r"But there isn't a thing on it\.", r"But the thing is empty(?:, unfortunately)?\.",
    r"Unfortunately, there isn't a thing on it\.", r"But the thing hasn't got anything on it\.",
    r"However, the [\w -]+, like an empty [\w -]+, has nothing on it\.", r"Empty!",
    r"Looks like someone's already been here and taken everything off it, though\.",
    r"[Tt]here's nothing on this piece of \w+\.", r"Silly [\w -]+, silly, empty, good for nothing [\w -]+\.",
    r"It would have been so cool if there was stuff on the [\w -]+[.!]",
)]
_TW_EMPTY_THE = re.compile(r"The ([\w -]+?) (?:appears to be empty|is empty!?)\.?")
_TW_EXIT = [re.compile(p) for p in (
    r"You should try going (north|south|east|west)\.",
    r"Why not try going (north|south|east|west), that entranceway is not blocked by one\.",
)]
_TW_SEEN = [re.compile(p) for p in (
    rf"You (?:can )?(?:see|make out) {_OBJ}(?: here| right there by you| in the room| in the corner)?[.!]",
    rf"Here's {_OBJ}\.", rf"Look over there, {_OBJ}\.", rf"Because look over there, it's {_OBJ}\.",
    rf"You hear a noise behind you and spin around, but you can't see anything other than {_OBJ}\.",
    rf"If you haven't noticed it already, there seems to be something there by the wall, it's {_OBJ}\.",
    rf"You smell an? \w+ smell, and follow it to {_OBJ}\.",
    rf"You rest your hand against a wall, but you miss the wall and fall onto {_OBJ}\.",
    rf"When you stand up, you notice {_OBJ}\.", rf"You see a gleam over in a corner, where you can see {_OBJ}\.",
    rf"You scan the room, seeing {_OBJ}\.", rf"It's a- oh, never mind, it's just {_OBJ}\.",
    rf"As if things weren't amazing enough already, you can even see {_OBJ}\.",
    rf"The wall opens up to reveal {_OBJ}\.", rf"What a coincidence, weren't you just thinking about {_OBJ}\?",
    r"(An? [\w -]+?) is right there by you\.", rf"You make out {_OBJ}, which looks \w+, in the corner\.",
    rf"{_OBJ}[.!]",
)]
_TW_SPLIT = re.compile(r"(?<=[.!?])\s+")
_TW_THIS = re.compile(r"This\.\.\. ([\w -]+)\?")
NOTHING_NOTABLE = "Nothing notable."


def _tw_sentence(sent: str) -> str | None:
    if sent in _TW_OBJECTIVE or any(p.fullmatch(sent) for p in _TW_DROP):
        return None
    if sent == "Your score has just gone up by one point.":
        return "Score +1."
    if sent.startswith('You open the copy of "Cooking'):
        return "Cookbook:"
    if any(p.fullmatch(sent) for p in _TW_EMPTY):
        return "It is empty."
    m = _TW_EMPTY_THE.fullmatch(sent)
    if m:
        return f"The {m.group(1)} is empty."
    for p in _TW_EXIT:
        m = p.fullmatch(sent)
        if m:
            return f"There is an exit to the {m.group(1)}."
    for p in _TW_SEEN:
        m = p.fullmatch(sent)
        if m:
            obj = m.group(1)
            return f"You see {obj[0].lower()}{obj[1:]}."
    m = _TW_ATTR.fullmatch(sent)
    if m and m.group(2) not in _TW_STATE_WORDS:
        return None
    return sent


def abstract(text: str, budget: int) -> str:
    """TextWorld reply without flavour text, canonical exits/sightings, room header and messages kept in order."""
    lines: list[tuple[str, bool]] = []
    for raw_line in text.splitlines():
        line = _TW_THIS.sub(lambda m: f"You see a {m.group(1)}.", squeeze(raw_line))
        if not line:
            continue
        kept = []
        for sent in _TW_SPLIT.split(line):
            out = _tw_sentence(sent)
            if out is not None and (not kept or kept[-1] != out):
                kept.append(out)
        if kept:
            joined = " ".join(kept)
            lines.append((joined, joined.startswith("-= ") or joined == "Score +1."))
    if not lines:
        return NOTHING_NOTABLE if text.strip() else ""
    return fit_parts(lines, budget, "\n")


# ---- the tw-cooking world (TextWorld 1.7: textworld/challenges/tw_cooking/cooking.py) -------------------------
#: furniture that is a container (it opens and closes; its contents show only when open)
CONTAINERS = frozenset({"fridge", "refrigerator", "oven", "toolbox"})
#: furniture that is a supporter (things lie on it)
SUPPORTERS = frozenset({"counter", "table", "kitchen island", "stove", "shelf", "BBQ", "patio table", "patio chair",
                        "showcase", "sofa", "couch", "bed", "toilet", "workbench"})
#: heat sources and what cooking with each does to a food
HEAT_SOURCES = {"stove": "fried", "oven": "roasted", "BBQ": "grilled"}
#: the room where "prepare meal" works (the recipe's cooking location)
COOKING_ROOM = "Kitchen"
KNIFE = "knife"
MEAL = "meal"
#: food -> its properties: e edible raw, d drinkable, c cookable, n needs cooking (edible once cooked), x cuttable
FOODS = {
    "egg": "cn", "milk": "d", "water": "d", "vegetable oil": "", "peanut oil": "", "olive oil": "",
    "chicken wing": "cn", "chicken leg": "cn", "chicken breast": "cn", "pork chop": "cnx", "red tuna": "cnx",
    "white tuna": "cnx", "carrot": "ecx", "red onion": "ecx", "white onion": "ecx", "yellow onion": "ecx",
    "lettuce": "ecx", "red potato": "cnx", "yellow potato": "cnx", "purple potato": "cnx", "red apple": "ecx",
    "yellow apple": "ecx", "green apple": "ecx", "banana": "ecx", "tomato": "ecx", "red hot pepper": "ecx",
    "green hot pepper": "ecx", "red bell pepper": "ecx", "yellow bell pepper": "ecx", "green bell pepper": "ecx",
    "orange bell pepper": "ecx", "black pepper": "e", "flour": "e", "salt": "e", "sugar": "e",
    "block of cheese": "ecx", "cilantro": "ex", "parsley": "ex",
}
#: how a food's name is prefixed once cooked / cut ("a sliced roasted red potato"); "raw" marks a needs-cooking food
_COOKED = frozenset({"raw", "fried", "roasted", "grilled", "burned"})
_CUT = {"slice": "sliced", "dice": "diced", "chop": "chopped"}

# ---- the parser ------------------------------------------------------------------------------------------------
#: messages of the game a line (or a sentence) can be, in the order they are tried: (kind, pattern)
EVENTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((kind, re.compile(p)) for kind, p in (
    ("reveal", r"You open the ([\w -]+), revealing (.+)\."),
    ("take", r"You (?:take|pick up) the ([\w -]+?) from (?:the )?([\w -]+)\."),
    ("put", r"You (?:put|drop|insert) the ([\w -]+?) (?:on|into|in) (?:the )?([\w -]+)\."),
    ("cook", r"You (fried|roasted|grilled) the ([\w -]+)\."),
    ("burn", r"You burned the ([\w -]+)!"),
    ("cut", r"You (dice|chop|slice) the ([\w -]+)\."),
    ("meal", r"Adding the meal to your inventory\."),
    ("missing", r"Something still needs to be (\w+)\."),
    ("eat_meal", r"You eat the meal\..*"),
    ("eat", r"You eat the ([\w -]+)\."),
    ("cookbook", r"Cookbook:"),
    ("open", r"You (open|close) (?:the )?([\w -]+)\."),
    ("inventory", r"You are carrying(.*)"),
    ("nothing", r"Nothing notable\."),
))
_HEADER = re.compile(r"-= (.+) =-")
_SPLIT = re.compile(r"(?<=[.!?])\s+")
_EXIT = re.compile(r"There is an exit to the (north|south|east|west)\.")
_DOOR = re.compile(r"There is an? (closed|open|locked) ([\w -]+? door) leading (north|south|east|west)\.")
_ON = re.compile(r"On the ([\w -]+?) (?:you (?:can )?(?:see|make out)|is|are) (.+)\.")
_IN = re.compile(r"(?:The ([\w -]+?) contains|In the ([\w -]+?) (?:is|are)) (.+)\.")
_AT = re.compile(r"(?:You see|There (?:is|are)) (.+) on the ([\w -]+)\.")
_EMPTY = re.compile(r"(?:It|The ([\w -]+?)) is empty\b.*")
_CLOSED = re.compile(r"It is closed\.|You can't see inside it because the lid's in your way\.")
_OPENED = re.compile(r"It is open\.|You can see inside it\.")
_DRINK = re.compile(r"You drink the ([\w -]+)\.")
_DIRECTION = re.compile(r"(?:slice|dice|chop|roast|fry|grill) the .+|prepare meal")
_HOLDERS = sorted(CONTAINERS | SUPPORTERS, key=len, reverse=True)
_MENTION = re.compile(r"\b(?:(closed|open|opened|locked) (?:[\w-]+ ){0,2}?)?(" + "|".join(_HOLDERS) + r")\b")
_ARTICLE = re.compile(r"(?:an?|the|some) ")
_ITEMS = re.compile(r", and |, | and ")
_FLOOR = ("floor", "ground")


class Event(NamedTuple):
    """One game message: its kind (a name of EVENTS) and the pattern's groups."""

    kind: str
    groups: tuple[str, ...]


@dataclass
class View:
    """What abstract texts show of the world (see the module docstring); "" as a holder is the floor."""

    #: the last room header ("" when none is shown) and every header, in order
    room: str = ""
    rooms: list[str] = field(default_factory=list)
    #: directions of exits without a door
    exits: set[str] = field(default_factory=set)
    #: door -> (direction, open); direction "" when not shown
    doors: dict[str, tuple[str, bool]] = field(default_factory=dict)
    #: furniture -> open (a container: True / False) or None (a supporter)
    furniture: dict[str, bool | None] = field(default_factory=dict)
    #: holder -> the things shown on / in it ("" the floor)
    contents: dict[str, list[str]] = field(default_factory=dict)
    inventory: list[str] = field(default_factory=list)
    #: food -> how it is cooked ("fried", "roasted", "grilled", "burned"; absent: not cooked)
    cooked: dict[str, str] = field(default_factory=dict)
    #: food -> how it is cut ("sliced", "diced", "chopped"; absent: uncut)
    cut: dict[str, str] = field(default_factory=dict)
    #: the recipe's ingredients once the cookbook is shown
    recipe: list[str] = field(default_factory=list)
    #: the game messages, one per line whose whole text is one (first matching kind of EVENTS)
    events: list[Event] = field(default_factory=list)
    score_up: bool = False
    lost: bool = False


def _event(text: str) -> Event | None:
    """The game message `text` is as a whole (the first kind of EVENTS whose pattern matches it), or None."""
    for kind, pattern in EVENTS:
        m = pattern.fullmatch(text)
        if m:
            return Event(kind, m.groups())
    return None


def _thing(phrase: str, view: View) -> str:
    """The name of an item phrase ("a sliced roasted red potato" -> "red potato"), its cooking and cutting noted."""
    words = _ARTICLE.sub("", phrase.strip(), count=1).split()
    cooked = cut = ""
    while len(words) > 1 and (words[0] in _COOKED or words[0] in _CUT.values()):
        if words[0] in _COOKED:
            cooked = words[0]
        else:
            cut = words[0]
        words = words[1:]
    name = " ".join(words)
    if cooked and cooked != "raw":
        view.cooked[name] = cooked
    if cut:
        view.cut[name] = cut
    return name


def _things(listing: str, view: View) -> list[str]:
    """The names of a listing "a tomato, a raw red potato and a knife" (a part without an article is flavour)."""
    return [_thing(p, view) for p in _ITEMS.split(listing) if _ARTICLE.match(p.strip())]


def _holder(name: str) -> str:
    return "" if name in _FLOOR else name


def _place(view: View, holder: str, things: list[str]) -> None:
    """`holder` shows exactly `things` (a container showing its contents is open)."""
    holder = _holder(holder)
    view.contents[holder] = things
    if holder:
        _see(view, holder, True if holder in CONTAINERS else None)


def _see(view: View, holder: str, is_open: bool | None) -> None:
    """`holder` is in the room: a container open / closed as `is_open` says (None: as known, else closed)."""
    if holder in CONTAINERS:
        known = view.furniture.get(holder)
        view.furniture[holder] = is_open if is_open is not None else (known if known is not None else False)
    else:
        view.furniture[holder] = None


def _move(view: View, thing: str, source: str | None, target: str | None) -> None:
    """`thing` leaves `source` (a holder, or None: the inventory) for `target` (a holder, or None: the inventory)."""
    if source is None:
        view.inventory = [t for t in view.inventory if t != thing]
    elif thing in view.contents.get(source, []):
        view.contents[source] = [t for t in view.contents[source] if t != thing]
    if target is None:
        if thing not in view.inventory:
            view.inventory.append(thing)
    else:
        view.contents.setdefault(target, [])
        if thing not in view.contents[target]:
            view.contents[target].append(thing)


def _apply(view: View, ev: Event) -> None:
    """The world change of one game message."""
    g = ev.groups
    if ev.kind == "reveal":
        _place(view, g[0], _things(g[1], view))
    elif ev.kind == "take":
        _move(view, _thing(g[0], view), _holder(g[1]), None)
        if _holder(g[1]):
            _see(view, g[1], True if g[1] in CONTAINERS else None)
    elif ev.kind == "put":
        _move(view, _thing(g[0], view), None, _holder(g[1]))
        if _holder(g[1]):
            _see(view, g[1], True if g[1] in CONTAINERS else None)
    elif ev.kind in ("cook", "burn", "cut", "eat"):
        food = g[-1]
        if ev.kind == "cook":
            view.cooked[food] = g[0]
        elif ev.kind == "burn":
            view.cooked[food] = "burned"
        elif ev.kind == "cut":
            view.cut[food] = _CUT[g[0]]
        if ev.kind == "eat":
            view.inventory = [t for t in view.inventory if t != food]
        elif food not in view.inventory:
            view.inventory.append(food)
    elif ev.kind == "meal":
        view.inventory = [t for t in view.inventory if t not in view.recipe] + [MEAL]
    elif ev.kind == "eat_meal":
        view.inventory = [t for t in view.inventory if t != MEAL]
    elif ev.kind == "open":
        is_open, what = g[0] == "open", g[1]
        if what.endswith(" door"):
            view.doors[what] = (view.doors.get(what, ("", False))[0], is_open)
        else:
            _see(view, what, is_open)
    elif ev.kind == "inventory":
        rest = g[0].strip().rstrip(".")
        view.inventory = [] if rest == "nothing" else _things(rest.removeprefix(":"), view)


def _sentence(view: View, sent: str, last: list[str]) -> None:
    """Fold one sentence into `view`; `last` holds the furniture mentioned last (what "It is empty." is about)."""
    for status, name in _MENTION.findall(sent):
        _see(view, name, status in ("open", "opened") if status else None)
        last[:] = [name]
    if sent == "Score +1.":
        view.score_up = True
    elif sent == "*** You lost!":
        view.lost = True
    elif m := _EXIT.fullmatch(sent):
        view.exits.add(m.group(1))
    elif m := _DOOR.fullmatch(sent):
        view.doors[m.group(2)] = (m.group(3), m.group(1) == "open")
    elif m := _ON.fullmatch(sent):
        _place(view, m.group(1), _things(m.group(2), view))
    elif m := _IN.fullmatch(sent):
        _place(view, m.group(1) or m.group(2), _things(m.group(3), view))
    elif (m := _AT.fullmatch(sent)) and (m.group(2) in _FLOOR or m.group(2) in view.furniture):
        _place(view, m.group(2), _things(m.group(1), view))
    elif m := _EMPTY.fullmatch(sent):
        holder = m.group(1) or (last[0] if last else "")
        if holder:
            _place(view, holder, [])
    elif _CLOSED.fullmatch(sent) and last:
        _see(view, last[0], False)
    elif _OPENED.fullmatch(sent) and last:
        _see(view, last[0], True)
    elif m := _DRINK.fullmatch(sent):
        view.inventory = [t for t in view.inventory if t != m.group(1)]
    elif ev := _event(sent):
        _apply(view, ev)


def read_state(text: str) -> str:
    """The abstract state as the rules read it: abstracted within READ_BUDGET (and cut to it, as EnvSpec.observe)."""
    return truncate(abstract(str(text), READ_BUDGET), READ_BUDGET)


def parse_state(*texts: str) -> View:
    """The View of abstract (or raw) state texts, read in order: a later room header starts a new room (the
    inventory, the foods' state and the recipe carry over), later messages update what earlier ones showed."""
    view = View()
    part = ""  # the part of the cookbook being read: "Ingredients:", "Directions:" or "" (none)
    for text in texts:
        text = str(text)
        for line in abstract(text, READ_BUDGET + 2 * len(text)).splitlines():  # whole: no budget cut
            ev = _event(line)
            if ev is not None:
                view.events.append(ev)
            if m := _HEADER.fullmatch(line):
                view.room = m.group(1)
                view.rooms.append(view.room)
                view.exits, view.doors, view.furniture, view.contents = set(), {}, {}, {}
                continue
            if line in ("Ingredients:", "Directions:"):
                part = line
                if line == "Ingredients:":
                    view.recipe = []
                continue
            if part == "Ingredients:":
                view.recipe.append(line)
                continue
            if part == "Directions:" and _DIRECTION.fullmatch(line):
                continue
            part = ""
            last: list[str] = []  # "It is empty." is about the furniture named last on its line
            for sent in _SPLIT.split(line):
                _sentence(view, sent, last)
    return view


# ---- admissible actions ----------------------------------------------------------------------------------------
def _edible(view: View, thing: str) -> bool:
    if view.cooked.get(thing) == "burned":
        return False
    props = FOODS.get(thing, "")
    return thing == MEAL or "e" in props or ("n" in props and thing in view.cooked)


def _cookable(view: View, thing: str) -> bool:
    return (thing == MEAL or "c" in FOODS.get(thing, "")) and view.cooked.get(thing) != "burned"


def _cuttable(view: View, thing: str) -> bool:
    return "x" in FOODS.get(thing, "") and thing not in view.cut


def admissible(view: View) -> list[str]:
    """The commands `view` makes admissible, sorted (TextWorld's format; see the module docstring)."""
    cmds = {"look", "inventory"}
    cmds |= {f"go {d}" for d in view.exits}
    for door, (direction, is_open) in view.doors.items():
        cmds.add(f"close {door}" if is_open else f"open {door}")
        if is_open and direction:
            cmds.add(f"go {direction}")
    supporters = [h for h, o in view.furniture.items() if o is None]
    open_containers = [h for h, o in view.furniture.items() if o is True]
    for holder, is_open in view.furniture.items():
        cmds.add(f"examine {holder}")
        if is_open is not None:
            cmds.add(f"close {holder}" if is_open else f"open {holder}")
    for holder, things in view.contents.items():
        if holder and view.furniture.get(holder, True) is False:
            continue
        for thing in things:
            cmds |= {f"examine {thing}", f"take {thing} from {holder}" if holder else f"take {thing}"}
    knife = KNIFE in view.inventory
    for thing in view.inventory:
        cmds.add(f"drop {thing}")
        cmds |= {f"put {thing} on {s}" for s in supporters}
        cmds |= {f"insert {thing} into {c}" for c in open_containers}
        if _edible(view, thing):
            cmds.add(f"eat {thing}")
        if "d" in FOODS.get(thing, ""):
            cmds.add(f"drink {thing}")
        if _cookable(view, thing):
            cmds |= {f"cook {thing} with {h}" for h in HEAT_SOURCES if h in view.furniture}
        if knife and _cuttable(view, thing):
            cmds |= {f"{verb} {thing} with {KNIFE}" for verb in _CUT}
    if view.room == COOKING_ROOM and view.recipe and all(i in view.inventory for i in view.recipe):
        cmds.add("prepare meal")
    return sorted(cmds)


def actions(task_text: str, state: str, env_kwargs: Mapping[str, Any], history: Sequence[str] = ()) -> list[str]:
    """The admissible commands of abstract `state` after the episode's earlier replies `history` (oldest first)
    and the task block `task_text`; `env_kwargs` (the difficulty settings) change nothing."""
    return admissible(parse_state(task_text, *history, state))
