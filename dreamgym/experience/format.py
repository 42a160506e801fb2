"""The experience model's text format: markup tags, the target and its strict parser.

The experience model reads a prompt (experience.prompt) and writes a target (one causal-LM completion):

    target = <think>{reasoning}</think><valid>{0|1}</valid><next>{next state}</next><reward>{r}</reward><done>{0|1}</done>
    (order "decisions_first": <think>…</think><valid>…</valid><reward>…</reward><done>…</done><next>…</next>)

    target = format_target("moved ahead; goal not reached", True, next_state, 0.0, False)
    pred = parse_target(generated)           # Prediction(...) or ParseFailure(reason); never raises
    pred = parse_target(generated, order="decisions_first"); stop_string("decisions_first")  # "</next>"

Field order. "next_first" (the default) writes the next state before the reward and done; "decisions_first" writes
the decisions (validity, reward, done) right after the reasoning, so they are conditioned on the state, action and
task alone and not on a long, error-prone generated state; generation then stops after `</next>`.

Tags. Every markup tag is in `SPECIAL_TOKENS`, so a tokenizer can make each one token. `<obs>`/`<act>` mark a
state/action everywhere (history, retrieved transitions, the current step); a retrieved transition (`<ref>`) is
written with the target's own tags, so the model sees the exact format it must produce. `STOP` ends generation.
States are abstract states, each env's own (its EnvSpec's `observe`).

Task generation (the curriculum's ability of the same weights): the prompt `<task>{task}</task><obs>{first
state}</obs><gen>` asks for a variant task, and the target is `{instruction}</gen>` (`parse_task_text`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from dreamgym.envs.text import format_reward as _format_reward
from dreamgym.errors import DreamGymError

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
GEN_OPEN, GEN_CLOSE = _tag("gen")

#: every markup tag of prompts and targets (open and close), each meant to be one token
SPECIAL_TOKENS: tuple[str, ...] = (TASK_OPEN, TASK_CLOSE, HIST_OPEN, HIST_CLOSE, REF_OPEN, REF_CLOSE, OBS_OPEN,
                                   OBS_CLOSE, ACT_OPEN, ACT_CLOSE, THINK_OPEN, THINK_CLOSE, VALID_OPEN, VALID_CLOSE,
                                   NEXT_OPEN, NEXT_CLOSE, REWARD_OPEN, REWARD_CLOSE, DONE_OPEN, DONE_CLOSE,
                                   GEN_OPEN, GEN_CLOSE)
#: the order of a target's fields after the think block, per order name
ORDERS: dict[str, tuple[str, ...]] = {"next_first": ("valid", "next", "reward", "done"),
                                      "decisions_first": ("valid", "reward", "done", "next")}
_FIELD_TAGS = {"valid": (VALID_OPEN, VALID_CLOSE), "next": (NEXT_OPEN, NEXT_CLOSE),
               "reward": (REWARD_OPEN, REWARD_CLOSE), "done": (DONE_OPEN, DONE_CLOSE)}
#: generation stops after this string: the target (in the default order) is complete; see stop_string()
STOP = DONE_CLOSE

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


def check_order(order: str) -> tuple[str, ...]:
    """The field names of target order `order` (a key of ORDERS); FormatError for another name."""
    if order not in ORDERS:
        raise FormatError(f"unknown target order '{order}'; choose one of: {', '.join(ORDERS)}")
    return ORDERS[order]


def stop_string(order: str = "next_first") -> str:
    """The close tag of the last field of `order`: generation stops after it."""
    return _FIELD_TAGS[check_order(order)[-1]][1]


def format_reward(reward: float) -> str:
    """The compact reward text: "0", "1", or up to 3 decimals without trailing zeros ("0.25")."""
    try:
        return _format_reward(reward)
    except DreamGymError as e:
        raise FormatError(str(e)) from None


def _check_field(name: str, value: str) -> str:
    if not isinstance(value, str):
        raise FormatError(f"{name} must be a string, got {type(value).__name__}")
    if has_tag(value):
        raise FormatError(f"{name} contains a markup tag ({_TAG_RE.search(value).group(0)}); strip_tags() it first")
    return value.strip()


def format_target(reasoning: str, valid: bool, next_state: str, reward: float, done: bool,
                  with_reasoning: bool = True, order: str = "next_first") -> str:
    """The target text: `<think>…</think><valid>…</valid><next>…</next><reward>…</reward><done>…</done>`, the
    fields after the think block in `order` (see ORDERS).

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
    values = {"valid": str(int(bool(valid))), "next": next_state, "reward": rtext, "done": str(int(bool(done)))}
    return think + "".join(f"{_FIELD_TAGS[f][0]}{values[f]}{_FIELD_TAGS[f][1]}" for f in check_order(order))


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


def parse_target(text: str, require_reasoning: bool | None = None,
                 order: str = "next_first") -> Prediction | ParseFailure:
    """Parse a generated target strictly; never raises on a text (an unknown `order` name raises FormatError).

    All tags must be present in `order` (see ORDERS; `<think>` optional unless `require_reasoning=True`, forbidden
    if False), valid/done must be 0 or 1, reward a finite number in [0, 1] (0 for an invalid action), the next
    state non-empty; no field may hold a markup tag. Leading whitespace is ignored, and after the last field's
    close tag only whitespace and end-of-sequence markers are tolerated. Returns a Prediction or a ParseFailure
    naming the first problem.
    """
    fields = check_order(order)  # a wrong order name is the caller's bug: it raises FormatError
    try:
        return _parse(text, require_reasoning, fields)
    except Exception as e:  # defensive: the contract is "never raises"
        return ParseFailure(f"parser error: {type(e).__name__}", str(text)[:200] if text is not None else "")


def _parse(text: Any, require_reasoning: bool | None, order: tuple[str, ...]) -> Prediction | ParseFailure:
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
    for name in order:
        op, cl = _FIELD_TAGS[name]
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
        return ParseFailure(f"unexpected text after {_FIELD_TAGS[order[-1]][1]}: {rest[:30]!r}", head)
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


def parse_task_text(text: str) -> str | ParseFailure:
    """The instruction of a generated task: the text before `</gen>`, whitespace squeezed; a ParseFailure when
    there is no `</gen>`, the instruction is empty or holds another markup tag. Never raises."""
    if not isinstance(text, str) or GEN_CLOSE not in text:
        return ParseFailure(f"no {GEN_CLOSE}")
    body = " ".join(text.split(GEN_CLOSE, 1)[0].split())
    if not body:
        return ParseFailure("empty instruction")
    if has_tag(body):
        return ParseFailure("a markup tag inside the instruction")
    return body
