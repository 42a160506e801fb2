"""TextCraft's rules: the computing and the hindsight annotators, the context-only simulator and the
context-determined rule.

    note = annotate(state, "get 2 oak logs", next_state, 0.0, False, True,
                    {"instruction": "craft chest", "context": [task_block]})
    # "get 2 oak logs: oak logs is an ingredient no listed recipe makes: fetched. oak logs 1+2=3. goal chest not made: reward 0."
    annotate_hindsight(state, "get 2 oak logs", next_state, 0.0, False, True, {"instruction": "craft chest"})
    # "Valid: oak logs is a base item, fetched. Inventory: +2 oak logs. The goal chest is not crafted yet: reward 0."
    textcraft_predict([task_block], "Inventory: 1 oak logs", "get 2 oak logs")
    # ("Got 2 oak logs\nInventory: 3 oak logs", True)
    determined([task_block], state, action, next_state, valid)

Annotators. `annotate` (the default) computes: it runs the simulator below on the context and writes its steps
(the recipe found, each count checked, each inventory update as arithmetic, the goal), so the experience model
learns to carry out the rule, as the paper's reasoning does, and the trace holds only what the context
determines. `annotate_hindsight` (experience.annotator: hindsight) explains the real outcome after the fact:
why a get/craft worked or failed (missing inputs named), the inventory delta and the goal. Both read states
through `observation.parse_state` (raw or abstract). `info` may carry "context" (the task block and history
states), "instruction" (the goal) and "truncated"/"lost"/"failed".

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


def annotate_hindsight(state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
                       info: Mapping[str, Any] | None = None) -> str:
    """TextCraft, in hindsight: why a get/craft worked or failed (missing inputs named), the inventory delta and
    the goal, read off the real outcome (experience.annotator: hindsight)."""
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
def _craft(recipes: Sequence[Recipe], inv: dict[str, int], out_part: str, in_part: str,
           notes: list[str] | None = None) -> tuple[str, bool] | None:
    """The game's reply to "craft <out_part> using <in_part>" from the listed recipes (None: not listed); each
    step of the rule is appended to `notes` when given (the computing annotator's trace)."""
    notes = [] if notes is None else notes
    out_m = _GAME_COUNT.match(out_part)
    out_name = out_m.group(2) if out_m else out_part
    ins = []
    for part in in_part.split(","):
        pm = _GAME_COUNT.match(part.strip())
        if pm is None:
            notes.append(f"'{part.strip()}' is not 'N item': invalid.")
            return f"Wrong item format: {part.strip()}\n{inventory_line(inv)}", False
        ins.append((int(pm.group(1)), pm.group(2)))
    short = next(((n, name) for n, name in ins if inv.get(name, 0) < n), None)
    if short is not None:
        notes.append(f"needs {short[0]} {short[1]}, have {inv.get(short[1], 0)}: not enough, invalid.")
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
            steps = []
            for n, name in ins:
                steps.append(f"{name} {inv[name]}-{n}={inv[name] - n}")
                inv[name] -= n
                if inv[name] == 0:
                    del inv[name]
            steps.append(f"{out_name} {inv.get(out_name, 0)}+{recipe.count}={inv.get(out_name, 0) + recipe.count}")
            inv[out_name] = inv.get(out_name, 0) + recipe.count
            notes.append(f"recipe {recipe.count} {out_name} <- {', '.join(f'{n} {m}' for n, m in recipe.inputs)}: "
                         f"inputs held. {'; '.join(steps)}.")
            return f"Crafted {recipe.count} {out_name}\n{inventory_line(inv)}", True
    if listed:  # the listed recipes of the item do not take these inputs
        n_out = int(out_m.group(1)) if out_m else 1
        notes.append(f"the listed recipes of {out_name} take other inputs: invalid.")
        return f"Could not find a valid recipe for {n_out} {out_name}\n{inventory_line(inv)}", False
    notes.append(f"no listed recipe makes {out_name}: the game decides.")
    return None


def _get(recipes: Sequence[Recipe], inv: dict[str, int], amount: int, item: str,
         notes: list[str] | None = None) -> tuple[str, bool] | None:
    """The game's reply to "get <amount> <item>": craftable items are refused, ingredients fetched (None:
    unknown); the rule's steps go to `notes` when given."""
    notes = [] if notes is None else notes
    if item in {r.output for r in recipes}:
        notes.append(f"a listed recipe makes {item}, so it cannot be fetched: invalid.")
        return f"Could not find {item}\n{inventory_line(inv)}", False
    if item in {name for r in recipes for _, name in r.inputs}:
        notes.append(f"{item} is an ingredient no listed recipe makes: fetched. "
                     f"{item} {inv.get(item, 0)}+{amount}={inv.get(item, 0) + amount}.")
        inv[item] = inv.get(item, 0) + amount
        return f"Got {amount} {item}\n{inventory_line(inv)}", True
    notes.append(f"{item} is in no listed recipe: the game decides.")
    return None


def textcraft_predict(context: Sequence[str], state: str, action: str,
                      notes: list[str] | None = None) -> tuple[str, bool] | None:
    """(abstract next state, valid) that TextCraft's rules give from the context alone, or None if they need
    what the context does not show (an unlisted recipe, an item of unknown kind, an unknown inventory). The
    rule's steps (recipe found, counts checked, inventory arithmetic) are appended to `notes` when given."""
    notes = [] if notes is None else notes
    recipes = parse_recipes(context)
    inv = parse_state(state).held
    if inv is None:
        notes.append("the inventory is not shown: the game decides.")
        return None
    a = squeeze(action)
    if (m := _GAME_CRAFT.match(a)) is not None:
        return _craft(recipes, inv, m.group(1), m.group(2), notes)
    if (m := _GAME_GET.match(a)) is not None:
        return _get(recipes, inv, int(m.group(1)), m.group(2), notes)
    if _GAME_INVENTORY.match(a):
        notes.append("it lists the inventory: nothing changes.")
        return inventory_line(inv), True
    notes.append("not a get, craft or inventory command: invalid.")
    return f"Could not execute {a}\n{inventory_line(inv)}", False


def determined(context: Sequence[str], state: str, action: str, next_state: str, valid: bool) -> bool:
    """The context-only TextCraft simulator reproduces the real next state and validity."""
    pred = textcraft_predict(context, state, action)
    if pred is None:
        return False
    return pred[1] == bool(valid) and squeeze(pred[0]) == squeeze(abstract(next_state, READ_BUDGET))


def annotate(state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
             info: Mapping[str, Any] | None = None) -> str:
    """TextCraft's computing rationale: the game's rule applied step by step to the context alone (the listed
    recipes of `info["context"]`, the inventory of the state): which recipe, each count checked, each inventory
    update as arithmetic ("oak logs 3-1=2; oak planks 0+4=4"), then whether the goal is made. Only what the
    context determines is written; where the rule needs what it does not show, the trace says so ("the game
    decides") and names no outcome. `info`: "context" (the task block and history states), "instruction"."""
    info = info_of(info)
    notes: list[str] = []
    pred = textcraft_predict(list(info.get("context") or ()), state, action, notes)
    goal = goal_of(info)
    made = _GAME_CRAFT.match(squeeze(action))
    made_item = made.group(1) if made else ""
    made_item = m.group(2) if (m := _GAME_COUNT.match(made_item)) else made_item
    if pred is not None and pred[1] and made and goal and made_item == goal:
        notes.append(f"{goal} is the goal: reward 1, done.")
    elif pred is not None or (goal and made_item != goal):
        notes.append(f"goal {goal} not made: reward 0." if goal else "reward 0.")
    return finish(notes, max_words=COMPUTE_WORDS)


#: the word cap of computing rationales (a craft with three inputs writes ~45 words)
COMPUTE_WORDS = 90
annotators = {"hindsight": annotate_hindsight}
