"""The experience model's text formats: abstract states, the prompt, the target and its strict parser.

The experience model reads a prompt and writes a target (one causal-LM completion):

    prompt  = <task>{task}</task>[<ref>…</ref>…][<hist><obs>{s}</obs><act>{a}</act>…</hist>]<obs>{s}</obs><act>{a}</act>
    target  = <think>{reasoning}</think><valid>{0|1}</valid><next>{next state}</next><reward>{r}</reward><done>{0|1}</done>

    abstract_state("babyai", raw_observation, budget_chars=600)    # the state text the model reads and writes
    prompt = build_prompt(task, history, retrieved, state, action, env="babyai", history_window=2, budget=3072)
    target = format_target("moved ahead; goal not reached", True, next_state, 0.0, False)
    pred = parse_target(generated)           # Prediction(...) or ParseFailure(reason); never raises

Tags. Every markup tag is in `SPECIAL_TOKENS`, so a tokenizer can make each one token. `<obs>`/`<act>` mark a
state/action everywhere (history, retrieved transitions, the current step); a retrieved transition (`<ref>`) is
written with the target's own tags, so the model sees the exact format it must produce. `STOP` ends generation.

Abstract states (DESIGN.md "Environment conventions"): a per-env function in the `STATE_ABSTRACTIONS` registry
keeps what the dynamics need and trims what they do not, within a char budget. It is idempotent
(abstract(abstract(x)) == abstract(x)), so the same function serves the context, the target next state and the
model's own predictions, and an exact match between predicted and real next state is meaningful.
- babyai: a lossless compact rewrite of the describer ("There is a red ball 1, 4 steps in front of you and
  3 steps to your right." -> "red ball 1: 4 ahead 3 right"); objects farthest last are dropped over budget.
- textcraft: the recipe list (constant per episode) leaves the state for the task block (`task_context`);
  "minecraft:x_y" ids become "x y" (and the game's Python repr of an item "4 x y"); the inventory line is
  always kept.
- textworld: the objective (in the task block), the final score line and TextWorld's flavour sentences are
  dropped; exits, sightings, emptiness and score messages get one canonical wording each (their random
  template variants are not predictable); a flavour-only reply becomes "Nothing notable.".
- scienceworld: "the agent" / "a substance called air" lines dropped, room and door lines shortened; the
  "[Location: … Inventory: …]" line is always kept.
Simplifications: rules are written from the seed data of the four envs (unknown sentences are kept verbatim,
then budgeted); budgets are in characters, not tokens (tokenizer-independent); a plug-in env registers its own
abstraction (or reuses `generic_abstraction`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from dreamgym.errors import DreamGymError
from dreamgym.registry import Registry

# ---------------------------------------------------------------------------------------------------------------
# tags


def _tag(name: str) -> tuple[str, str]:
    return f"<{name}>", f"</{name}>"


TASK_OPEN, TASK_CLOSE = _tag("task")
HIST_OPEN, HIST_CLOSE = _tag("hist")
REF_OPEN, REF_CLOSE = _tag("ref")
OBS_OPEN, OBS_CLOSE = _tag("obs")
ACT_OPEN, ACT_CLOSE = _tag("act")
THINK_OPEN, THINK_CLOSE = _tag("think")
VALID_OPEN, VALID_CLOSE = _tag("valid")
NEXT_OPEN, NEXT_CLOSE = _tag("next")
REWARD_OPEN, REWARD_CLOSE = _tag("reward")
DONE_OPEN, DONE_CLOSE = _tag("done")

#: every markup tag of prompts and targets (open and close), each meant to be one token
SPECIAL_TOKENS: tuple[str, ...] = (TASK_OPEN, TASK_CLOSE, HIST_OPEN, HIST_CLOSE, REF_OPEN, REF_CLOSE, OBS_OPEN,
                                   OBS_CLOSE, ACT_OPEN, ACT_CLOSE, THINK_OPEN, THINK_CLOSE, VALID_OPEN, VALID_CLOSE,
                                   NEXT_OPEN, NEXT_CLOSE, REWARD_OPEN, REWARD_CLOSE, DONE_OPEN, DONE_CLOSE)
#: generation stops after this string: the target is complete
STOP = DONE_CLOSE
#: marks text cut to fit a budget
ELLIPSIS = "…"

_TAG_RE = re.compile("|".join(re.escape(t) for t in sorted(SPECIAL_TOKENS, key=len, reverse=True)))


class FormatError(DreamGymError, ValueError):
    """A value cannot be written in the experience model's format (e.g. it contains a markup tag)."""


def has_tag(text: str) -> bool:
    """True if `text` contains one of the markup tags of SPECIAL_TOKENS."""
    return bool(_TAG_RE.search(text))


def strip_tags(text: str) -> str:
    """`text` with every markup tag removed (for free text from elsewhere, e.g. an annotator's reply)."""
    return _TAG_RE.sub(" ", text)


# ---------------------------------------------------------------------------------------------------------------
# target: format and parse


def format_reward(reward: float) -> str:
    """The compact reward text: "0", "1", or up to 3 decimals without trailing zeros ("0.25")."""
    r = float(reward)
    if not math.isfinite(r) or not 0.0 <= r <= 1.0:
        raise FormatError(f"reward must be a finite number in [0, 1], got {reward!r}")
    text = f"{r:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def _check_field(name: str, value: str) -> str:
    if not isinstance(value, str):
        raise FormatError(f"{name} must be a string, got {type(value).__name__}")
    if has_tag(value):
        raise FormatError(f"{name} contains a markup tag ({_TAG_RE.search(value).group(0)}); strip_tags() it first")
    return value.strip()


def format_target(reasoning: str, valid: bool, next_state: str, reward: float, done: bool,
                  with_reasoning: bool = True) -> str:
    """The target text: `<think>…</think><valid>…</valid><next>…</next><reward>…</reward><done>…</done>`.

    Fields are stripped; `with_reasoning=False` (the no-reasoning ablation) omits the think block. Raises
    FormatError for an empty next state, a field holding a markup tag, a reward outside [0, 1], or an invalid
    action with a nonzero reward (an invalid action yields reward 0).
    """
    reasoning = _check_field("reasoning", reasoning)
    next_state = _check_field("next_state", next_state)
    if not next_state:
        raise FormatError("next_state is empty; the target needs a next state")
    rtext = format_reward(reward)
    if not valid and float(rtext) > 0:
        raise FormatError(f"an invalid action must have reward 0, got {reward!r}")
    think = f"{THINK_OPEN}{reasoning}{THINK_CLOSE}" if with_reasoning else ""
    return (f"{think}{VALID_OPEN}{int(bool(valid))}{VALID_CLOSE}{NEXT_OPEN}{next_state}{NEXT_CLOSE}"
            f"{REWARD_OPEN}{rtext}{REWARD_CLOSE}{DONE_OPEN}{int(bool(done))}{DONE_CLOSE}")


@dataclass(frozen=True)
class Prediction:
    """A parsed target. `reasoning` is "" when the think block is absent."""

    reasoning: str
    valid: bool
    next_state: str
    reward: float
    done: bool
    ok: ClassVar[bool] = True


@dataclass(frozen=True)
class ParseFailure:
    """Why a text is not a well-formed target (`reason`: one line; `text`: the start of the input)."""

    reason: str
    text: str = ""
    ok: ClassVar[bool] = False


#: what may follow </done>: whitespace and end-of-sequence markers such as </s>, <eos>, <|endoftext|>
_TRAILING_RE = re.compile(r"(?:\s|</s>|<eos>|<pad>|<end_of_turn>|<\|[A-Za-z0-9_]{1,40}\|>)*")
_REWARD_RE = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def parse_target(text: str, require_reasoning: bool | None = None) -> Prediction | ParseFailure:
    """Parse a generated target strictly; never raises.

    All tags must be present in order (`<think>` optional unless `require_reasoning=True`; forbidden if False),
    valid/done must be 0 or 1, reward a finite number in [0, 1] (0 for an invalid action), the next state
    non-empty; no field may hold a markup tag. Leading whitespace is ignored, and after `</done>` only
    whitespace and end-of-sequence markers are tolerated. Returns a Prediction or a ParseFailure naming the
    first problem.
    """
    try:
        return _parse(text, require_reasoning)
    except Exception as e:  # defensive: the contract is "never raises"
        return ParseFailure(f"parser error: {type(e).__name__}", str(text)[:200] if text is not None else "")


def _parse(text: Any, require_reasoning: bool | None) -> Prediction | ParseFailure:
    if not isinstance(text, str):
        return ParseFailure(f"not a string but {type(text).__name__}")
    head = text[:200]
    rest = text.lstrip()
    reasoning = ""
    if rest.startswith(THINK_OPEN):
        if require_reasoning is False:
            return ParseFailure("unexpected <think> block (reasoning disabled)", head)
        end = rest.find(THINK_CLOSE, len(THINK_OPEN))
        if end < 0:
            return ParseFailure("unclosed <think>", head)
        reasoning = rest[len(THINK_OPEN):end]
        if has_tag(reasoning):
            return ParseFailure("a markup tag inside <think>", head)
        reasoning = reasoning.strip()
        rest = rest[end + len(THINK_CLOSE):]
    elif require_reasoning:
        return ParseFailure("missing <think> block", head)
    fields = {}
    for name, (op, cl) in (("valid", (VALID_OPEN, VALID_CLOSE)), ("next", (NEXT_OPEN, NEXT_CLOSE)),
                           ("reward", (REWARD_OPEN, REWARD_CLOSE)), ("done", (DONE_OPEN, DONE_CLOSE))):
        if not rest.startswith(op):
            found = rest[:12]
            return ParseFailure(f"expected {op} but found {found!r}" if found else f"truncated before {op}", head)
        end = rest.find(cl, len(op))
        if end < 0:
            return ParseFailure(f"unclosed {op}", head)
        value = rest[len(op):end]
        if has_tag(value):
            return ParseFailure(f"a markup tag inside {op}", head)
        fields[name] = value
        rest = rest[end + len(cl):]
    if _TRAILING_RE.fullmatch(rest) is None:
        return ParseFailure(f"unexpected text after {DONE_CLOSE}: {rest[:30]!r}", head)
    if fields["valid"] not in ("0", "1"):
        return ParseFailure(f"<valid> must be 0 or 1, got {fields['valid'][:20]!r}", head)
    if fields["done"] not in ("0", "1"):
        return ParseFailure(f"<done> must be 0 or 1, got {fields['done'][:20]!r}", head)
    rtext = fields["reward"].strip()
    if _REWARD_RE.fullmatch(rtext) is None:
        return ParseFailure(f"<reward> is not a number: {rtext[:20]!r}", head)
    reward = float(rtext)
    if not math.isfinite(reward) or not 0.0 <= reward <= 1.0:
        return ParseFailure(f"<reward> {rtext[:20]} is outside [0, 1]", head)
    valid = fields["valid"] == "1"
    if not valid and reward > 0:
        return ParseFailure("an invalid action must have reward 0", head)
    next_state = fields["next"].strip()
    if not next_state:
        return ParseFailure("empty <next>", head)
    return Prediction(reasoning, valid, next_state, reward, fields["done"] == "1")


# ---------------------------------------------------------------------------------------------------------------
# abstract states

#: default char budget of one abstract state (p95 of the seed data after abstraction is below it for all envs)
DEFAULT_STATE_BUDGET = 600
#: below this a budget cannot hold a useful state
MIN_STATE_BUDGET = 24

STATE_ABSTRACTIONS = Registry("state abstraction")
#: decorator: `@register_state_abstraction("myenv")` on `fn(text, budget_chars) -> str` (must be idempotent)
register_state_abstraction = STATE_ABSTRACTIONS.register


def _squeeze(text: str) -> str:
    return " ".join(str(text).split())


def truncate(text: str, budget: int) -> str:
    """`text` cut to at most `budget` chars, ending with ELLIPSIS when cut."""
    if len(text) <= budget:
        return text
    return text[: max(0, budget - len(ELLIPSIS))].rstrip(" \n;,") + ELLIPSIS


def fit_parts(parts: Sequence[tuple[str, bool]], budget: int, sep: str) -> str:
    """Join (text, required) parts with `sep` within `budget` chars, keeping their order.

    Required parts are always kept (the result is hard-truncated if they alone overflow); optional parts are
    kept first come, first served while they fit, and the first dropped one is replaced by ELLIPSIS.
    """
    parts = [(p, req) for p, req in parts if p]
    total = len(sep.join(p for p, _ in parts))
    if total <= budget:
        return sep.join(p for p, _ in parts)
    need = len(sep.join(p for p, req in parts if req))
    need += len(sep) + len(ELLIPSIS) if need else len(ELLIPSIS)
    kept: list[str] = []
    marked = False
    for p, req in parts:
        if req:
            kept.append(p)
        elif not marked and need + len(sep) + len(p) <= budget:
            kept.append(p)
            need += len(sep) + len(p)
        elif not marked:
            kept.append(ELLIPSIS)
            marked = True
    return truncate(sep.join(kept), budget)


def _check_budget(budget_chars: int) -> int:
    b = int(budget_chars)
    if b < MIN_STATE_BUDGET:
        raise DreamGymError(f"state budget_chars={budget_chars} is below the minimum {MIN_STATE_BUDGET}")
    return b


def abstract_state(env: str, text: str, budget_chars: int = DEFAULT_STATE_BUDGET) -> str:
    """The abstract state of `env` for a raw (or already abstract) observation, at most `budget_chars` chars.

    Idempotent; never empty for a non-empty input. Unknown env -> UnknownNameError listing the registered ones.
    """
    fn = STATE_ABSTRACTIONS.get(env)
    out = fn(str(text), _check_budget(budget_chars))
    return truncate(out, int(budget_chars))


@register_state_abstraction("generic")
def generic_abstraction(text: str, budget: int) -> str:
    """Whitespace squeezed per line, blank lines dropped, lines kept in order within the budget."""
    lines = [_squeeze(line) for line in text.splitlines()]
    return fit_parts([(line, False) for line in lines if line], budget, "\n")


# ---- babyai ---------------------------------------------------------------------------------------------------
_BA_SPLIT = re.compile(r"(?<=\.)\s+|;\s*")
_BA_OBJ = re.compile(r"There is an? ((?:open |closed |locked )?\w+ \w+ \d+), (.+)\.")
_BA_AHEAD = re.compile(r"right in front of you (\d+) steps away")
_BA_SIDE = re.compile(r"(\d+) steps to your (left|right)")
_BA_BOTH = re.compile(r"(\d+) steps in front of you and (\d+) steps to your (left|right)")
_BA_WALL_AHEAD = re.compile(r"You are facing a wall (\d+) steps away\.")
_BA_WALL_SIDE = re.compile(r"There is a wall (\d+) steps to your (left|right)(?: and (\d+) steps to your (right))?\.")
_BA_CARRY = re.compile(r"You are carrying an? (\w+ \w+)\.")
_BA_FIXED = {"You are not carrying anything.": "carrying nothing", "You see no objects.": "no objects",
             "The task is completed.": "task completed"}


def _ba_where(where: str) -> str | None:
    m = _BA_BOTH.fullmatch(where)
    if m:
        return f"{m.group(1)} ahead {m.group(2)} {m.group(3)}"
    m = _BA_AHEAD.fullmatch(where)
    if m:
        return f"{m.group(1)} ahead"
    m = _BA_SIDE.fullmatch(where)
    if m:
        return f"{m.group(1)} {m.group(2)}"
    return None


@register_state_abstraction("babyai")
def babyai_abstraction(text: str, budget: int) -> str:
    """BabyAI describer text -> "red ball 1: 4 ahead 3 right; wall: 6 ahead, 2 left; carrying nothing".

    Lossless for the describer's sentences (others, e.g. an invalid-action message, are kept verbatim without
    their final periods). Over budget, the farthest objects (listed last) are dropped first.
    """
    parts: list[tuple[str, bool]] = []
    walls: list[str] = []
    wall_at: int | None = None
    for sent in _BA_SPLIT.split(_squeeze(text)):
        sent = sent.strip()
        if not sent:
            continue
        m = _BA_OBJ.fullmatch(sent)
        where = _ba_where(m.group(2)) if m else None
        if m and where:
            parts.append((f"{m.group(1)}: {where}", False))
            continue
        m = _BA_WALL_AHEAD.fullmatch(sent)
        if m:
            walls.insert(0, f"{m.group(1)} ahead")
            wall_at = len(parts) if wall_at is None else wall_at
            continue
        m = _BA_WALL_SIDE.fullmatch(sent)
        if m:
            walls.append(f"{m.group(1)} {m.group(2)}")
            if m.group(3):
                walls.append(f"{m.group(3)} {m.group(4)}")
            wall_at = len(parts) if wall_at is None else wall_at
            continue
        m = _BA_CARRY.fullmatch(sent)
        if m:
            parts.append((f"carrying {m.group(1)}", True))
            continue
        if sent in _BA_FIXED:
            parts.append((_BA_FIXED[sent], True))
            continue
        sent = sent.rstrip(". ")  # kept verbatim; without its final period it never re-matches a rule above
        if sent:
            parts.append((sent, True))
    if walls:
        parts.insert(wall_at, ("wall: " + ", ".join(walls), True))
    if not parts:
        return _squeeze(text)
    return fit_parts(parts, budget, "; ")


# ---- textcraft ------------------------------------------------------------------------------------------------
_TC_RECIPE = re.compile(r"craft \d+ .+ using .+")
_TC_ID = re.compile(r"minecraft:([a-z0-9_]+)")
_TC_REPR = re.compile(r"ItemTagWithCount\(item_tag=ItemTag\(tag=(?:'([^']*)'|None), item_id=(?:'([^']*)'|None)\), "
                      r"count=(\d+)\)")


def _tc_names(text: str) -> str:
    text = _TC_REPR.sub(lambda m: f"{m.group(3)} {m.group(2) or m.group(1) or 'unknown item'}", text)
    return _TC_ID.sub(lambda m: m.group(1).replace("_", " "), text)


@register_state_abstraction("textcraft")
def textcraft_abstraction(text: str, budget: int) -> str:
    """TextCraft observation without its recipe list (see task_context), ids as names, inventory line kept."""
    parts: list[tuple[str, bool]] = []
    for line in text.splitlines():
        line = _squeeze(line)
        if not line or line == "Crafting commands:" or _TC_RECIPE.fullmatch(line):
            continue
        parts.append((_tc_names(line), line.startswith(("Inventory:", "Goal:"))))
    if not parts:
        return _squeeze(text)
    return fit_parts(parts, budget, "\n")


def textcraft_recipes(text: str) -> list[str]:
    """The "craft N x using …" recipe lines of a TextCraft observation (the first one lists them)."""
    return [_squeeze(line) for line in text.splitlines() if _TC_RECIPE.fullmatch(_squeeze(line))]


# ---- textworld ------------------------------------------------------------------------------------------------
_TW_OBJECTIVE = ("You are hungry!", "Let's cook a delicious meal.", "Check the cookbook in the kitchen for the recipe.",
                 "Once done, enjoy your meal!")
_OBJ = r"(an? [\w'-]+(?: [\w'-]+)*?)"
_ROOM = r"(?:an?|the) [\w -]+"
_TW_DROP = [re.compile(p) for p in (
    r"You scored \d+ out of a possible \d+, in \d+ turns?\.",
    r"Recipe #\d+", r"-{3,}", r"Gather all following ingredients and follow the directions to prepare this tasty meal\.",
    r".*\bText[Ww]orld\b.*",
    rf"You(?: find yourself in| are in| arrive in|'ve entered|'ve just shown up in|'ve just walked into|"
    rf"'ve just sauntered into|'re now in) {_ROOM}\.",
    rf"You make another one of your grand eccentric entrances into {_ROOM}\.",
    rf"Well, here we are in {_ROOM}\.", rf"That is to say, you're in {_ROOM}\.",
    rf"I just think it's great that you've just entered {_ROOM}\.", rf"It's not every day someone gets to be in {_ROOM}\.",
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


@register_state_abstraction("textworld")
def textworld_abstraction(text: str, budget: int) -> str:
    """TextWorld reply without flavour text, canonical exits/sightings, room header and messages kept in order."""
    lines: list[tuple[str, bool]] = []
    for raw_line in text.splitlines():
        line = _TW_THIS.sub(lambda m: f"You see a {m.group(1)}.", _squeeze(raw_line))
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


# ---- scienceworld ---------------------------------------------------------------------------------------------
_SW_ROOM = re.compile(r"This (?:room|outside location) is called the ([\w -]+)\. (?:In it|Here), you see:")
_SW_DOOR = re.compile(r"A door to the ([\w -]+) \(that is (open|closed)\)")
_SW_DROP = {"the agent", "a substance called air", "You also see:"}


@register_state_abstraction("scienceworld")
def scienceworld_abstraction(text: str, budget: int) -> str:
    """ScienceWorld reply without the agent/air lines, short room and door lines, the Location line kept."""
    parts: list[tuple[str, bool]] = []
    for raw_line in text.splitlines():
        line = _squeeze(raw_line)
        if not line or line in _SW_DROP:
            continue
        m = _SW_ROOM.fullmatch(line)
        if m:
            line = f"In the {m.group(1)} you see:"
        else:
            line = _SW_DOOR.sub(lambda d: f"door to {d.group(1)} ({d.group(2)})", line)
        parts.append((line, line.startswith(("[Location:", "door to "))))
    if not parts:
        return _squeeze(text)
    return fit_parts(parts, budget, "\n")


# ---------------------------------------------------------------------------------------------------------------
# task context

TASK_CONTEXTS = Registry("task context")
#: decorator: `@register_task_context("myenv")` on `fn(instruction, first_state) -> str`
register_task_context = TASK_CONTEXTS.register


@register_task_context("textcraft")
def _textcraft_context(instruction: str, first_state: str | None) -> str:
    recipes = textcraft_recipes(first_state or "")
    return _squeeze(instruction) + ("\n" + "\n".join(recipes) if recipes else "")


def task_context(env: str, instruction: str, first_state: str | None = None) -> str:
    """The task block's text: the instruction plus what the env shows once but the dynamics need all episode.

    textcraft: the instruction and the recipe lines of the first observation (abstract states drop them).
    Other envs (and envs without a registered task context): the instruction alone, whitespace squeezed.
    """
    if env in TASK_CONTEXTS.names():
        return TASK_CONTEXTS.get(env)(instruction, first_state)
    return _squeeze(instruction)


# ---------------------------------------------------------------------------------------------------------------
# prompt

#: default char budget of a whole prompt
DEFAULT_PROMPT_BUDGET = 3072
#: an action longer than this is cut (no env takes commands this long)
MAX_ACTION_CHARS = 200


def _field(row: Any, key: str, where: str) -> Any:
    if isinstance(row, Mapping):
        if key not in row:
            raise DreamGymError(f"{where} has no '{key}'; it needs state, action"
                                + (", next_state, reward, done, valid_action" if where.startswith("retrieved") else ""))
        return row[key]
    return getattr(row, key)


def _history_pairs(history: Sequence[Any]) -> list[tuple[str, str]]:
    out = []
    for i, h in enumerate(history):
        if isinstance(h, Mapping) or (hasattr(h, "state") and hasattr(h, "action")):
            out.append((str(_field(h, "state", f"history[{i}]")), str(_field(h, "action", f"history[{i}]"))))
        elif isinstance(h, Sequence) and not isinstance(h, str) and len(h) in (2, 3):
            out.append((str(h[0]), str(h[1])))
        else:
            raise DreamGymError(f"history[{i}] must be (state, action[, next_state]) or a Step-like dict, "
                                f"got {type(h).__name__}")
    return out


def _clean(text: str) -> str:
    return strip_tags(text) if has_tag(text) else text


def build_prompt(instruction: str, history: Sequence[Any], retrieved: Sequence[Mapping[str, Any]], state: str,
                 action: str, *, env: str, history_window: int = 2, budget: int = DEFAULT_PROMPT_BUDGET,
                 state_budget: int = DEFAULT_STATE_BUDGET) -> str:
    """The experience model's prompt for (state, action), at most `budget` chars; deterministic.

    instruction: the task text (see task_context). history: the episode's earlier steps, oldest first, as
    (state, action[, next_state]) tuples or Step-like dicts; the last `history_window` are shown (0: no
    history block); their next states are the following entries' states, so they are not repeated.
    retrieved: transitions from the replay buffer (dicts with state, action, next_state, reward, done,
    valid_action), best first; empty: no reference block. Every state goes through abstract_state(env, ·,
    state_budget) (idempotent, so abstract input is fine); markup tags in texts are removed.

    Budget order: the current state and action; then the task (lines after the first dropped from the end to
    fit, the first cut if it must be); then the history (latest first, stopping at the first entry that does
    not fit); then the references (in rank order, skipping those that do not fit). Layout: task, references,
    history, current step (the latest context sits next to the target).
    """
    if history_window < 0:
        raise DreamGymError(f"history_window must be >= 0, got {history_window}")

    def st(text: str) -> str:
        return abstract_state(env, _clean(str(text)), state_budget)

    def act(text: str) -> str:
        return truncate(_squeeze(_clean(str(text))), MAX_ACTION_CHARS)

    cur = f"{OBS_OPEN}{st(state)}{OBS_CLOSE}{ACT_OPEN}{act(action)}{ACT_CLOSE}"
    room = budget - len(cur) - len(TASK_OPEN) - len(TASK_CLOSE)
    if room < 16:
        raise DreamGymError(f"prompt budget={budget} chars cannot hold the current state and action "
                            f"({len(cur)} chars); raise the budget or lower state_budget={state_budget}")
    task_lines = [line.strip() for line in _clean(str(instruction)).splitlines() if line.strip()]
    task_text = fit_parts([(line, i == 0) for i, line in enumerate(task_lines)], room, "\n")
    task = f"{TASK_OPEN}{task_text}{TASK_CLOSE}"
    left = budget - len(cur) - len(task)

    hist_items: list[str] = []
    pairs = _history_pairs(history)[-history_window:] if history_window else []
    wrap = len(HIST_OPEN) + len(HIST_CLOSE)
    for s, a in reversed(pairs):
        item = f"{OBS_OPEN}{st(s)}{OBS_CLOSE}{ACT_OPEN}{act(a)}{ACT_CLOSE}"
        if len(item) + (wrap if not hist_items else 0) > left:
            break
        left -= len(item) + (wrap if not hist_items else 0)
        hist_items.insert(0, item)
    hist = f"{HIST_OPEN}{''.join(hist_items)}{HIST_CLOSE}" if hist_items else ""

    refs = []
    for i, r in enumerate(retrieved):
        where = f"retrieved[{i}]"
        valid = bool(_field(r, "valid_action", where))
        reward = float(_field(r, "reward", where)) if valid else 0.0
        ns = st(_field(r, "next_state", where))
        if not ns.strip():
            continue
        body = (f"{OBS_OPEN}{st(_field(r, 'state', where))}{OBS_CLOSE}{ACT_OPEN}{act(_field(r, 'action', where))}"
                f"{ACT_CLOSE}{format_target('', valid, ns, reward, bool(_field(r, 'done', where)), False)}")
        item = f"{REF_OPEN}{body}{REF_CLOSE}"
        if len(item) <= left:
            refs.append(item)
            left -= len(item)
    return task + "".join(refs) + hist + cur
