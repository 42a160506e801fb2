"""New tasks for the pool: the experience model writes variants of high-variance tasks, and every one is checked
before it enters.

    accepted, verdicts = write_variants(xm, parents, cfg.curriculum, iteration=3, pool=pool, held_out=held,
                                        initial_state=real_reset)
    counts(verdicts)       # {"written": 16, "accepted": 5, "malformed": 6, "duplicate": 3, "infeasible": 2, ...}

`parents` are (task, first state) pairs. The model is asked with PromptSpec.task_prompt (the task block and the
first state) and samples `variants_per_task` instructions each (ExperienceModel.write_tasks). A written task is
accepted only if it:
1. parses: the text is well formed (`</gen>`) and the env's task grammar (EnvSpec.task_from_text) builds a task of
   it in the parent's world; an env without a grammar accepts nothing ("no grammar");
2. differs from its parent's instruction ("same as parent") and duplicates no pool task or earlier variant
   ("duplicate": same env and spec, pool.task_key);
3. is no val or test task: its split is train and its key is none of `held_out` ("held out");
4. can start: `initial_state(task)` gives its first observation ("infeasible" when it raises DreamGymError).
   For the built-in envs this is a real reset of the task (BabyAI: the mission on the parent's grid; TextCraft:
   the goal with the parent's seed), so the state is real; no step is taken.

Simplification: a variant's world is its parent's (same level and seed); variants of variants are allowed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dreamgym.curriculum.config import CurriculumConfig
from dreamgym.curriculum.pool import GeneratedTask, TaskPool, task_key
from dreamgym.data.schema import Task
from dreamgym.errors import DreamGymError

#: why a written task was rejected (Verdict.reason); "" is accepted
REASONS = ("malformed", "no grammar", "same as parent", "duplicate", "held out", "infeasible")


@dataclass(frozen=True)
class Verdict:
    """One written task: its parent, the text, the task it became (None if rejected), the reason and detail."""

    parent_id: str
    text: str
    task: Task | None
    reason: str = ""
    detail: str = ""

    @property
    def accepted(self) -> bool:
        return not self.reason


def check_task(parent: Task, written, parse: Callable[[Task, str], Task | str] | None, known: set[str],
               held_out: set[str], initial_state: Callable[[Task], str]) -> tuple[Verdict, str | None]:
    """The verdict on one written task (see the module docstring) and, if accepted, its initial state. `written`:
    the parsed instruction or a ParseFailure; `known`: pool task keys; `held_out`: keys of val and test tasks."""
    if not isinstance(written, str):
        return Verdict(parent.task_id, getattr(written, "text", ""), None, "malformed",
                       getattr(written, "reason", "")), None
    if parse is None:
        return Verdict(parent.task_id, written, None, "no grammar", f"env '{parent.env}' has no task grammar"), None
    if " ".join(written.split()).lower() == " ".join(parent.instruction.split()).lower():
        return Verdict(parent.task_id, written, None, "same as parent"), None
    task = parse(parent, written)
    if isinstance(task, str):
        return Verdict(parent.task_id, written, None, "malformed", task), None
    key = task_key(task)
    if task.split != "train" or key in held_out:
        return Verdict(parent.task_id, written, None, "held out", f"a {task.split} task" if task.split != "train"
                       else "a val or test task's spec"), None
    if key in known:
        return Verdict(parent.task_id, written, None, "duplicate", task.task_id), None
    try:
        first = initial_state(task)
    except DreamGymError as e:
        return Verdict(parent.task_id, written, None, "infeasible", str(e).splitlines()[0][:200]), None
    if not str(first).strip():
        return Verdict(parent.task_id, written, None, "infeasible", "empty initial state"), None
    return Verdict(parent.task_id, written, task), str(first)


def write_variants(xm, parents: Sequence[tuple[Task, str]], cfg: CurriculumConfig, *, iteration: int,
                   pool: TaskPool, held_out: set[str], initial_state: Callable[[Task], str],
                   seed: int = 0) -> tuple[list[GeneratedTask], list[Verdict]]:
    """Ask experience model `xm` for `cfg.variants_per_task` variants of each parent and check them; returns the
    accepted tasks (with lineage: iteration, xm.version, initial state) and every verdict. Room is capped by
    `cfg.max_generated` minus the pool's generated tasks."""
    room = cfg.max_generated - len(pool.generated)
    if not parents or room <= 0:
        return [], []
    contexts = [(xm.spec.task_text(p.instruction, first), first) for p, first in parents]
    written = xm.write_tasks(contexts, cfg.variants_per_task, temperature=cfg.temperature,
                             max_new_tokens=cfg.max_new_tokens, seed=seed)
    known = pool.keys()
    accepted: list[GeneratedTask] = []
    verdicts: list[Verdict] = []
    for (parent, _), texts in zip(parents, written, strict=True):
        for text in texts:
            v, first = check_task(parent, text, xm.spec.env.task_from_text, known, held_out, initial_state)
            if v.accepted and len(accepted) < room:
                known.add(task_key(v.task))
                accepted.append(GeneratedTask(v.task, int(iteration), xm.version, first))
            verdicts.append(v)
    return accepted, verdicts


def counts(verdicts: Sequence[Verdict]) -> dict[str, int]:
    """written, accepted and one count per rejection reason (REASONS, spaces as underscores)."""
    c = Counter(v.reason for v in verdicts)
    return {"written": len(verdicts), "accepted": c.get("", 0),
            **{r.replace(" ", "_"): c.get(r, 0) for r in REASONS}}
