"""The data model of DESIGN.md: Task and Step rows, and their Arrow schemas.

A Task is what an env can be reset to; a Step is one transition (state, action -> next_state, reward).
Both are plain dataclasses so that envs, collectors and the buffer share them without pulling in pandas.
TASK_SCHEMA and STEP_SCHEMA are derived from the dataclasses' fields (`row_schema`), so a new field is a new
column everywhere. A Step column added after data was first written is listed in ADDED_STEP_COLUMNS with the
value rows written before it hold; readers of older files and buffer tables fill it in.

Simplifications: every Arrow field is nullable (as the files have always been written); the gates check nulls.

    STEP_SCHEMA.field("parse_failure").type       # string
    row_schema(Task) == TASK_SCHEMA               # True
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields
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
    """One transition. `state` is the observation the action was taken in; `next_state` the one it produced.

    `parse_failure` is the parser's reason when the experience model's output for this step could not be parsed
    (a SyntheticEnv step recorded as an invalid transition, its `reasoning` empty); "" for a parsed or real step.
    """

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
    parse_failure: str = ""

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


#: the Arrow type of each field annotation of a row dataclass (a dict is stored as JSON text)
_ARROW_TYPES: dict[type, pa.DataType] = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_(),
                                         dict: pa.string()}


def arrow_type(annotation: Any) -> pa.DataType:
    """The Arrow type of a row field annotated `annotation`: str -> string, int -> int64, float -> float64,
    bool -> bool, dict[...] -> string (JSON text), and `X | None` -> the type of X (every field is nullable)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return arrow_type(args[0])
    base = typing.get_origin(annotation) or annotation
    if base not in _ARROW_TYPES:
        raise TypeError(f"no Arrow type for a row field annotated {annotation!r}")
    return _ARROW_TYPES[base]


def row_schema(cls: type) -> pa.Schema:
    """The Arrow schema of the rows of dataclass `cls`: one nullable field per dataclass field, in field order."""
    hints = typing.get_type_hints(cls)
    return pa.schema([pa.field(f.name, arrow_type(hints[f.name])) for f in fields(cls)])


TASK_SCHEMA = row_schema(Task)
STEP_SCHEMA = row_schema(Step)
STEP_COLUMNS = tuple(STEP_SCHEMA.names)
TASK_COLUMNS = tuple(TASK_SCHEMA.names)
#: Step columns added after seed data and buffer tables were first written -> the value of rows without them
ADDED_STEP_COLUMNS: dict[str, Any] = {"parse_failure": Step.parse_failure}
