"""Parquet readers and writers for Task and Step rows.

Writes are deterministic (fixed schema, no pandas metadata, stable row order), so the same rows give the same
bytes and therefore the same DVC hash: a fresh clone can regenerate `data/` and match `data.dvc`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dreamgym.data.schema import STEP_SCHEMA, TASK_SCHEMA, Step, Task
from dreamgym.errors import DreamGymError

STEPS_FILE = "steps.parquet"
TASKS_FILE = "tasks.parquet"


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd", write_statistics=False, store_schema=False)
    os.replace(tmp, path)  # atomic: a reader never sees half a file


def steps_table(steps: Iterable[Step]) -> pa.Table:
    return pa.Table.from_pylist([s.to_row() for s in steps], schema=STEP_SCHEMA)


def write_steps(steps: Iterable[Step], path: str | Path) -> Path:
    path = Path(path)
    _write(steps_table(steps), path)
    return path


def write_tasks(tasks: Iterable[Task], path: str | Path) -> Path:
    path = Path(path)
    _write(pa.Table.from_pylist([t.to_row() for t in tasks], schema=TASK_SCHEMA), path)
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read one parquet file as a DataFrame, whatever its columns (validation decides if they are right)."""
    path = Path(path)
    if not path.is_file():
        raise DreamGymError(f"parquet file '{path}' not found")
    try:
        return pq.read_table(path).to_pandas()
    except (pa.ArrowInvalid, OSError) as e:
        raise DreamGymError(f"'{path}' is not a readable parquet file: {e}") from None


def read_tasks(path: str | Path) -> list[Task]:
    path = Path(path)
    if not path.is_file():
        raise DreamGymError(f"task file '{path}' not found")
    return [Task.from_row(r) for r in pq.read_table(path).to_pylist()]


def env_dirs(root: str | Path) -> dict[str, Path]:
    """The per-env folders of a seed-data root: {env: root/env} for each folder holding a steps file."""
    root = Path(root)
    if not root.is_dir():
        raise DreamGymError(f"data folder '{root}' not found")
    return {p.name: p for p in sorted(root.iterdir()) if (p / STEPS_FILE).is_file()}
