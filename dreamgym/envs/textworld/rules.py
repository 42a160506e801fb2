"""TextWorld's rules: the rule-based annotator and the context-determined rule.

    note = annotate(state, "open fridge", "You open the fridge, revealing a yellow onion.", 0.0, False, True)
    # "Valid. Opening the fridge reveals what is inside. Goal not reached yet: reward 0."
    determined([task_block, *history_states], state, action, next_state, valid)

Annotator: validity (the game's refusal quoted if invalid), the effect (the room moved to or described, else the
first game message of the reply: take, put, cook, cut, open, eat, the cookbook, ...; else the reply's first
sentence), "+1 point" when a recipe step is done, and why the reward. It reads the next state through
`observation.parse_state` (raw or abstract text: the abstraction is idempotent). `info` may carry "truncated" and
"lost"; a reply showing "*** You lost!" counts as lost.

Context rule: a transition is context-determined when every entity (noun phrase after an article, room header)
and every number of the next state appears in the context (the task block, the history window's states, the
current state) or the action (`dreamgym.envs.text.entities_determined`). Opening a container, entering or looking
around a room never seen, reading the cookbook: not determined.

Simplifications: hindsight rationales (they know the real outcome); no context-only simulator (the entity rule
decides); no SFT augmentation is defined for TextWorld.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dreamgym.envs.text import entities_determined, finish, first_sentence, info_of, outcome
from dreamgym.envs.textworld.observation import Event, parse_state, read_state

_CUT_DONE = {"dice": "diced", "chop": "chopped", "slice": "sliced"}
#: the rationale of a game message, by its kind (observation.EVENTS)
_EFFECTS: dict[str, Callable[[tuple[str, ...]], str]] = {
    "reveal": lambda g: f"Opening the {g[0]} reveals what is inside.",
    "take": lambda g: f"The {g[0]} moves into the inventory.",
    "put": lambda g: f"The {g[0]} leaves the inventory.",
    "cook": lambda g: f"The {g[1]} is now {g[0]}.",
    "burn": lambda g: f"The {g[0]} burns, which loses the game.",
    "cut": lambda g: f"The {g[1]} is now {_CUT_DONE[g[0]]}.",
    "meal": lambda g: "Every recipe step is done, so the meal is made.",
    "missing": lambda g: f"The meal cannot be made yet: something still needs to be {g[0]}.",
    "eat_meal": lambda g: "Eating the prepared meal completes the recipe.",
    "eat": lambda g: f"The {g[0]} is eaten and gone.",
    "cookbook": lambda g: "Reading the cookbook shows the recipe.",
    "open": lambda g: f"The {g[1]} is now {'open' if g[0] == 'open' else 'closed'}.",
    "inventory": lambda g: "It lists the inventory; nothing changes.",
    "nothing": lambda g: "Nothing notable is shown; nothing changes.",
}


def effect(event: Event) -> str:
    """The rationale sentence of one game message."""
    return _EFFECTS[event.kind](event.groups)


def annotate(state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
             info: Mapping[str, Any] | None = None) -> str:
    """TextWorld: validity (the game's refusal if invalid), the effect (room, inventory, cooking), points, goal."""
    info = info_of(info)
    n = read_state(next_state)
    if not valid_action:
        return finish([f"Invalid: the game answers \"{first_sentence(n)}\"; nothing changes.",
                       outcome(0.0, done, info)])
    view = parse_state(n)
    parts = ["Valid."]
    verb = (str(action).split() or [""])[0].lower()
    if view.rooms:
        room = view.rooms[0].lower()
        parts.append(f"It moves to the {room}, described anew." if verb == "go"
                     else f"It describes the {room}; nothing changes.")
    else:
        parts.append(effect(view.events[0]) if view.events else f"Effect: {first_sentence(n)}.")
    if view.score_up:
        parts.append("A recipe step is done (+1 point).")
    if view.lost:
        info = {**info, "lost": True}
    parts.append(outcome(reward, done, info))
    return finish(parts)


def determined(context: Sequence[str], state: str, action: str, next_state: str, valid: bool) -> bool:
    """Every entity and number of the abstract next state appears in the context, the state or the action (each
    read as its abstract state: the task block's objective is flavour, not an entity the game shows)."""
    texts = [read_state(t) for t in [*context, state]]
    return entities_determined(texts, action, read_state(next_state))
