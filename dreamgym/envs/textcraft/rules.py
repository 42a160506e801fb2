"""TextCraft's rules: the rule-based annotator, the context-only simulator and the context-determined rule.

    note = annotate(state, "get 2 oak logs", next_state, 0.0, False, True, {"instruction": "craft chest"})
    # "Valid: oak logs is a base item, fetched. Inventory: +2 oak logs. The goal chest is not crafted yet: reward 0."
    textcraft_predict([task_block], "Inventory: 1 oak logs", "get 2 oak logs")
    # ("Got 2 oak logs\nInventory: 3 oak logs", True)
    determined([task_block], state, action, next_state, valid)

Annotator: why a get/craft worked or failed (missing inputs named), the inventory delta and the goal; it reads
states through `observation.parse_state` (raw or abstract). `info` may carry "instruction" (the goal) and
"truncated"/"lost"/"failed".

Simulator (`textcraft_predict`): the game's rules applied to the context alone. It reads the recipes from the
task block and the inventory from the state, and applies get / craft / inventory with counts and the inventory
order; an item that is only a recipe ingredient is taken as a base item (gettable), and a recipe input matches an
action input of the same name or one ending with it ("planks" <- "oak planks"). Inputs that match none of the
item's listed recipes give "no valid recipe". It breaks where the game needs what the context does not show:
`get` of an ingredient that is craftable through an unlisted recipe ("stick") or is a tag ("planks"), `get` of an
item no recipe names, crafts of an item whose recipe is not listed (or whose unlisted recipe takes these inputs),
a name suffix that is not a tag member. A transition is context-determined when the simulator reproduces the
real next state and validity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from dreamgym.envs.text import READ_BUDGET, delta, finish, format_reward, info_of, names, outcome, squeeze
from dreamgym.envs.textcraft.observation import (
    Recipe,
    abstract,
    inventory_line,
    parse_recipes,
    parse_state,
)

# the annotator's reading of an action (for its wording)
_ACT_COUNT = re.compile(r"^(\d+) (.+)$")
_ACT_CRAFT = re.compile(r"^craft (.+?) using (.+)$")
_ACT_GET = re.compile(r"^get (\d+) (.+)$")
# the game's own action patterns (textcraft.env.TextCraft.action_regexes), as the simulator applies them
_GAME_CRAFT = re.compile(r"craft (.*) using (.*)")
_GAME_GET = re.compile(r"get ([0-9]+) (.*)")
_GAME_INVENTORY = re.compile("inventory")
_GAME_COUNT = re.compile(r"([0-9]+) (.*)")


def goal_of(info: Mapping[str, Any]) -> str:
    """The goal item named by info["instruction"] ("craft chest" or "Goal: craft chest." -> "chest"), or ""."""
    first = str(info.get("instruction", "")).strip().splitlines()[:1]
    m = re.match(r"(?:craft|Goal: craft) (.+?)\.?$", first[0]) if first else None
    return m.group(1) if m else ""


def _missing(inputs: str, held: Mapping[str, int]) -> list[str]:
    """The "N item (have M)" inputs of a craft action's input list that `held` does not cover."""
    out = []
    for ing in inputs.split(","):
        m = _ACT_COUNT.match(ing.strip())
        if m and held.get(m.group(2), 0) < int(m.group(1)):
            out.append(f"{m.group(1)} {m.group(2)} (have {held.get(m.group(2), 0)})")
    return out


def _verdict(action: str, message: str, valid_action: bool, held: Mapping[str, int] | None) -> str:
    """The first sentence of a rationale: why the action was valid or not."""
    get, craft = _ACT_GET.match(action), _ACT_CRAFT.match(action)
    if valid_action:
        if get:
            return f"Valid: {get.group(2)} is a base item, fetched."
        if craft:
            return f"Valid: a recipe makes {craft.group(1)} from these inputs, all held."
        if action.startswith("inventory"):
            return "Valid: it lists the inventory; nothing changes."
        return "Valid."
    if message.startswith("Could not find enough items"):
        missing = _missing(craft.group(2), held) if craft and held is not None else []
        why = f"needs {names(missing, 2)}" if missing else "the inputs must be concrete items held in these counts"
        return f"Invalid: not enough items, {why}; nothing changes."
    if message.startswith("Could not find a valid recipe"):
        return "Invalid: no recipe matches these inputs and counts; nothing changes."
    if message.startswith("Could not find "):
        item = message[len("Could not find "):]
        return f"Invalid: {item} is not a base item, so it cannot be fetched; nothing changes."
    return "Invalid: not a well-formed command; nothing changes."


def annotate(state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
                       info: Mapping[str, Any] | None = None) -> str:
    """TextCraft: why a get/craft worked or failed (missing inputs named), the inventory delta, the goal."""
    info = info_of(info)
    before, after = parse_state(state), parse_state(next_state)
    held0, held1 = before.held, after.inventory
    goal = goal_of(info)
    goal_text = f"the goal {goal}" if goal else "the goal"
    parts = [_verdict(squeeze(action), after.message, valid_action, held0)]
    if valid_action and held0 is not None and held1 is not None:
        d = delta(held0, held1)
        parts.append(f"Inventory: {d}." if d else "Inventory unchanged.")
    if float(reward) > 0:
        parts.append(f"Crafted {goal_text}: reward {format_reward(reward)}" + (", done." if done else "."))
    elif done:
        parts.append(outcome(reward, done, info, goal))
    else:
        parts.append(f"{goal_text[:1].upper()}{goal_text[1:]} is not crafted yet: reward 0.")
    return finish(parts)


# ---- the context-only simulator ------------------------------------------------------------------------------
def _craft(recipes: Sequence[Recipe], inv: dict[str, int], out_part: str, in_part: str) -> tuple[str, bool] | None:
    """The game's reply to "craft <out_part> using <in_part>" from the listed recipes (None: not listed)."""
    out_m = _GAME_COUNT.match(out_part)
    out_name = out_m.group(2) if out_m else out_part
    ins = []
    for part in in_part.split(","):
        pm = _GAME_COUNT.match(part.strip())
        if pm is None:
            return f"Wrong item format: {part.strip()}\n{inventory_line(inv)}", False
        ins.append((int(pm.group(1)), pm.group(2)))
    if any(inv.get(name, 0) < n for n, name in ins):
        return f"Could not find enough items to craft {out_name}\n{inventory_line(inv)}", False
    listed = False
    for recipe in recipes:
        if recipe.output != out_name:
            continue
        listed = True
        if len(recipe.inputs) != len(ins):
            continue
        left = list(ins)
        for rn, rname in recipe.inputs:
            hit = next((x for x in left if x[0] == rn and (x[1] == rname or x[1].endswith(" " + rname))), None)
            if hit is None:
                break
            left.remove(hit)
        else:
            for n, name in ins:
                inv[name] -= n
                if inv[name] == 0:
                    del inv[name]
            inv[out_name] = inv.get(out_name, 0) + recipe.count
            return f"Crafted {recipe.count} {out_name}\n{inventory_line(inv)}", True
    if listed:  # the listed recipes of the item do not take these inputs
        n_out = int(out_m.group(1)) if out_m else 1
        return f"Could not find a valid recipe for {n_out} {out_name}\n{inventory_line(inv)}", False
    return None


def _get(recipes: Sequence[Recipe], inv: dict[str, int], amount: int, item: str) -> tuple[str, bool] | None:
    """The game's reply to "get <amount> <item>": craftable items are refused, ingredients fetched (None: unknown)."""
    if item in {r.output for r in recipes}:
        return f"Could not find {item}\n{inventory_line(inv)}", False
    if item in {name for r in recipes for _, name in r.inputs}:
        inv[item] = inv.get(item, 0) + amount
        return f"Got {amount} {item}\n{inventory_line(inv)}", True
    return None


def textcraft_predict(context: Sequence[str], state: str, action: str) -> tuple[str, bool] | None:
    """(abstract next state, valid) that TextCraft's rules give from the context alone, or None if they need
    what the context does not show (an unlisted recipe, an item of unknown kind, an unknown inventory)."""
    recipes = parse_recipes(context)
    inv = parse_state(state).held
    if inv is None:
        return None
    a = squeeze(action)
    if (m := _GAME_CRAFT.match(a)) is not None:
        return _craft(recipes, inv, m.group(1), m.group(2))
    if (m := _GAME_GET.match(a)) is not None:
        return _get(recipes, inv, int(m.group(1)), m.group(2))
    if _GAME_INVENTORY.match(a):
        return inventory_line(inv), True
    return f"Could not execute {a}\n{inventory_line(inv)}", False


def determined(context: Sequence[str], state: str, action: str, next_state: str, valid: bool) -> bool:
    """The context-only TextCraft simulator reproduces the real next state and validity."""
    pred = textcraft_predict(context, state, action)
    if pred is None:
        return False
    return pred[1] == bool(valid) and squeeze(pred[0]) == squeeze(abstract(next_state, READ_BUDGET))
