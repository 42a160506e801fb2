"""Reasoning traces for SFT of the experience model: the env's rule-based annotator (the offline default), or
an LLM.

The paper has a strong teacher LLM explain each real transition; the explanation is the `<think>` part of the
target. Every annotator is a callable with one signature:

    annotate(state, action, next_state, reward, done, valid_action, info=None) -> str

    note = make_annotator(None, get_spec("myenv"))(state, action, next_state, 0.0, False, True,
                                                   {"instruction": "craft oak planks"})

- Rule-based: each env package's `EnvSpec.annotate`, a short (<= ~40 words), faithful rationale from what the
  real transition shows (validity, what changed, why the reward). `info` may carry "instruction" (the task
  text: the goal), "success", "truncated", "lost"/"failed".
- `LLMAnnotator`: any OpenAI-compatible chat endpoint (POST {base_url}/chat/completions, stdlib urllib).
- `HFAnnotator`: a local model through a caller-injected `generate_fn(prompts) -> texts` (batched), or a
  plain greedy transformers generate() built from (model, tokenizer).
- Plug-ins: `@register_annotator("name")`, chosen by `experience.annotator: name`.
Every annotation goes through `clean_reasoning` (markup tags removed, whitespace squeezed, word cap), so it
can always be written into a target. Simplification: hindsight rationales (they know the real outcome, as the
paper's teacher does).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dreamgym.envs.base import EnvSpec
from dreamgym.envs.text import MAX_WORDS, format_reward, info_of
from dreamgym.errors import DreamGymError
from dreamgym.experience.format import strip_tags
from dreamgym.registry import Registry

ANNOTATORS = Registry("annotator")
#: decorator: `@register_annotator("name")` on `fn(state, action, next_state, reward, done, valid_action, info)`
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


def make_annotator(name: str | None, env: EnvSpec) -> Annotator:
    """The annotator called `name`: None (or "rule") is `env`'s rule-based one (its EnvSpec.annotate); a name in
    `env.annotators` is that env's own (e.g. "hindsight"); any other name is a plug-in registered with
    `@register_annotator(name)` (UnknownNameError listing them)."""
    if name is None or name == "rule":
        return env.annotate
    if name in env.annotators:
        return env.annotators[name]
    return ANNOTATORS.get(name)


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
    info = info_of(info)
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
