"""BabyAI's task grammar for generated tasks: the missions a generated instruction may be, and the rules' variants.

    parse_mission("pick up the red ball on your left")    # ("pickup", "red", "ball", "left")
    parse_mission("pick up the pink ball")                # "unknown colour 'pink' ..." (a reason)
    task = task_from_text(parent, "pick up a blue key")   # a Task in the parent's world (same level and seed)
    task_variants(parent.instruction, first_observation, random.Random(0), 3)   # ["pick up the green ball", ...]

A generated task keeps its parent's level and seed (the same grid) and carries its mission in
`spec["mission"]`; the real env (env.py `_reset`) builds minigrid's instruction for it on the reset grid, so
minigrid verifies success and the BabyAI bot plans for it as for a level's own mission. A mission no object of
the grid matches is infeasible: that reset raises DreamGymError.

The grammar is the single-clause part of minigrid's baby language (verifier.py ObjDesc.surface), lowercase,
words separated by single spaces:

    pick up (the|a) [<colour>] <ball|box|key> [<loc>]
    go to   (the|a) [<colour>] <ball|box|key|door> [<loc>]
    <colour>: red green blue purple yellow grey
    <loc>:    in front of you | behind you | on your left | on your right

Locations are minigrid's: relative to the agent's starting pose, within the room it starts in.

Simplifications: the article is not checked against the grid ("the" for a unique object, "a" otherwise, as
minigrid writes it; both verify the same); "object" (no type), "open", "put ... next to" and compound missions
("... and ...", "..., then ...", "... after you ...") are unsupported. Variants are written from what the
first observation shows: colour and type of the visible objects the instruction does not describe, with a
location only where the observation shows no door (then every visible object is in the agent's room).
"""

from __future__ import annotations

import hashlib
import random

from dreamgym.data.schema import Task
from dreamgym.envs.babyai.observation import COLORS, PICKABLE, Sighting, parse_state

#: the instruction kinds of the grammar: their opening words and minigrid's name
KINDS = {"pick up": "pickup", "go to": "goto"}
#: the object types each kind may name
TYPES = {"pickup": PICKABLE, "goto": (*PICKABLE, "door")}
#: minigrid's location phrases (ObjDesc.surface) and their LOC_NAMES
LOCS = {"in front of you": "front", "behind you": "behind", "on your left": "left", "on your right": "right"}
_LOC_PHRASE = {v: k for k, v in LOCS.items()}
_COMPOUND = (" and ", ", then ", " then ", " after you ", " next to ")

#: a parsed mission: (kind, colour or None, type, loc or None), kind "pickup" / "goto", loc a LOCS value
Mission = tuple[str, str | None, str, str | None]


def normalize(text: str) -> str:
    """The text with surrounding whitespace stripped and every run of whitespace one space."""
    return " ".join(str(text).split())


def parse_mission(text: str) -> Mission | str:
    """(kind, colour, type, loc) of a mission of the grammar (see the module docstring), or the reason it is not
    one."""
    text = normalize(text)
    if not text:
        return "empty instruction"
    if text != text.lower():
        return "not lowercase"
    opening = next((p for p in KINDS if text.startswith(p + " ") or text == p), None)
    if opening is None:
        return f"unsupported instruction: only 'pick up ...' and 'go to ...' are, got '{text[:60]}'"
    kind, rest = KINDS[opening], text[len(opening):].strip()
    if any(c in f" {rest} " for c in _COMPOUND) or "," in rest:
        return f"unsupported compound instruction '{text[:60]}'"
    loc = next((name for phrase, name in LOCS.items() if rest.endswith(" " + phrase)), None)
    if loc is not None:
        rest = rest[: -len(_LOC_PHRASE[loc]) - 1]
    words = rest.split()
    if not words or words[0] not in ("the", "a"):
        return f"expected 'the' or 'a' after '{opening}'"
    words = words[1:]
    if not words:
        return "no object named"
    if len(words) > 2:
        return f"malformed object description '{' '.join(words)}'"
    color, typ = (None, words[0]) if len(words) == 1 else words
    if color is not None and color not in COLORS:
        return f"unknown colour '{color}' (one of: {', '.join(COLORS)})"
    if typ not in TYPES[kind]:
        return f"'{typ}' is not an object type '{opening}' takes (one of: {', '.join(TYPES[kind])})"
    return kind, color, typ, loc


def mission_text(kind: str, color: str | None, typ: str, loc: str | None = None, article: str = "the") -> str:
    """The mission of the grammar for (kind, colour, type, loc): minigrid's wording."""
    opening = next(p for p, k in KINDS.items() if k == kind)
    words = [opening, article, *([color] if color else []), typ, *([_LOC_PHRASE[loc]] if loc else [])]
    return " ".join(words)


def task_from_text(parent: Task, text: str) -> Task | str:
    """A generated task of mission `text` in `parent`'s world (same level and seed), or the reason it is not one."""
    text = normalize(text)
    parsed = parse_mission(text)
    if isinstance(parsed, str):
        return parsed
    if text == normalize(parent.instruction) or parsed == parse_mission(parent.instruction):
        return "same as the parent"
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return Task(task_id=f"{parent.task_id}-g{digest}", env="babyai", instruction=text, split=parent.split,
                spec={**parent.spec, "mission": text}, source="generated", parent_task_id=parent.task_id)


def _describes(mission: Mission | str, color: str, typ: str) -> bool:
    """Whether a parsed mission's object description (its location aside) fits an object of colour and type."""
    if isinstance(mission, str):
        return False
    _, m_color, m_type, _ = mission
    return m_type == typ and m_color in (None, color)


def _locs(o: Sighting) -> list[str]:
    """The location names that hold for an object in view at the start (front > 0: ahead; right: the side)."""
    out = ["front"] if o.front > 0 else []
    if o.right:
        out.append("right" if o.right > 0 else "left")
    return out


def task_variants(instruction: str, first_observation: str, rng: random.Random, n: int) -> list[str]:
    """Up to `n` distinct missions of objects the first observation shows that `instruction` does not describe
    (its kind; "pick up" when it is not of the grammar): colour and type first, then with a location; the
    article is "a" where several visible objects fit, else "the". Shuffled by `rng`."""
    parsed = parse_mission(instruction)
    kind = parsed[0] if not isinstance(parsed, str) else "pickup"
    objects = [o for o in parse_state(first_observation).objects if o.type in TYPES[kind]
               and not _describes(parsed, o.color, o.type)]
    with_loc = not any(o.type == "door" for o in parse_state(first_observation).objects)

    def article(color: str, typ: str, loc: str | None) -> str:
        fits = [o for o in objects if (o.color, o.type) == (color, typ) and (loc is None or loc in _locs(o))]
        return "a" if len(fits) > 1 else "the"

    plain = list(dict.fromkeys(mission_text(kind, o.color, o.type, None, article(o.color, o.type, None))
                               for o in objects))
    located = list(dict.fromkeys(mission_text(kind, o.color, o.type, loc, article(o.color, o.type, loc))
                                 for o in objects if with_loc and o.type != "door" for loc in _locs(o)))
    rng.shuffle(plain)
    rng.shuffle(located)
    own = normalize(instruction)
    return [m for m in plain + located if m != own][: max(0, int(n))]
