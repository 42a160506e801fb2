"""The experience model's prompt: one `PromptSpec`, built from the config, shared by training and inference.

    spec = PromptSpec.from_config(cfg.experience, get_spec("myenv"), max_steps=64)
    prompt = spec.prompt(task_text, history, retrieved, state, action)
    # <task>{task}</task>[<ref>…</ref>…][<hist><obs>{s}</obs><act>{a}</act>…</hist>]<obs>{s}</obs><act>{a}</act>\n
    spec.target(reasoning, valid, next_state, reward, done); spec.parse(generated); spec.stop  # "</done>"
    spec.to_dict(); PromptSpec.from_dict(d, get_spec("myenv"))  # the settings a checkpoint carries
    spec.query(state, action, episode_id, task_id, split)   # the one retrieval query (abstract state, action)
    spec.task_prompt(task_text, first_state); spec.task_target(instruction); spec.parse_task(generated)  # task writing

build_examples() (SFT targets) and ExperienceModel (synthesis, fidelity) both write prompts through the same
spec, so the prompt of a transition is the same text in training and at inference; the config is the only
place the history window, retrieval depth and budgets are set. States are the env's abstract states
(`EnvSpec.observe`, idempotent, so raw and abstract input give the same prompt). Retrieved transitions are
shown with the target's own tags and the target's own labels: a `done` at the data's step limit without
success is truncation (shown and trained as 0, since a synthetic env truncates on its own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dreamgym.envs.base import EnvSpec
from dreamgym.envs.text import fit_parts, squeeze, truncate
from dreamgym.errors import DreamGymError
from dreamgym.experience.format import (
    ACT_CLOSE,
    ACT_OPEN,
    GEN_CLOSE,
    GEN_OPEN,
    HIST_CLOSE,
    HIST_OPEN,
    OBS_CLOSE,
    OBS_OPEN,
    REF_CLOSE,
    REF_OPEN,
    TASK_CLOSE,
    TASK_OPEN,
    ParseFailure,
    Prediction,
    check_order,
    format_target,
    has_tag,
    parse_target,
    parse_task_text,
    stop_string,
    strip_tags,
)

#: an action longer than this is cut (no env takes commands this long)
MAX_ACTION_CHARS = 200
#: the prompt's last characters, after the current action's </act>: a line break ends the prompt on a token boundary
#: for any byte-level BPE. Without it a pretrained tokenizer, whose tags are not special tokens, merges the ">" of
#: "</act>" with the "<" of the target's first tag, so the prompt's tokens are not a prefix of prompt + target: the
#: model trains on "...</act" + "><" and is asked at inference to go on from "...</act" + ">" (SmolLM2: every one
#: of 500 BabyAI examples; the 60-step LoRA run parsed 0 of 100 predictions)
PROMPT_END = "\n"


@dataclass(frozen=True)
class RetrievalQuery:
    """One retrieval: the abstract state and the action, and what to leave out (the querying episode and every
    episode of the same task), searched among rows of the train split."""

    state: str
    action: str
    episode_id: str | None
    task_id: str | None
    split: str = "train"


def truncated_done(done: bool, success: bool, t: int, max_steps: int | None) -> bool:
    """The `done` label of a transition: a failed episode's done at the data's step limit is truncation, not a
    state of the env, so it is False; everything else as recorded."""
    truncated = max_steps is not None and bool(done) and not bool(success) and int(t) + 1 >= int(max_steps)
    return bool(done) and not truncated


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


@dataclass(frozen=True)
class PromptSpec:
    """How one env's transitions are written for its experience model (see the module docstring).

    env: the EnvSpec (its observation and task context); history_window: earlier steps shown (0: none);
    k: transitions retrieved per step (0: none); budget / state_budget: prompt / state char budgets;
    with_reasoning: targets open with a think block; max_steps: the step limit the real data was collected
    with (its truncation dones are relabelled, see truncated_done); None: no relabelling; target_order: the
    order of the target's fields (format.ORDERS); prompt_end: what the prompt ends with (PROMPT_END).
    """

    env: EnvSpec
    history_window: int
    k: int
    budget: int
    state_budget: int
    with_reasoning: bool
    max_steps: int | None = None
    target_order: str = "next_first"
    prompt_end: str = PROMPT_END

    #: the settings to_dict() writes (everything but the env, which is named)
    SETTINGS = ("history_window", "k", "budget", "state_budget", "with_reasoning", "max_steps", "target_order",
                "prompt_end")

    def __post_init__(self):
        check_order(self.target_order)
        if self.history_window < 0:
            raise DreamGymError(f"history_window must be >= 0, got {self.history_window}")
        if self.k < 0:
            raise DreamGymError(f"k (retrieved transitions) must be >= 0, got {self.k}")

    @classmethod
    def from_config(cls, cfg: Any, env: EnvSpec, max_steps: int | None = None) -> PromptSpec:
        """The spec of `env` per an ExperienceConfig (history_window, k, prompt_budget, state_budget,
        with_reasoning); `max_steps`: the env's step limit when its data was collected."""
        return cls(env=env, history_window=int(cfg.history_window), k=int(cfg.k), budget=int(cfg.prompt_budget),
                   state_budget=int(cfg.state_budget), with_reasoning=bool(cfg.with_reasoning), max_steps=max_steps,
                   target_order=str(cfg.target_order))

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON values: the env's name and SETTINGS (what a saved experience model carries)."""
        return {"env": self.env.name, **{k: getattr(self, k) for k in self.SETTINGS}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], env: EnvSpec) -> PromptSpec:
        """The spec to_dict() wrote, for `env` (its name must match d["env"]); a setting d lacks (an older
        checkpoint) takes the field's default where it has one, but one without `prompt_end` prompts as it was
        trained, ending at `</act>`. DreamGymError for unknown keys or another env."""
        unknown = sorted(set(d) - {"env", *cls.SETTINGS})
        if unknown:
            raise DreamGymError(f"prompt spec settings: unknown key(s) {unknown}; known: env, {', '.join(cls.SETTINGS)}")
        if d.get("env", env.name) != env.name:
            raise DreamGymError(f"prompt spec settings are for env '{d['env']}', not '{env.name}'")
        try:
            return cls(env=env, **{"prompt_end": "", **{k: d[k] for k in cls.SETTINGS if k in d}})
        except TypeError as e:
            raise DreamGymError(f"prompt spec settings are incomplete: {e}") from None

    @property
    def stop(self) -> str:
        """The string after which a target is complete (format.stop_string of target_order)."""
        return stop_string(self.target_order)

    # ---- texts ----------------------------------------------------------------------------------------------
    def abstract(self, text: str) -> str:
        """The abstract state of a raw or abstract observation, within state_budget."""
        return self.env.observe(_clean(str(text)), self.state_budget)

    def task_text(self, instruction: str, first_state: str | None = None) -> str:
        """The task block's text (the env's task context of the instruction and the first observation)."""
        return self.env.task_text(instruction, first_state)

    def query(self, state: str, action: str, episode_id: str | None, task_id: str | None,
              split: str = "train") -> RetrievalQuery:
        """The retrieval query of a transition: its abstract state and action, and the exclusion keys."""
        return RetrievalQuery(self.abstract(state), self.action(action), episode_id, task_id, split)

    def action(self, text: str) -> str:
        """An action as the prompt shows it: whitespace squeezed, tags removed, at most MAX_ACTION_CHARS."""
        return truncate(squeeze(_clean(str(text))), MAX_ACTION_CHARS)

    def target(self, reasoning: str, valid: bool, next_state: str, reward: float, done: bool) -> str:
        """The target text (format.format_target in target_order; no think block when with_reasoning is False)."""
        return format_target(reasoning, valid, next_state, reward, done, self.with_reasoning, self.target_order)

    def parse(self, text: str) -> Prediction | ParseFailure:
        """The strict parse of a generated target (a think block required iff with_reasoning; target_order)."""
        return parse_target(text, require_reasoning=self.with_reasoning, order=self.target_order)

    def reference(self, row: Mapping[str, Any], where: str = "retrieved") -> str:
        """One retrieved transition as a `<ref>` block ("" when its next state is empty), with the target's
        labels: reward 0 when invalid, truncation dones relabelled (needs the row's t and success when the
        spec has max_steps)."""
        valid = bool(_field(row, "valid_action", where))
        reward = float(_field(row, "reward", where)) if valid else 0.0
        ns = self.abstract(_field(row, "next_state", where))
        if not ns.strip():
            return ""
        done = bool(_field(row, "done", where))
        if self.max_steps is not None and done:
            done = truncated_done(done, bool(row.get("success", reward > 0)), int(row.get("t", 0)), self.max_steps)
        body = (f"{OBS_OPEN}{self.abstract(_field(row, 'state', where))}{OBS_CLOSE}{ACT_OPEN}"
                f"{self.action(_field(row, 'action', where))}{ACT_CLOSE}"
                f"{format_target('', valid, ns, reward, done, False, self.target_order)}")
        return f"{REF_OPEN}{body}{REF_CLOSE}"

    # ---- task generation (the curriculum asks the same weights for variants of a task) ------------------------
    def task_prompt(self, task_text: str, first_state: str) -> str:
        """The prompt asking for a variant of the task `task_text` whose episode starts in `first_state`:
        `<task>{task}</task><obs>{first state}</obs><gen>`, then prompt_end; within `budget` chars (the task block
        cut to fit, as in prompt())."""
        cur = f"{OBS_OPEN}{self.abstract(first_state)}{OBS_CLOSE}{GEN_OPEN}{self.prompt_end}"
        room = self.budget - len(cur) - len(TASK_OPEN) - len(TASK_CLOSE)
        if room < 16:
            raise DreamGymError(f"prompt budget={self.budget} chars cannot hold a first state of {len(cur)} chars")
        lines = [line.strip() for line in _clean(str(task_text)).splitlines() if line.strip()]
        return f"{TASK_OPEN}{fit_parts([(ln, i == 0) for i, ln in enumerate(lines)], room, chr(10))}{TASK_CLOSE}{cur}"

    def task_target(self, instruction: str) -> str:
        """The target of a task-generation example: the instruction (squeezed, tags removed), then `</gen>`."""
        return f"{squeeze(_clean(str(instruction)))}{GEN_CLOSE}"

    def parse_task(self, text: str) -> str | ParseFailure:
        """The instruction of a generated task text (format.parse_task_text)."""
        return parse_task_text(text)

    def prompt(self, task_text: str, history: Sequence[Any], retrieved: Sequence[Mapping[str, Any]], state: str,
               action: str) -> str:
        """The prompt for (state, action), at most `budget` chars; deterministic.

        task_text: the task block (see task_text). history: the episode's earlier steps, oldest first, as
        (state, action[, next_state]) tuples or Step-like dicts; the last `history_window` are shown (their next
        states are the following entries' states, so they are not repeated). retrieved: transitions from the
        replay buffer (dicts with state, action, next_state, reward, done, valid_action[, t, success]), best
        first; the first k are shown. Budget order: the current state and action; then the task (lines after
        the first dropped from the end to fit, the first cut if it must be); then the history (latest first,
        stopping at the first entry that does not fit); then the references (in rank order, skipping those that
        do not fit). Layout: task, references, history, current step (the latest context sits next to the target).
        """
        cur = f"{OBS_OPEN}{self.abstract(state)}{OBS_CLOSE}{ACT_OPEN}{self.action(action)}{ACT_CLOSE}{self.prompt_end}"
        room = self.budget - len(cur) - len(TASK_OPEN) - len(TASK_CLOSE)
        if room < 16:
            raise DreamGymError(f"prompt budget={self.budget} chars cannot hold the current state and action "
                                f"({len(cur)} chars); raise the budget or lower state_budget={self.state_budget}")
        task_lines = [line.strip() for line in _clean(str(task_text)).splitlines() if line.strip()]
        task = f"{TASK_OPEN}{fit_parts([(line, i == 0) for i, line in enumerate(task_lines)], room, chr(10))}{TASK_CLOSE}"
        left = self.budget - len(cur) - len(task)

        hist_items: list[str] = []
        pairs = _history_pairs(history)[-self.history_window:] if self.history_window else []
        wrap = len(HIST_OPEN) + len(HIST_CLOSE)
        for s, a in reversed(pairs):
            item = f"{OBS_OPEN}{self.abstract(s)}{OBS_CLOSE}{ACT_OPEN}{self.action(a)}{ACT_CLOSE}"
            if len(item) + (wrap if not hist_items else 0) > left:
                break
            left -= len(item) + (wrap if not hist_items else 0)
            hist_items.insert(0, item)
        hist = f"{HIST_OPEN}{''.join(hist_items)}{HIST_CLOSE}" if hist_items else ""

        refs = []
        for i, r in enumerate(list(retrieved)[: self.k]):
            item = self.reference(r, f"retrieved[{i}]")
            if item and len(item) <= left:
                refs.append(item)
                left -= len(item)
        return task + "".join(refs) + hist + cur
