"""TextCraft's observation: the abstract state, the task block, and the one parser of both.

    state = abstract(raw_observation, 600)                   # "Got 2 oak logs\nInventory: 2 oak logs"
    task = task_context("craft chest", first_observation)    # instruction + the recipe lines
    parse_state(state).inventory                             # {"oak logs": 2}; raw text is abstracted first
    parse_recipes([task])                                    # [Recipe(4, "oak planks", ((1, "oak logs"),)), ...]

The abstract state drops the recipe list (constant per episode: it moves to the task block) and the
"Crafting commands:" header, writes "minecraft:x_y" ids as "x y" (and the game's Python repr of an item as
"4 x y"), and always keeps the inventory and goal lines. It is idempotent. Everything in this package that reads
a state or the recipes goes through `parse_state` / `parse_recipes`.

Simplifications: an inventory item is parsed as "<count> <name>" split on ", " (no item name holds ", ");
a state with no inventory line but the goal line is the first observation, whose inventory is empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from dreamgym.envs.text import READ_BUDGET, fit_parts, squeeze

#: a recipe line of the first observation: "craft 4 oak planks using 1 oak logs"
_RECIPE = re.compile(r"craft (\d+) (.+?) using (.+)")
#: a "<count> <item>" part of a recipe or of the inventory line
_COUNT = re.compile(r"(\d+) (.+)")
_INVENTORY = re.compile(r"^Inventory: (.*)$", re.M)
_ID = re.compile(r"minecraft:([a-z0-9_]+)")
_REPR = re.compile(r"ItemTagWithCount\(item_tag=ItemTag\(tag=(?:'([^']*)'|None), item_id=(?:'([^']*)'|None)\), "
                   r"count=(\d+)\)")


def _names(text: str) -> str:
    text = _REPR.sub(lambda m: f"{m.group(3)} {m.group(2) or m.group(1) or 'unknown item'}", text)
    return _ID.sub(lambda m: m.group(1).replace("_", " "), text)


def is_recipe_line(line: str) -> bool:
    """Whether a (squeezed) line is a "craft N x using …" recipe of the first observation."""
    return _RECIPE.fullmatch(line) is not None


def abstract(text: str, budget: int) -> str:
    """TextCraft observation without its recipe list (see task_context), ids as names, inventory line kept."""
    parts: list[tuple[str, bool]] = []
    for line in text.splitlines():
        line = squeeze(line)
        if not line or line == "Crafting commands:" or is_recipe_line(line):
            continue
        parts.append((_names(line), line.startswith(("Inventory:", "Goal:"))))
    if not parts:
        return squeeze(text)
    return fit_parts(parts, budget, "\n")


def textcraft_recipes(text: str) -> list[str]:
    """The "craft N x using …" recipe lines of a TextCraft observation (the first one lists them)."""
    return [squeeze(line) for line in text.splitlines() if is_recipe_line(squeeze(line))]


def task_context(instruction: str, first_state: str | None = None) -> str:
    """The task block: the instruction and the recipe lines of the first observation (abstract states drop them)."""
    recipes = textcraft_recipes(first_state or "")
    return squeeze(instruction) + ("\n" + "\n".join(recipes) if recipes else "")


# ---- the parser ----------------------------------------------------------------------------------------------
class Recipe(NamedTuple):
    """One recipe line: `count` of `output` from `inputs` ((count, item) pairs, in listed order)."""

    count: int
    output: str
    inputs: tuple[tuple[int, str], ...]


def parse_recipes(texts: Sequence[str]) -> list[Recipe]:
    """The well-formed recipe lines of `texts` (the task block, or a first observation), in order."""
    out = []
    for text in texts:
        for line in str(text).splitlines():
            m = _RECIPE.fullmatch(squeeze(line))
            if not m:
                continue
            ins = [_COUNT.fullmatch(p.strip()) for p in m.group(3).split(",")]
            if all(ins):
                out.append(Recipe(int(m.group(1)), m.group(2), tuple((int(i.group(1)), i.group(2)) for i in ins)))
    return out


def parse_inventory(text: str) -> dict[str, int] | None:
    """The "Inventory:" line of an abstract state as {item: count} (in listed order); None if there is none."""
    m = _INVENTORY.search(text)
    if m is None:
        return None
    body = m.group(1).strip()
    out: dict[str, int] = {}
    if body in ("", "empty"):
        return out
    for part in body.split(", "):
        c = _COUNT.fullmatch(part.strip())
        if c:
            out[c.group(2)] = out.get(c.group(2), 0) + int(c.group(1))
    return out


def inventory_line(inventory: Mapping[str, int]) -> str:
    """The inventory line the env writes for `inventory` ("Inventory: 2 oak logs, 4 oak planks" or "… empty")."""
    return "Inventory: " + (", ".join(f"{n} {k}" for k, n in inventory.items() if n > 0) or "empty")


@dataclass(frozen=True)
class TextCraftState:
    """An abstract TextCraft state, read: the game's reply, the inventory shown, whether it is the first one."""

    #: the abstract state
    text: str
    #: its first line: the game's reply to the action ("" for an empty state)
    message: str
    #: the inventory line as {item: count}, in listed order; None when the state shows none
    inventory: Mapping[str, int] | None
    #: the first observation of an episode (the goal line; nothing fetched yet)
    initial: bool

    @property
    def held(self) -> dict[str, int] | None:
        """What the agent holds: the inventory shown, {} in the first observation, None when unknown."""
        if self.inventory is not None:
            return dict(self.inventory)
        return {} if self.initial else None


def parse_state(text: str) -> TextCraftState:
    """Read a raw or abstract TextCraft state (it is abstracted first, with the rules' READ_BUDGET)."""
    s = abstract(str(text), READ_BUDGET)
    return TextCraftState(text=s, message=s.splitlines()[0] if s else "", inventory=parse_inventory(s),
                          initial=s.startswith("Goal:") or "Crafting commands" in s)
