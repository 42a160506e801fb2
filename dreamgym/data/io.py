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


def tasks_table(tasks: Iterable[Task]) -> pa.Table:
    return pa.Table.from_pylist([t.to_row() for t in tasks], schema=TASK_SCHEMA)


def write_tasks(tasks: Iterable[Task], path: str | Path) -> Path:
    path = Path(path)
    _write(tasks_table(tasks), path)
    return path


def read_table(path: str | Path, shown: str | Path | None = None) -> pd.DataFrame:
    """Read one parquet file as a DataFrame, whatever its columns (validation decides if they are right).

    Errors name `shown` if given (e.g. the user's file when `path` is a staged copy of it), else `path`."""
    path = Path(path)
    name = shown if shown is not None else path
    if not path.is_file():
        raise DreamGymError(f"parquet file '{name}' not found")
    try:
        return pq.read_table(path).to_pandas()
    except (pa.ArrowInvalid, OSError) as e:
        detail = str(e).replace(str(path), str(name))  # Arrow names the file it opened
        raise DreamGymError(f"'{name}' is not a readable parquet file: {detail}") from None


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
