"""Reasoning traces for SFT of the experience model: rule-based per env (the offline default), or an LLM.

The paper has a strong teacher LLM explain each real transition; the explanation is the `<think>` part of the
target. Every annotator is a callable with one signature:

    annotate(state, action, next_state, reward, done, valid_action, info=None) -> str

    note = make_annotator("textcraft")(state, "get 2 oak logs", next_state, 0.0, False, True,
                                       {"instruction": "craft oak planks"})
    # "Valid: oak logs is a base item, fetched. Inventory: +2 oak logs. Goal oak planks not crafted yet: reward 0."

- Rule-based (`ANNOTATORS` registry, one per env): a short (<= ~40 words), faithful rationale from what the
  real transition shows: whether the action was valid (and why not, where the text says), what changed (a
  compact diff: objects seen/lost, inventory and location deltas, the env's message), and why the reward
  (goal reached or not). It reads abstract states (it applies abstract_state itself, which is idempotent).
  `info` may carry "instruction" (the task text: the goal), "success", "truncated", "lost"/"failed".
- `LLMAnnotator`: any OpenAI-compatible chat endpoint (POST {base_url}/chat/completions, stdlib urllib).
- `HFAnnotator`: a local model through a caller-injected `generate_fn(prompts) -> texts` (batched), or a
  plain greedy transformers generate() built from (model, tokenizer).
Every annotation goes through `clean_reasoning` (markup tags removed, whitespace squeezed, word cap), so it
can always be written into a target. Simplifications: hindsight rationales (they know the real outcome, as the
paper's teacher does); rule coverage is written from the seed data's messages, with a generic fallback that
quotes the env's first sentence.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dreamgym.errors import DreamGymError
from dreamgym.experience.format import abstract_state, format_reward, strip_tags
from dreamgym.registry import Registry

#: rationales are cut to this many words
MAX_WORDS = 40
#: abstract states are read with this budget (large: an annotator should see everything)
_READ_BUDGET = 4000

ANNOTATORS = Registry("annotator")
#: decorator: `@register_annotator("myenv")` on `fn(state, action, next_state, reward, done, valid_action, info)`
register_annotator = ANNOTATORS.register

Annotator = Callable[..., str]


class AnnotatorError(DreamGymError):
    """An annotator could not produce a rationale (e.g. its LLM endpoint failed)."""


def clean_reasoning(text: str, max_words: int = MAX_WORDS) -> str:
    """`text` without markup tags, whitespace squeezed, cut to `max_words` words (ending with "…" when cut)."""
    words = strip_tags(str(text)).split()
    if len(words) > max_words:
        return " ".join(words[:max_words]) + " …"
    return " ".join(words)


def make_annotator(env: str) -> Annotator:
    """The rule-based annotator of `env` (UnknownNameError listing the registered ones if there is none)."""
    return ANNOTATORS.get(env)


# ---------------------------------------------------------------------------------------------------------------
# shared pieces


def _names(items: Sequence[str], limit: int = 3) -> str:
    items = list(dict.fromkeys(items))
    head = ", ".join(items[:limit])
    return head + (f" +{len(items) - limit} more" if len(items) > limit else "")


def _first_sentence(text: str, max_words: int = 12) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    sent = re.split(r"(?<=[.!?])\s+", line)[0].rstrip(".")
    words = sent.split()
    return " ".join(words[:max_words]) + (" …" if len(words) > max_words else "")


def _info(info: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return info if isinstance(info, Mapping) else {}


def _outcome(reward: float, done: bool, info: Mapping[str, Any], goal: str = "") -> str:
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


def _finish(parts: Sequence[str]) -> str:
    return clean_reasoning(" ".join(p for p in parts if p))


# ---------------------------------------------------------------------------------------------------------------
# babyai

_BA_OBJ = re.compile(r"^((?:open |closed |locked )?)(\w+ \w+ \d+): (.+)$")
_BA_CARRY = re.compile(r"^carrying (.+)$")


def _ba_parse(text: str) -> tuple[dict[str, str], dict[str, str], str, list[str]]:
    """(label -> position, label -> door state, carried thing, other segments) of an abstract babyai state."""
    pos, doors, carried, other = {}, {}, "", []
    for seg in text.split("; "):
        m = _BA_OBJ.match(seg)
        if m:
            pos[m.group(2)] = m.group(3)
            if m.group(1):
                doors[m.group(2)] = m.group(1).strip()
            continue
        m = _BA_CARRY.match(seg)
        if m:
            carried = "" if m.group(1) == "nothing" else m.group(1)
            continue
        if not seg.startswith("wall:") and seg not in ("no objects", "task completed", "…"):
            other.append(seg)
    return pos, doors, carried, other


@register_annotator("babyai")
def annotate_babyai(state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
                    info: Mapping[str, Any] | None = None) -> str:
    """BabyAI: validity (the env's reason if invalid), objects seen/lost, doors, carrying, goal."""
    info = _info(info)
    s, n = abstract_state("babyai", state, _READ_BUDGET), abstract_state("babyai", next_state, _READ_BUDGET)
    p0, d0, c0, _ = _ba_parse(s)
    p1, d1, c1, msg = _ba_parse(n)
    goal = str(info.get("instruction", "")).strip()
    if not valid_action:
        why = msg[0] if msg else "the action is not possible here"
        return _finish([f"Invalid: {why[:1].lower()}{why[1:]}; nothing changes.", _outcome(0.0, done, info, goal)])
    act = " ".join(str(action).split()).lower()
    parts = [f"Valid: {act}."]
    changes = []
    for lab in d1:
        if lab in d0 and d0[lab] != d1[lab]:
            changes.append(f"{lab} is now {d1[lab]}")
    if c1 != c0:
        changes.append(f"now carries {c1}" if c1 else f"puts down {c0}")
    new = [lab for lab in p1 if lab not in p0]
    gone = [lab for lab in p0 if lab not in p1 and not (c1 and lab.startswith(c1 + " "))]
    if new:
        changes.append(f"now sees {_names(new)}")
    if gone:
        changes.append(f"loses sight of {_names(gone)}")
    if not changes:
        changes.append("objects shift position" if p0 != p1 else "the view is unchanged")
    parts.append(changes[0][:1].upper() + changes[0][1:] + "".join(f"; {c}" for c in changes[1:]) + ".")
    parts.append(_outcome(reward, done, info, goal))
    return _finish(parts)


# ---------------------------------------------------------------------------------------------------------------
# textcraft

_TC_INV = re.compile(r"^Inventory: (.*)$", re.M)
_TC_COUNT = re.compile(r"^(\d+) (.+)$")
_TC_CRAFT = re.compile(r"^craft (.+?) using (.+)$")
_TC_GET = re.compile(r"^get (\d+) (.+)$")


def tc_inventory(text: str) -> dict[str, int] | None:
    """The inventory of an abstract textcraft state as {item: count} (in listed order); None if not shown."""
    m = _TC_INV.search(text)
    if m is None:
        return None
    body = m.group(1).strip()
    out: dict[str, int] = {}
    if body in ("", "empty"):
        return out
    for part in body.split(", "):
        c = _TC_COUNT.match(part.strip())
        if c:
            out[c.group(2)] = out.get(c.group(2), 0) + int(c.group(1))
    return out


def _tc_goal(info: Mapping[str, Any]) -> str:
    first = str(info.get("instruction", "")).strip().splitlines()[:1]
    m = re.match(r"(?:craft|Goal: craft) (.+?)\.?$", first[0]) if first else None
    return m.group(1) if m else ""


def _delta(before: Mapping[str, int], after: Mapping[str, int]) -> str:
    out = []
    for item in list(dict.fromkeys([*before, *after])):
        d = after.get(item, 0) - before.get(item, 0)
        if d:
            out.append(f"{d:+d} {item}")
    return ", ".join(out)


@register_annotator("textcraft")
def annotate_textcraft(state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
                       info: Mapping[str, Any] | None = None) -> str:
    """TextCraft: why a get/craft worked or failed (missing inputs named), the inventory delta, the goal."""
    info = _info(info)
    s, n = abstract_state("textcraft", state, _READ_BUDGET), abstract_state("textcraft", next_state, _READ_BUDGET)
    inv0 = tc_inventory(s)
    inv0 = {} if inv0 is None and s.startswith("Goal:") else inv0
    inv1 = tc_inventory(n)
    goal = _tc_goal(info)
    goal_text = f"the goal {goal}" if goal else "the goal"
    act = " ".join(str(action).split())
    msg = n.splitlines()[0] if n else ""
    parts: list[str] = []
    get, craft = _TC_GET.match(act), _TC_CRAFT.match(act)
    if valid_action:
        if get:
            parts.append(f"Valid: {get.group(2)} is a base item, fetched.")
        elif craft:
            parts.append(f"Valid: a recipe makes {craft.group(1)} from these inputs, all held.")
        elif act.startswith("inventory"):
            parts.append("Valid: it lists the inventory; nothing changes.")
        else:
            parts.append("Valid.")
    elif msg.startswith("Could not find enough items"):
        missing = []
        if craft and inv0 is not None:
            for ing in craft.group(2).split(","):
                m = _TC_COUNT.match(ing.strip())
                if m and inv0.get(m.group(2), 0) < int(m.group(1)):
                    missing.append(f"{m.group(1)} {m.group(2)} (have {inv0.get(m.group(2), 0)})")
        why = f"needs {_names(missing, 2)}" if missing else "the inputs must be concrete items held in these counts"
        parts.append(f"Invalid: not enough items, {why}; nothing changes.")
    elif msg.startswith("Could not find a valid recipe"):
        parts.append("Invalid: no recipe matches these inputs and counts; nothing changes.")
    elif msg.startswith("Could not find "):
        item = msg[len("Could not find "):]
        parts.append(f"Invalid: {item} is not a base item, so it cannot be fetched; nothing changes.")
    else:
        parts.append("Invalid: not a well-formed command; nothing changes.")
    if valid_action and inv0 is not None and inv1 is not None:
        d = _delta(inv0, inv1)
        parts.append(f"Inventory: {d}." if d else "Inventory unchanged.")
    if float(reward) > 0:
        parts.append(f"Crafted {goal_text}: reward {format_reward(reward)}" + (", done." if done else "."))
    elif done:
        parts.append(_outcome(reward, done, info, goal))
    else:
        parts.append(f"{goal_text[:1].upper()}{goal_text[1:]} is not crafted yet: reward 0.")
    return _finish(parts)


# ---------------------------------------------------------------------------------------------------------------
# textworld

_TW_ROOM = re.compile(r"^-= (.+) =-$", re.M)
_TW_EFFECTS = [
    (re.compile(r"You open the ([\w -]+), revealing (.+)\."), lambda m: f"Opening the {m.group(1)} reveals what is inside."),
    (re.compile(r"You (?:take|pick up) the ([\w -]+?) from (?:the )?([\w -]+)\."),
     lambda m: f"The {m.group(1)} moves into the inventory."),
    (re.compile(r"You (?:put|drop|insert) the ([\w -]+?) (?:on|into|in) (?:the )?([\w -]+)\."),
     lambda m: f"The {m.group(1)} leaves the inventory."),
    (re.compile(r"You (fried|roasted|grilled) the ([\w -]+)\."), lambda m: f"The {m.group(2)} is now {m.group(1)}."),
    (re.compile(r"You burned the ([\w -]+)!"), lambda m: f"The {m.group(1)} burns, which loses the game."),
    (re.compile(r"You (dice|chop|slice) the ([\w -]+)\."),
     lambda m: f"The {m.group(2)} is now {dict(dice='diced', chop='chopped', slice='sliced')[m.group(1)]}."),
    (re.compile(r"Adding the meal to your inventory\."), lambda m: "Every recipe step is done, so the meal is made."),
    (re.compile(r"Something still needs to be (\w+)\."),
     lambda m: f"The meal cannot be made yet: something still needs to be {m.group(1)}."),
    (re.compile(r"You eat the meal\..*"), lambda m: "Eating the prepared meal completes the recipe."),
    (re.compile(r"You eat the ([\w -]+)\."), lambda m: f"The {m.group(1)} is eaten and gone."),
    (re.compile(r"Cookbook:"), lambda m: "Reading the cookbook shows the recipe."),
    (re.compile(r"You (open|close) (?:the )?([\w -]+)\."),
     lambda m: f"The {m.group(2)} is now {'open' if m.group(1) == 'open' else 'closed'}."),
    (re.compile(r"You are carrying.*"), lambda m: "It lists the inventory; nothing changes."),
    (re.compile(r"Nothing notable\."), lambda m: "Nothing notable is shown; nothing changes."),
]


@register_annotator("textworld")
def annotate_textworld(state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
                       info: Mapping[str, Any] | None = None) -> str:
    """TextWorld: validity (the game's refusal if invalid), the effect (room, inventory, cooking), points, goal."""
    info = _info(info)
    n = abstract_state("textworld", next_state, _READ_BUDGET)
    if not valid_action:
        return _finish([f"Invalid: the game answers \"{_first_sentence(n)}\"; nothing changes.",
                        _outcome(0.0, done, info)])
    parts = ["Valid."]
    room = _TW_ROOM.search(n)
    verb = (str(action).split() or [""])[0].lower()
    if room:
        parts.append(f"It moves to the {room.group(1).lower()}, described anew." if verb == "go"
                     else f"It describes the {room.group(1).lower()}; nothing changes.")
    else:
        effect = ""
        for line in n.splitlines():
            for pat, say in _TW_EFFECTS:
                m = pat.fullmatch(line.strip())
                if m:
                    effect = say(m)
                    break
            if effect:
                break
        parts.append(effect or f"Effect: {_first_sentence(n)}.")
    if "Score +1." in n:
        parts.append("A recipe step is done (+1 point).")
    if "*** You lost!" in n:
        info = {**info, "lost": True}
    parts.append(_outcome(reward, done, info))
    return _finish(parts)


# ---------------------------------------------------------------------------------------------------------------
# scienceworld

_SW_FOOT = re.compile(r"\[Location: ([^.\]]+)\. Inventory: (.*)\]$", re.M)
_SW_INVALID = "No known action matches that input."


_SW_CONT = re.compile(r"^(?:which|with:|currently|its|that|the time)\b")


def _top_level_items(text: str) -> list[str]:
    """The items of a ScienceWorld listing "a, b (x, y), c, which is on": split at commas outside parentheses,
    a fragment that continues a description (", which …", ", with: …", ", currently …") joined to its item."""
    frags, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            frags.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    frags.append("".join(cur).strip())
    out: list[str] = []
    for f in frags:
        if out and _SW_CONT.match(f):
            out[-1] += ", " + f
        elif f:
            out.append(f)
    return [o for o in out if o != "nothing"]


def _sw_foot(text: str) -> tuple[str, list[str]] | None:
    m = _SW_FOOT.search(text)
    return (m.group(1), _top_level_items(m.group(2))) if m else None


def _short_item(item: str) -> str:
    item = re.sub(r"\s*\(.*$", "", item)
    item = re.sub(r",.*$", "", item).strip()
    return re.sub(r"^(?:an?|the) ", "", item)


@register_annotator("scienceworld")
def annotate_scienceworld(state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
                          info: Mapping[str, Any] | None = None) -> str:
    """ScienceWorld: validity, location and inventory deltas from the Location line, the message, the goal."""
    info = _info(info)
    s = abstract_state("scienceworld", state, _READ_BUDGET)
    n = abstract_state("scienceworld", next_state, _READ_BUDGET)
    msg = next((ln for ln in n.splitlines() if ln.strip() and not ln.startswith("[Location:")), "")
    if not valid_action:
        why = "no known action matches this input" if msg.startswith(_SW_INVALID) else f"\"{_first_sentence(msg)}\""
        return _finish([f"Invalid: {why}; nothing changes.", _outcome(0.0, done, info)])
    parts = ["Valid."]
    f0, f1 = _sw_foot(s), _sw_foot(n)
    changes = []
    if f0 and f1:
        if f0[0] != f1[0]:
            changes.append(f"moves from the {f0[0]} to the {f1[0]}")
        short0, short1 = [_short_item(i) for i in f0[1]], [_short_item(i) for i in f1[1]]
        added = [i for i in short1 if short1.count(i) > short0.count(i)]
        removed = [i for i in short0 if short0.count(i) > short1.count(i)]
        if added:
            changes.append(f"inventory gains {_names(added, 2)}")
        if removed:
            changes.append(f"inventory loses {_names(removed, 2)}")
        if not added and not removed and f0[1] != f1[1]:
            changed = [b for a, b in zip(f0[1], f1[1], strict=False) if a != b]
            changes.append(f"the {_names([_short_item(c) for c in changed], 2)} in the inventory changes state")
    if msg.startswith("In the ") and msg.endswith("you see:"):
        effect = "Looking lists the room's contents."
    elif "already" in msg:
        effect = f"No effect: {_first_sentence(msg)}."
    elif msg.startswith(("You move to", "You move the", "You go to")) and changes:
        effect = ""
    else:
        effect = f"Effect: {_first_sentence(msg)}."
    if effect:
        parts.append(effect)
    if changes:
        parts.append(changes[0][:1].upper() + changes[0][1:] + "".join(f"; {c}" for c in changes[1:]) + ".")
    elif effect.startswith("Looking"):
        parts.append("Nothing changes.")
    parts.append(_outcome(reward, done, info))
    return _finish(parts)


# ---------------------------------------------------------------------------------------------------------------
# LLM annotators

DEFAULT_PROMPT_TEMPLATE = (
    "You explain one step of the text environment '{env}'. Task: {instruction}\n"
    "State: {state}\nAction: {action}\nAction valid: {valid}\nNext state: {next_state}\nReward: {reward}\n"
    "Episode done: {done}\n"
    "In at most {max_words} words, say whether the action was valid (and why not if invalid), what changed "
    "between the states, and why the reward is what it is. Answer with the explanation only."
)


def _render(template: str, env: str, max_words: int, state: str, action: str, next_state: str, reward: float,
            done: bool, valid_action: bool, info: Mapping[str, Any] | None) -> str:
    info = _info(info)
    fields = {"env": env or "unknown", "instruction": str(info.get("instruction", "")).strip() or "(not given)",
              "state": str(state).strip(), "action": str(action).strip(), "next_state": str(next_state).strip(),
              "reward": format_reward(max(0.0, min(1.0, float(reward)))), "done": "yes" if done else "no",
              "valid": "yes" if valid_action else "no", "max_words": max_words}
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError) as e:
        raise AnnotatorError(f"prompt_template has an unknown or malformed field ({e}); "
                             f"use only {{{'}, {'.join(fields)}}}") from None


class LLMAnnotator:
    """Rationales from an OpenAI-compatible chat endpoint: POST {base_url}/chat/completions.

    base_url: e.g. "http://127.0.0.1:8000/v1". model: the served model name. api_key: sent as a Bearer token
    if given (the caller passes it; nothing is read from the environment). prompt_template: str.format
    template with env, instruction, state, action, next_state, reward, done, valid, max_words. timeout: seconds
    per request. Failures raise AnnotatorError naming the URL and the HTTP status or connection problem.
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 prompt_template: str = DEFAULT_PROMPT_TEMPLATE, timeout: float = 60.0, *, env: str = "",
                 max_words: int = MAX_WORDS, max_tokens: int = 96, temperature: float = 0.0):
        if not str(base_url).startswith(("http://", "https://")):
            raise AnnotatorError(f"LLMAnnotator base_url must start with http:// or https://, got {base_url!r}")
        self.url = str(base_url).rstrip("/") + "/chat/completions"
        self.model, self.api_key, self.prompt_template = model, api_key, prompt_template
        self.timeout, self.env, self.max_words = float(timeout), env, int(max_words)
        self.max_tokens, self.temperature = int(max_tokens), float(temperature)

    def prompt(self, state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
               info: Mapping[str, Any] | None = None) -> str:
        """The user message sent for one transition."""
        return _render(self.prompt_template, self.env, self.max_words, state, action, next_state, reward, done,
                       valid_action, info)

    def complete(self, prompt: str) -> str:
        """One chat completion of `prompt` (raw reply text)."""
        body = json.dumps({"model": self.model, "messages": [{"role": "user", "content": prompt}],
                           "temperature": self.temperature, "max_tokens": self.max_tokens}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:200].decode("utf-8", "replace") if e.fp is not None else ""
            raise AnnotatorError(f"LLM annotator: POST {self.url} returned HTTP {e.code} {e.reason}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            raise AnnotatorError(f"LLM annotator: cannot reach {self.url} ({reason}); is the server running and "
                                 f"is timeout={self.timeout}s enough?") from None
        try:
            content = json.loads(payload)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise AnnotatorError(f"LLM annotator: {self.url} answered without choices[0].message.content: "
                                 f"{payload[:200]!r}") from None
        return str(content or "")

    def __call__(self, state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
                 info: Mapping[str, Any] | None = None) -> str:
        text = clean_reasoning(self.complete(self.prompt(state, action, next_state, reward, done, valid_action, info)),
                               self.max_words)
        if not text:
            raise AnnotatorError(f"LLM annotator: {self.url} returned an empty rationale")
        return text


class HFAnnotator:
    """Rationales from a local model, batched: `generate_fn(prompts) -> completions` does the generation.

    Pass `generate_fn` (e.g. built on dreamgym.models' engine by the caller), or (model, tokenizer) for a plain
    greedy transformers generate() of `max_new_tokens`. `annotate_many` sends `batch_size` prompts per call.
    """

    def __init__(self, model: Any = None, tokenizer: Any = None, *,
                 generate_fn: Callable[[list[str]], list[str]] | None = None,
                 prompt_template: str = DEFAULT_PROMPT_TEMPLATE, env: str = "", max_words: int = MAX_WORDS,
                 batch_size: int = 8, max_new_tokens: int = 64):
        if generate_fn is None:
            if model is None or tokenizer is None:
                raise AnnotatorError("HFAnnotator needs generate_fn, or both model and tokenizer")
            generate_fn = _greedy_generate_fn(model, tokenizer, max_new_tokens)
        self.generate_fn, self.prompt_template, self.env = generate_fn, prompt_template, env
        self.max_words, self.batch_size = int(max_words), max(1, int(batch_size))

    def prompt(self, state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
               info: Mapping[str, Any] | None = None) -> str:
        """The prompt sent to generate_fn for one transition."""
        return _render(self.prompt_template, self.env, self.max_words, state, action, next_state, reward, done,
                       valid_action, info)

    def annotate_many(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Rationales for rows of annotate() keyword arguments, `batch_size` prompts per generate_fn call."""
        prompts = [self.prompt(**r) for r in rows]
        out: list[str] = []
        for i in range(0, len(prompts), self.batch_size):
            chunk = prompts[i:i + self.batch_size]
            texts = list(self.generate_fn(chunk))
            if len(texts) != len(chunk):
                raise AnnotatorError(f"HFAnnotator: generate_fn returned {len(texts)} texts for {len(chunk)} prompts")
            out.extend(clean_reasoning(t, self.max_words) for t in texts)
        return out

    def __call__(self, state: str, action: str, next_state: str, reward: float, done: bool, valid_action: bool,
                 info: Mapping[str, Any] | None = None) -> str:
        return self.annotate_many([dict(state=state, action=action, next_state=next_state, reward=reward, done=done,
                                        valid_action=valid_action, info=info)])[0]


def _greedy_generate_fn(model: Any, tokenizer: Any, max_new_tokens: int) -> Callable[[list[str]], list[str]]:
    """Greedy batched generation with transformers: left-padded prompts -> decoded new tokens."""
    import torch

    def generate(prompts: list[str]) -> list[str]:
        old_side = getattr(tokenizer, "padding_side", "left")
        tokenizer.padding_side = "left"
        try:
            enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        finally:
            tokenizer.padding_side = old_side
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        return tokenizer.batch_decode(new, skip_special_tokens=True)

    return generate


def annotate_rows(annotator: Annotator, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Apply `annotator` to rows of keyword arguments (batched when it has `annotate_many`)."""
    many = getattr(annotator, "annotate_many", None)
    if callable(many):
        return list(many(rows))
    return [annotator(**r) for r in rows]
