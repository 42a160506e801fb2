"""Parquet readers and writers for Task and Step rows.

Writes are deterministic (fixed schema, no pandas metadata, stable row order), so the same rows give the same
bytes and therefore the same DVC hash: a fresh clone can regenerate `data/` and match `data.dvc`. Reads take any
columns (the gates judge them), except that a Step file written before a column of ADDED_STEP_COLUMNS existed
reads with that column at its default.

Simplifications: whole files in memory; one writer per file (the atomic rename keeps readers safe).

    write_steps(steps, "data/textcraft/steps.parquet"); write_tasks(tasks, "data/textcraft/tasks.parquet")
    df = read_table("data/textcraft/steps.parquet")   # a DataFrame, or a DreamGymError naming the file
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dreamgym.data.schema import ADDED_STEP_COLUMNS, STEP_SCHEMA, TASK_SCHEMA, Step, Task
from dreamgym.errors import DreamGymError

STEPS_FILE = "steps.parquet"
TASKS_FILE = "tasks.parquet"


def _write(table: pa.Table, path: str | Path) -> Path:
    """Write `table` to `path` atomically (a reader never sees half a file); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd", write_statistics=False, store_schema=False)
    os.replace(tmp, path)
    return path


def _rows_table(rows: Iterable[Step] | Iterable[Task], schema: pa.Schema) -> pa.Table:
    """Step or Task objects as a pa.Table of `schema`, in their order."""
    return pa.Table.from_pylist([r.to_row() for r in rows], schema=schema)


def steps_table(steps: Iterable[Step]) -> pa.Table:
    """Step objects as a pa.Table of STEP_SCHEMA, in their order."""
    return _rows_table(steps, STEP_SCHEMA)


def tasks_table(tasks: Iterable[Task]) -> pa.Table:
    """Task objects as a pa.Table of TASK_SCHEMA (spec as JSON text), in their order."""
    return _rows_table(tasks, TASK_SCHEMA)


def write_steps(steps: Iterable[Step], path: str | Path) -> Path:
    """Write Step objects to a parquet file (deterministic bytes, see the module docstring); returns the path."""
    return _write(steps_table(steps), path)


def write_tasks(tasks: Iterable[Task], path: str | Path) -> Path:
    """Write Task objects to a parquet file (deterministic bytes, see the module docstring); returns the path."""
    return _write(tasks_table(tasks), path)


def with_added_step_columns(table: pa.Table) -> pa.Table:
    """`table` with each column of ADDED_STEP_COLUMNS it lacks appended at that column's default, if it holds Step
    rows (it has an `episode_id` column; Task rows have none): a Step file written before the column existed.
    Any other missing column is left for validation to report."""
    if "episode_id" not in table.column_names:
        return table
    for name, value in ADDED_STEP_COLUMNS.items():
        if name not in table.column_names:
            f = STEP_SCHEMA.field(name)
            table = table.append_column(f, pa.repeat(pa.scalar(value, f.type), table.num_rows))
    return table


def read_table(path: str | Path, shown: str | Path | None = None) -> pd.DataFrame:
    """Read one parquet file as a DataFrame, whatever its columns (validation decides if they are right); a
    Step file that predates a column of ADDED_STEP_COLUMNS reads with it at its default (with_added_step_columns).

    Errors name `shown` if given (e.g. the user's file when `path` is a staged copy of it), else `path`."""
    path = Path(path)
    name = shown if shown is not None else path
    if not path.is_file():
        raise DreamGymError(f"parquet file '{name}' not found")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        detail = str(e).replace(str(path), str(name))  # Arrow names the file it opened
        raise DreamGymError(f"'{name}' is not a readable parquet file: {detail}") from None
    return with_added_step_columns(table).to_pandas()


def read_env_data(data_dir: str | Path, env: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(steps, tasks) DataFrames of one env's seed data (`data_dir/<env>/{steps,tasks}.parquet`); DreamGymError
    saying what to run when they are missing (or when an interrupted seed-data swap left `data_dir` out)."""
    from dreamgym.data.swap import leftovers

    d = Path(data_dir) / env
    if not (d / STEPS_FILE).is_file():
        if not Path(data_dir).is_dir() and leftovers(data_dir):
            raise DreamGymError(f"{data_dir} is missing: a seed-data swap was interrupted; run `dreamgym seed`, "
                                f"which recovers it first")
        raise DreamGymError(f"no seed data for env '{env}' at {d}; run `dreamgym seed` (or choose another env)")
    return read_table(d / STEPS_FILE), read_table(d / TASKS_FILE)


def read_tasks(path: str | Path) -> list[Task]:
    """The Task objects of a tasks file, in file order; DreamGymError if the file is missing."""
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


def dvc_tracked(path: str | Path) -> Path | None:
    """The DVC file that versions `path` (or a folder above it), or None: a `<name>.dvc` next to the folder
    (`dvc add`), or a dvc.yaml stage output in the nearest DVC project above. Writing there by hand makes the
    workspace differ from what DVC recorded."""
    import yaml

    path = Path(path).resolve()
    chain = [path, *path.parents]
    for p in chain:
        if (p.parent / f"{p.name}.dvc").is_file():
            return p.parent / f"{p.name}.dvc"
    for root in chain:
        if (root / ".dvc").is_dir():
            stages_file = root / "dvc.yaml"
            if stages_file.is_file():
                stages = (yaml.safe_load(stages_file.read_text()) or {}).get("stages") or {}
                for stage in stages.values():
                    for key in ("outs", "metrics", "plots"):
                        for out in (stage or {}).get(key) or []:
                            name = next(iter(out)) if isinstance(out, dict) else str(out)
                            if (root / name).resolve() in chain:
                                return stages_file
            break
    return None
