"""SFT examples for the experience model from real trajectories.

    spec = PromptSpec.from_config(cfg.experience, get_spec("myenv"), max_steps=64)
    ex = build_examples(steps, tasks, spec, annotator=None, retriever=None)
    ex.columns -> prompt, completion, episode_id, task_id, t, split, determined, state, action, valid,
                  next_state, reward, done, reasoning, context

One example per real Step: the prompt (PromptSpec.prompt: task block, retrieved transitions, the last
`history_window` steps, the current state and action) and the target (PromptSpec.target: rationale, validity,
next state, reward, done). States everywhere are abstract states (the env's EnvSpec.observe), so the target's
next state is exactly what a prediction is compared with. The split is the Step's `split` column; a task in two
splits is an error, so val examples never share a task with train ones. The retriever (experience.retrieval)
gets PromptSpec.query() of each step (the abstract state and action, excluding the episode and its task): the
same query synthesis makes. None or k = 0 means no reference block.

Annotators get the prompt's context too (`info["context"]`: the task block and the history window's states), so a
computing annotator can write the rule's steps from what the model will see; the `context` column keeps it (a
tuple: the task block first) for the env's context and consistency rules at evaluation. `determined` marks the transitions whose real next state follows from the prompt's context (the task block,
the history window, the current state and the action), per the env's context rule (EnvSpec.determined); only
those can be predicted exactly, so fidelity is reported on both subsets.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dreamgym.errors import DreamGymError
from dreamgym.experience.annotators import Annotator, annotate_rows, make_annotator
from dreamgym.experience.prompt import PromptSpec, truncated_done
from dreamgym.experience.retrieval import Retriever, retrieve_many

# ---------------------------------------------------------------------------------------------------------------
# examples

_NEEDED = ("episode_id", "task_id", "t", "state", "action", "next_state", "reward", "done", "valid_action", "split")
EXAMPLE_COLUMNS = ("prompt", "completion", "episode_id", "task_id", "t", "split", "determined", "state", "action",
                   "valid", "next_state", "reward", "done", "reasoning", "context")


def check_task_splits(steps: pd.DataFrame, tasks: pd.DataFrame | None = None) -> None:
    """Raise DreamGymError if a task's steps span two splits, or disagree with the task list's split."""
    per_task = steps.groupby("task_id", sort=True)["split"].unique()
    mixed = [(t, sorted(s)) for t, s in per_task.items() if len(s) > 1]
    if mixed:
        t, s = mixed[0]
        raise DreamGymError(f"task '{t}' has steps in splits {s} ({len(mixed)} such task(s)); "
                            "splits must be disjoint by task")
    if tasks is not None and len(tasks) and "split" in tasks.columns:
        listed = dict(zip(tasks["task_id"], tasks["split"], strict=True))
        for t, s in per_task.items():
            if t in listed and listed[t] != s[0]:
                raise DreamGymError(f"task '{t}' is in split '{s[0]}' in the steps but '{listed[t]}' in the task list")


def build_examples(steps: pd.DataFrame, tasks: pd.DataFrame, spec: PromptSpec, *,
                   annotator: Annotator | str | None = None, retriever: Retriever | None = None) -> pd.DataFrame:
    """SFT examples (one per Step of `spec.env`), sorted by (episode_id, t); columns EXAMPLE_COLUMNS.

    steps: Step rows (DataFrame with the Step columns, `split` included). tasks: the task list (task_id,
    instruction[, split]); every task of the steps must be listed. annotator: an annotator name (see
    annotators.make_annotator; None: the env's rule-based one), or an annotate() callable (or an object with
    annotate_many); not called when spec.with_reasoning is False. retriever: see the module docstring; its
    first spec.k rows are used. The real valid/next_state (abstract)/reward/done are kept for evaluation; a
    failed episode's done at spec.max_steps is truncation (prompt.truncated_done), so its `done` is 0.
    """
    env = spec.env.name
    missing = [c for c in _NEEDED if c not in steps.columns]
    if missing:
        raise DreamGymError(f"build_examples: steps lack column(s) {missing}")
    if "task_id" not in tasks.columns or "instruction" not in tasks.columns:
        raise DreamGymError("build_examples: tasks need columns task_id and instruction")
    df = steps[steps["env"] == env] if "env" in steps.columns else steps
    if len(df) == 0:
        raise DreamGymError(f"build_examples: no steps of env '{env}'")
    check_task_splits(df, tasks)
    instructions = dict(zip(tasks["task_id"], tasks["instruction"], strict=True))
    unknown = sorted(set(df["task_id"]) - set(instructions))
    if unknown:
        raise DreamGymError(f"build_examples: {len(unknown)} task(s) of the steps are not in the task list, "
                            f"e.g. '{unknown[0]}'")
    if spec.with_reasoning:
        annotate = make_annotator(annotator, spec.env) if annotator is None or isinstance(annotator, str) else annotator
    df = df.sort_values(["episode_id", "t"], kind="stable").reset_index(drop=True)
    refs = iter(retrieve_many(retriever, [spec.query(str(r.state), str(r.action), str(r.episode_id), str(r.task_id),
                                                     str(r.split)) for r in df.itertuples(index=False)], spec.k))
    rows: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for episode_id, ep in df.groupby("episode_id", sort=True):
        ep = ep.sort_values("t", kind="stable")
        first = ep.iloc[0]
        instr = str(instructions[first["task_id"]])
        task_text = spec.task_text(instr, str(first["state"]) if int(first["t"]) == 0 else None)
        abs_s = [spec.abstract(s) for s in ep["state"]]
        abs_n = [spec.abstract(s) for s in ep["next_state"]]
        actions = [str(a) for a in ep["action"]]
        w = spec.history_window
        for i, row in enumerate(ep.itertuples(index=False)):
            hist = [(abs_s[j], actions[j]) for j in range(max(0, i - w), i)] if w else []
            prompt = spec.prompt(task_text, hist, next(refs), abs_s[i], actions[i])
            valid = bool(row.valid_action)
            success = bool(getattr(row, "success", row.reward > 0))
            done = truncated_done(bool(row.done), success, int(row.t), spec.max_steps)
            context = [task_text, *(h[0] for h in hist)]
            determined = spec.env.determined(context, abs_s[i], actions[i], abs_n[i], valid)
            rows.append({"prompt": prompt, "episode_id": str(episode_id), "task_id": str(row.task_id),
                         "t": int(row.t), "split": str(row.split), "determined": bool(determined),
                         "state": abs_s[i], "action": actions[i], "valid": valid, "next_state": abs_n[i],
                         "reward": float(row.reward), "done": done, "context": tuple(context)})
            notes.append({"state": abs_s[i], "action": actions[i], "next_state": abs_n[i],
                          "reward": float(row.reward), "done": done, "valid_action": valid,
                          "info": {"instruction": instr, "success": success, "context": context}})
    reasoning = annotate_rows(annotate, notes) if spec.with_reasoning else [""] * len(rows)
    for r, why in zip(rows, reasoning, strict=True):
        r["reasoning"] = why
        r["completion"] = spec.target(why, r["valid"], r["next_state"], r["reward"], r["done"])
    return pd.DataFrame(rows, columns=list(EXAMPLE_COLUMNS))


# ---------------------------------------------------------------------------------------------------------------
# task-generation examples (the curriculum's ability: the same weights write variants of a task)

TASK_EXAMPLE_COLUMNS = ("prompt", "completion", "task_id", "split", "kind")


def build_task_examples(steps: pd.DataFrame, tasks: pd.DataFrame, spec: PromptSpec, variants: int,
                        seed: int = 0) -> pd.DataFrame:
    """Task-generation SFT examples: for each task of the steps (its first episode's first state), up to `variants`
    variants written by the env's rules (EnvSpec.task_variants), one example each: the prompt
    PromptSpec.task_prompt(task block, first state), the target PromptSpec.task_target(variant). Columns
    TASK_EXAMPLE_COLUMNS (`kind` is "task"); the split is the task's. Empty when the env has no task_variants or
    `variants` is 0."""
    import random

    env = spec.env.name
    if spec.env.task_variants is None or variants <= 0:
        return pd.DataFrame(columns=list(TASK_EXAMPLE_COLUMNS))
    df = steps[(steps["env"] == env) if "env" in steps.columns else slice(None)]
    first = df[df["t"] == 0].sort_values(["task_id", "episode_id"], kind="stable").drop_duplicates("task_id")
    instructions = dict(zip(tasks["task_id"], tasks["instruction"], strict=True))
    rng = random.Random(seed)
    rows = []
    for r in first.itertuples(index=False):
        instr = str(instructions.get(r.task_id, ""))
        if not instr:
            continue
        task_text = spec.task_text(instr, str(r.state))
        for v in spec.env.task_variants(instr, str(r.state), rng, int(variants)):
            rows.append({"prompt": spec.task_prompt(task_text, str(r.state)), "completion": spec.task_target(v),
                         "task_id": str(r.task_id), "split": str(r.split), "kind": "task"})
    return pd.DataFrame(rows, columns=list(TASK_EXAMPLE_COLUMNS))
