"""The data model of DESIGN.md: Task and Step rows, and their Arrow schemas.

A Task is what an env can be reset to; a Step is one transition (state, action -> next_state, reward).
Both are plain dataclasses so that envs, collectors and the buffer share them without pulling in pandas.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

SPLITS = ("train", "val", "test")
TASK_SOURCES = ("seed", "generated")
STEP_SOURCES = ("real", "synthetic")


@dataclass(frozen=True)
class Task:
    """One resettable task of one env.

    `spec` holds what the env needs to rebuild it deterministically (level and seed, game file, variation ...);
    it must be JSON-serialisable. `task_id` is unique across splits, so splits are disjoint by construction.
    """

    task_id: str
    env: str
    instruction: str
    split: str
    spec: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    source: str = "seed"
    parent_task_id: str | None = None
    n_attempts: int = 0
    success_rate: float | None = None

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["spec"] = json.dumps(self.spec, sort_keys=True)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Task:
        row = dict(row)
        spec = row.get("spec") or "{}"
        row["spec"] = json.loads(spec) if isinstance(spec, str) else dict(spec)
        sr = row.get("success_rate")
        row["success_rate"] = None if sr is None or sr != sr else float(sr)  # NaN -> None
        return cls(**{k: row[k] for k in cls.__dataclass_fields__ if k in row})


@dataclass
class Step:
    """One transition. `state` is the observation the action was taken in; `next_state` the one it produced."""

    episode_id: str
    task_id: str
    env: str
    t: int
    state: str
    action: str
    next_state: str
    reward: float
    done: bool
    success: bool
    valid_action: bool
    source: str = "real"
    reasoning: str = ""
    policy_version: str = ""
    model_version: str = ""
    iteration: int = 0
    split: str = "train"

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


TASK_SCHEMA = pa.schema(
    [
        ("task_id", pa.string()),
        ("env", pa.string()),
        ("instruction", pa.string()),
        ("split", pa.string()),
        ("spec", pa.string()),
        ("source", pa.string()),
        ("parent_task_id", pa.string()),
        ("n_attempts", pa.int64()),
        ("success_rate", pa.float64()),
    ]
)

STEP_SCHEMA = pa.schema(
    [
        ("episode_id", pa.string()),
        ("task_id", pa.string()),
        ("env", pa.string()),
        ("t", pa.int64()),
        ("state", pa.string()),
        ("action", pa.string()),
        ("next_state", pa.string()),
        ("reward", pa.float64()),
        ("done", pa.bool_()),
        ("success", pa.bool_()),
        ("valid_action", pa.bool_()),
        ("source", pa.string()),
        ("reasoning", pa.string()),
        ("policy_version", pa.string()),
        ("model_version", pa.string()),
        ("iteration", pa.int64()),
        ("split", pa.string()),
    ]
)

STEP_COLUMNS = tuple(STEP_SCHEMA.names)
TASK_COLUMNS = tuple(TASK_SCHEMA.names)
