"""The task pool of the DreamGym loop: the seed train tasks and the generated ones, versioned in a Lance table.

    store = PoolStore("artifacts/loop/babyai-s0/pool")        # a LanceDB dir (or URI); the table is created empty
    pool = TaskPool(seed_tasks, store.load())                 # generated tasks of the latest version
    batch = pool.draw(8, rng, share=0.5)                      # at most floor(0.5 * 8) generated tasks
    store.add([GeneratedTask(task, iteration=3, model_version="v2", initial_state=obs)]); store.tag("iter-3")
    pool = TaskPool(seed_tasks, store.load("iter-3"))         # the pool as it was after iteration 3
    store.truncate_after(3)                                   # resume: drop what a killed iteration 4 wrote

Only generated tasks are stored (the seed tasks are the env's train list, rebuilt from the config). A generated
task carries its lineage: parent task (Task.parent_task_id), the iteration and the experience-model version that
wrote it, and the initial state its episodes start from (the real env's reset of the task, made when it was
checked). Each add() is one Lance commit, so a kill leaves the table at a version with whole iterations only.

Simplification: the store has one writer (the loop); tags name the pool's version after each iteration.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from dreamgym.curriculum.variance import generated_quota
from dreamgym.data.schema import Task
from dreamgym.errors import DreamGymError

_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SCHEMA = pa.schema([("task_id", pa.string()), ("env", pa.string()), ("instruction", pa.string()),
                    ("split", pa.string()), ("spec", pa.string()), ("parent_task_id", pa.string()),
                    ("iteration", pa.int64()), ("model_version", pa.string()), ("initial_state", pa.string())])


@dataclass(frozen=True)
class GeneratedTask:
    """A task the experience model wrote, with its lineage and its initial state."""

    task: Task
    iteration: int
    model_version: str
    initial_state: str

    def to_row(self) -> dict:
        t = self.task
        return {"task_id": t.task_id, "env": t.env, "instruction": t.instruction, "split": t.split,
                "spec": json.dumps(t.spec, sort_keys=True), "parent_task_id": t.parent_task_id or "",
                "iteration": int(self.iteration), "model_version": self.model_version,
                "initial_state": self.initial_state}

    @classmethod
    def from_row(cls, r: dict) -> GeneratedTask:
        task = Task(task_id=r["task_id"], env=r["env"], instruction=r["instruction"], split=r["split"],
                    spec=json.loads(r["spec"]), source="generated", parent_task_id=r["parent_task_id"] or None)
        return cls(task, int(r["iteration"]), r["model_version"], r["initial_state"])


def task_key(task: Task) -> str:
    """What makes two tasks the same task: the env and its spec (level and seed, goal, mission ...)."""
    return f"{task.env}:{json.dumps(task.spec, sort_keys=True)}"


class TaskPool:
    """The seed tasks and the generated ones (see the module docstring); `keys()` for duplicate checks."""

    def __init__(self, seed_tasks: Sequence[Task], generated: Sequence[GeneratedTask] = ()):
        if not seed_tasks:
            raise DreamGymError("TaskPool: no seed tasks")
        self.seed = list(seed_tasks)
        self.generated = list(generated)
        self._keys = {task_key(t) for t in self.seed} | {task_key(g.task) for g in self.generated}

    def __len__(self) -> int:
        return len(self.seed) + len(self.generated)

    @property
    def generated_share(self) -> float:
        """The share of generated tasks in the pool."""
        return len(self.generated) / len(self)

    def keys(self) -> set[str]:
        return set(self._keys)

    def add(self, tasks: Sequence[GeneratedTask]) -> None:
        """Add checked generated tasks (a duplicate of a pool task raises: check them first)."""
        for g in tasks:
            k = task_key(g.task)
            if k in self._keys:
                raise DreamGymError(f"TaskPool: task '{g.task.task_id}' duplicates a pool task")
            self._keys.add(k)
            self.generated.append(g)

    def initial_states(self) -> dict[str, str]:
        """task_id -> initial state, for the generated tasks."""
        return {g.task.task_id: g.initial_state for g in self.generated}

    def draw(self, n: int, rng: random.Random, share: float) -> list[Task]:
        """`n` distinct tasks: generated_quota(n, share, generated) drawn uniformly from the generated tasks, the rest
        uniformly from the seed tasks (fewer when the pool is smaller)."""
        n_gen = generated_quota(n, share, len(self.generated))
        gen = [g.task for g in rng.sample(self.generated, k=n_gen)] if n_gen else []
        seed = rng.sample(self.seed, k=min(n - n_gen, len(self.seed)))
        return gen + seed


class PoolStore:
    """The generated tasks in one Lance table at `uri` (created empty if absent), versioned by Lance and tagged."""

    def __init__(self, uri: str | Path, table: str = "task_pool"):
        import lancedb

        self.uri = str(uri)
        self._db = lancedb.connect(self.uri)
        names = self._db.table_names() if hasattr(self._db, "table_names") else list(self._db.list_tables())
        self._table = self._db.open_table(table) if table in names else self._db.create_table(table, schema=SCHEMA)

    @property
    def version(self) -> int:
        self._table.checkout_latest()
        return int(self._table.version)

    def tags(self) -> dict[str, int]:
        return {t: int(v["version"]) for t, v in sorted(self._table.tags.list().items())}

    def add(self, tasks: Sequence[GeneratedTask]) -> int:
        """Append generated tasks in one commit; returns how many."""
        if not tasks:
            return 0
        self._table.checkout_latest()
        self._table.add(pa.Table.from_pylist([g.to_row() for g in tasks], schema=SCHEMA))
        return len(tasks)

    def tag(self, name: str) -> int:
        """Pin the current version as `name` (replacing an older tag of that name); returns the version."""
        if not _TAG.match(name or ""):
            raise DreamGymError(f"pool tag '{name}' must match {_TAG.pattern}")
        v = self.version
        if name in self.tags():
            self._table.tags.delete(name)
        self._table.tags.create(name, v)
        return v

    def delete_tag(self, name: str) -> None:
        if name in self.tags():
            self._table.tags.delete(name)

    def load(self, ref: str | int | None = None) -> list[GeneratedTask]:
        """The generated tasks of version `ref` (a tag or a version number; None: the latest), in insertion order."""
        if ref is None:
            self._table.checkout_latest()
        else:
            known = self.tags()
            if isinstance(ref, str) and ref not in known:
                raise DreamGymError(f"task pool at {self.uri}: no tag '{ref}'; tags: {sorted(known)}")
            self._table.checkout(known[ref] if isinstance(ref, str) else int(ref))
        try:
            rows = self._table.to_arrow().to_pylist()
        finally:
            self._table.checkout_latest()
        return [GeneratedTask.from_row(r) for r in rows]

    def truncate_after(self, iteration: int) -> int:
        """Delete the tasks written after `iteration` (one commit; none: no commit); returns how many."""
        self._table.checkout_latest()
        n = self._table.count_rows(f"iteration > {int(iteration)}")
        if n:
            self._table.delete(f"iteration > {int(iteration)}")
        return int(n)
