"""Text helpers shared by every env package: budgets, trimming, the generic abstraction, annotator phrases and
the entity rule of context-determination.

An env package (`dreamgym/envs/<name>/`) builds its observation, annotator and context rule from these; nothing
here names an env.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from dreamgym.errors import DreamGymError

#: default char budget of one abstract state (p95 of the seed data after abstraction is below it for all envs)
DEFAULT_STATE_BUDGET = 600
#: below this a budget cannot hold a useful state
MIN_STATE_BUDGET = 24
#: rules and annotators read abstract states with this budget (large: a rule should see everything)
READ_BUDGET = 4000
#: marks text cut to fit a budget
ELLIPSIS = "…"
#: rationales are cut to this many words
MAX_WORDS = 40


def squeeze(text: str) -> str:
    """`text` on one line, runs of whitespace made one space."""
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


def check_budget(budget_chars: int) -> int:
    """`budget_chars` as an int, or DreamGymError when it is below MIN_STATE_BUDGET."""
    b = int(budget_chars)
    if b < MIN_STATE_BUDGET:
        raise DreamGymError(f"state budget_chars={budget_chars} is below the minimum {MIN_STATE_BUDGET}")
    return b


def generic_abstraction(text: str, budget: int) -> str:
    """Whitespace squeezed per line, blank lines dropped, lines kept in order within the budget."""
    lines = [squeeze(line) for line in text.splitlines()]
    return fit_parts([(line, False) for line in lines if line], budget, "\n")


def plain_task_context(instruction: str, first_state: str | None = None) -> str:
    """The task block of an env that shows nothing once that the dynamics need later: the instruction."""
    return squeeze(instruction)


# ---- annotator phrases ----------------------------------------------------------------------------------------
_TAG_LIKE = re.compile(r"</?[a-z]+>")


def format_reward(reward: float) -> str:
    """The compact reward text: "0", "1", or up to 3 decimals without trailing zeros ("0.25")."""
    import math

    r = float(reward)
    if not math.isfinite(r) or not 0.0 <= r <= 1.0:
        raise DreamGymError(f"reward must be a finite number in [0, 1], got {reward!r}")
    text = f"{r:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def names(items: Sequence[str], limit: int = 3) -> str:
    """Up to `limit` distinct items joined by commas, then "+N more"."""
    items = list(dict.fromkeys(items))
    head = ", ".join(items[:limit])
    return head + (f" +{len(items) - limit} more" if len(items) > limit else "")


def first_sentence(text: str, max_words: int = 12) -> str:
    """The first sentence of the first non-blank line, at most `max_words` words."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    sent = re.split(r"(?<=[.!?])\s+", line)[0].rstrip(".")
    words = sent.split()
    return " ".join(words[:max_words]) + (" …" if len(words) > max_words else "")


def info_of(info: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """`info` when it is a mapping, else {}."""
    return info if isinstance(info, Mapping) else {}


def outcome(reward: float, done: bool, info: Mapping[str, Any], goal: str = "") -> str:
    """Why the reward: goal reached, or not (and why the episode ended, where info says)."""
    r = format_reward(max(0.0, min(1.0, float(reward))))
    what = f"Goal ({goal})" if goal else "Goal"
    if float(reward) > 0:
        return f"{what} reached: reward {r}" + (", done." if done else ".")
    if done:
        if info.get("truncated"):
            return f"{what} not reached and the step limit is hit: reward 0, done."
        if info.get("lost") or info.get("failed"):
            return f"{what} failed: reward 0, done."
        return f"{what} not reached but the episode ends: reward 0, done."
    return f"{what} not reached yet: reward {r}."


def finish(parts: Sequence[str], max_words: int = MAX_WORDS) -> str:
    """The rationale from its parts: joined, markup-like tags removed, whitespace squeezed, cut to max_words."""
    words = _TAG_LIKE.sub(" ", " ".join(p for p in parts if p)).split()
    if len(words) > max_words:
        return " ".join(words[:max_words]) + " …"
    return " ".join(words)


def delta(before: Mapping[str, int], after: Mapping[str, int]) -> str:
    """"+2 x, -1 y": the count changes from `before` to `after`, in first-seen order."""
    out = []
    for item in list(dict.fromkeys([*before, *after])):
        d = after.get(item, 0) - before.get(item, 0)
        if d:
            out.append(f"{d:+d} {item}")
    return ", ".join(out)


def generic_annotate(state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
                     info: Mapping[str, Any] | None = None) -> str:
    """The fallback rationale of an env without its own: validity, the env's first sentence, the outcome."""
    head = "Valid." if valid_action else "Invalid action."
    return finish([head, first_sentence(next_state) + ".", outcome(reward, done, info_of(info))])


# ---- the entity rule of context-determination ------------------------------------------------------------------
_FOLLOW = ("and|or|on|in|into|from|with|is|are|to|of|that|which|here|there|you|containing|called|leading|by|at|"
           "for|as|was|has|have|right|now|reads|currently|measures|i|it|they|we|but|so|then|because|if|when|while|"
           "where|not|can|can't|will|would|should|could|do|does|did|be|been|looks|seems|appears")
_ENTITY = re.compile(rf"\b(?:a|an|the|some) ([a-z][\w'-]*(?: [a-z0-9][\w'-]*){{0,5}}?)"
                     rf"(?=\s*(?:[,.;:!?()\[\]]|$)|\s+(?:{_FOLLOW})\b)", re.M)
_CALLED = re.compile(r"\bcalled ([a-z][\w'-]*(?: [a-z0-9][\w'-]*){0,3}?)(?=\s*(?:[,.;:!?()\[\]]|$)|\s+(?:and|in)\b)",
                     re.M)
_HEADER = re.compile(r"^-= (.+) =-$", re.M)
_NUMBER = re.compile(r"(?<![\w.+])-?\d+(?:\.\d+)?")  # "+1" (TextWorld's "Score +1.") is a constant
_GENERIC = {"exit", "north", "south", "east", "west", "way", "thing", "floor", "ground", "end", "game", "meal",
            "room", "time", "inventory", "agent", "air", "substance", "door", "lid", "wall", "corner", "stuff",
            "recipe", "temperature", "contents", "verb"}
_ADJECTIVES = {"raw", "roasted", "fried", "grilled", "sliced", "diced", "chopped", "burned", "closed", "open",
               "opened", "locked", "unlocked", "empty", "cooked", "uncut"}


def entities(text: str) -> set[str]:
    """The entity phrases of `text` (noun phrase after an article, "called X", a "-= room =-" header), leading
    state adjectives and generic words left out."""
    low = text.lower()
    found = set(_ENTITY.findall(low)) | set(_CALLED.findall(low)) | set(_HEADER.findall(low))
    out = set()
    for phrase in found:
        words = phrase.split()
        while words and words[0] in _ADJECTIVES:
            words = words[1:]
        core = " ".join(words)
        if core and core not in _GENERIC:
            out.add(core)
    return out


def entities_determined(context: Sequence[str], action: str, next_state: str) -> bool:
    """Every entity and every number of `next_state` appears in the context texts or the action (all abstract)."""
    ctx = ("\n".join(t for t in context if str(t).strip()) + "\n" + str(action)).lower()
    for core in entities(next_state):
        if re.search(rf"\b{re.escape(core)}\b", ctx) is None:
            return False
    numbers = set(_NUMBER.findall(ctx))
    return all(n in numbers for n in _NUMBER.findall(next_state))
