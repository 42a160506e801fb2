"""ScienceWorld's rules: the rule-based annotator of real transitions and the context-determined rule.

    note = annotate(state, "go to kitchen", next_state, 0.0, False, True, {"instruction": task})
    # "Valid. Moves from the hallway to the kitchen. Goal not reached yet: reward 0."
    determined([task_block, *history_states], state, action, next_state, valid)   # every text abstract

- `annotate`: validity, location and inventory deltas from the Location line, the reply's message, the goal;
  both states are read through the one parser (`observation.parse_state`; raw or abstract input, abstraction is
  idempotent).
- `determined`: every entity (noun phrase after an article, "called X") and every number of the next state appears
  in the context (task block, history window, current state) or the action. Opening a container, looking around a
  room never seen, a thermometer reading: not determined.
Simplifications: hindsight rationales (they know the real outcome); no context simulator (the entity rule decides).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dreamgym.envs.scienceworld.observation import INVALID_REPLY, parse_state, short_label
from dreamgym.envs.text import entities_determined, finish, first_sentence, info_of, names, outcome


def _inventory_changes(before: Sequence[str], after: Sequence[str]) -> list[str]:
    """"inventory gains X" / "inventory loses Y" / "the X in the inventory changes state" from two item lists."""
    short0, short1 = [short_label(i) for i in before], [short_label(i) for i in after]
    added = [i for i in short1 if short1.count(i) > short0.count(i)]
    removed = [i for i in short0 if short0.count(i) > short1.count(i)]
    out = []
    if added:
        out.append(f"inventory gains {names(added, 2)}")
    if removed:
        out.append(f"inventory loses {names(removed, 2)}")
    if not added and not removed and list(before) != list(after):
        changed = [b for a, b in zip(before, after, strict=False) if a != b]
        out.append(f"the {names([short_label(c) for c in changed], 2)} in the inventory changes state")
    return out


def _effect(msg: str, changes: Sequence[str]) -> str:
    """The sentence on the reply's message ("" when a move's location/inventory change says it all)."""
    if msg.startswith("In the ") and msg.endswith("you see:"):
        return "Looking lists the room's contents."
    if "already" in msg:
        return f"No effect: {first_sentence(msg)}."
    if msg.startswith(("You move to", "You move the", "You go to")) and changes:
        return ""
    return f"Effect: {first_sentence(msg)}."


def annotate(state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
             info: Mapping[str, Any] | None = None) -> str:
    """ScienceWorld: validity, location and inventory deltas from the Location line, the message, the goal."""
    info = info_of(info)
    s, n = parse_state(state), parse_state(next_state)
    msg = n.message
    if not valid_action:
        why = "no known action matches this input" if msg.startswith(INVALID_REPLY) else f"\"{first_sentence(msg)}\""
        return finish([f"Invalid: {why}; nothing changes.", outcome(0.0, done, info)])
    parts = ["Valid."]
    changes = []
    if s.location is not None and n.location is not None:
        if s.location != n.location:
            changes.append(f"moves from the {s.location} to the {n.location}")
        changes += _inventory_changes(s.inventory, n.inventory)
    effect = _effect(msg, changes)
    if effect:
        parts.append(effect)
    if changes:
        parts.append(changes[0][:1].upper() + changes[0][1:] + "".join(f"; {c}" for c in changes[1:]) + ".")
    elif effect.startswith("Looking"):
        parts.append("Nothing changes.")
    parts.append(outcome(reward, done, info))
    return finish(parts)


def determined(context: Sequence[str], state: str, action: str, next_state: str, valid: bool) -> bool:
    """Every entity and number of the next state appears in the context (the task block and the history window's
    states), the current state or the action; every text abstract."""
    return entities_determined([*context, state], action, next_state)
