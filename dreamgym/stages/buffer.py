"""The seed_buffer stage: gate the real rows, seed the LanceDB replay buffer with them, snapshot it.

    steps = real_steps(data_dir)
    rows_report = gate_rows(cfg, steps)                       # GateError: the rows' report rides on it
    info, metrics, extra = seed_snapshot(cfg, root, steps, snapshot_tag(md5), progress=TqdmProgress)
    log_snapshot(tracker, info, rows_report, metrics, extra)
    record = snapshot_record(cfg, info, metrics)              # the stage's DVC metric (machine-independent)

`seed_snapshot` holds the buffer's writer lock throughout, so nobody writes between the tag check and the tag: a
snapshot of the same data version is reused only after checking it against the data (row count, content, unique
keys), else rebuilt; seeding replaces the real rows in one commit (synthetic rows are kept), the buffer table is
gated as a whole, the ANN index is built past `buffer.index.threshold_rows`, the snapshot is pinned, then the
retention policy runs.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from dreamgym.buffer import ReplayBuffer
from dreamgym.config import DreamGymConfig
from dreamgym.data import io
from dreamgym.errors import DreamGymError, GateError
from dreamgym.experience.retrieval import state_key
from dreamgym.quality import gate, validate_buffer_rows
from dreamgym.tracking import Tracker

STAGE = "seed_buffer"
log = logging.getLogger(__name__)


def snapshot_tag(data_md5: str | None) -> str:
    """The snapshot tag of a seed-data version: `seed-<first 12 hex digits of data.dvc's md5>` ("untracked")."""
    return f"seed-{(data_md5 or 'untracked').removesuffix('.dir')[:12]}"


def real_steps(data_dir: str | Path) -> pd.DataFrame:
    """Every env's real seed steps under `data_dir` (data/<env>/steps.parquet), in one frame."""
    return pd.concat([io.read_table(d / io.STEPS_FILE) for d in io.env_dirs(data_dir).values()], ignore_index=True)


def gate_rows(cfg: DreamGymConfig, steps: pd.DataFrame) -> dict:
    """The buffer GX suite over the rows to seed (schema, no empty states, reward range, known source, unique
    (episode_id, t)); raises GateError carrying the report when a check fails."""
    return gate(validate_buffer_rows(steps, cfg.quality.max_reward, cfg.quality.max_text_chars)).to_dict()


class TqdmProgress:
    """A seed/add progress callback drawing a tqdm bar (rate, ETA) on stderr."""

    def __init__(self, total: int, desc: str):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="row", file=sys.stderr, mininterval=1.0, dynamic_ncols=True)

    def __call__(self, done: int, total: int) -> None:
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def seed_snapshot(cfg: DreamGymConfig, root: str | Path, steps: pd.DataFrame, tag: str,
                  progress: Callable[[int, str], Any] | None = None) -> tuple[dict, dict, dict]:
    """Seed the buffer with `steps` and pin snapshot `tag`, reusing `tag` if it already holds exactly these rows
    (see the module doc). `progress(total, desc)` makes a seed progress callback (e.g. TqdmProgress).
    Returns (snapshot info, buffer metrics, extra: reused / rebuilt / index / retention / table_gate). A GateError
    here carries the report on the buffer table (no snapshot was pinned)."""
    buf = ReplayBuffer.from_config(cfg.buffer, root=root, state_key=state_key(cfg.experience.state_budget))
    extra: dict = {}
    with buf.writer():
        if tag in buf.tags():  # seeded from this data version before: reuse the snapshot if it holds the data
            view = buf.checkout(tag)
            problems = view.verify_seed(steps)
            if not problems:
                return view.info(tag).to_dict(), view.stats().metrics(), {"reused": True}
            log.warning(f"snapshot {tag} (v{view.version}) does not match the data ({'; '.join(problems)}): "
                        f"rebuilding it")
            buf.delete_snapshot(tag)
            extra["rebuilt"] = problems
        bar = progress(len(steps), f"{STAGE}: embedding") if progress else None
        try:
            buf.seed(steps, replace=True, progress=bar)
        finally:
            if bar is not None and hasattr(bar, "close"):
                bar.close()
        table_report = gate(validate_buffer_rows(buf.steps_frame(), cfg.quality.max_reward, cfg.quality.max_text_chars,
                                                 subject=f"the buffer table {buf.table_name} after seeding"))
        problems = buf.verify_seed(steps)
        if problems:  # the content check beyond the GX suite: the real rows are exactly the data's
            raise DreamGymError(f"buffer {buf.uri} v{buf.version} after seeding: {'; '.join(problems)}")
        index = buf.build_index() if len(buf) >= cfg.buffer.index.threshold_rows and not buf.indexed else {}
        info = buf.snapshot(tag).to_dict()
        retention = buf.apply_retention()
        metrics = buf.stats().metrics()
    return info, metrics, {**extra, "index": index, "retention": retention.__dict__,
                           "table_gate": table_report.to_dict()}


def log_gate_failure(tracker: Tracker, e: GateError, artifact: str) -> None:
    """Log a failed gate's report to the current run (as `artifact`) and tag the run `gate=failed`."""
    tracker.log_dict(e.report, artifact)
    tracker.set_tags({"gate": "failed"})


def log_snapshot(tracker: Tracker, info: dict, rows_report: dict, metrics: dict, extra: dict) -> None:
    """Log the pinned snapshot, both gate reports, the buffer metrics and the maintenance record."""
    import json

    tracker.log_buffer_snapshot(info)
    tracker.log_dict(rows_report, "gate/buffer_rows_report.json")
    if "table_gate" in extra:
        tracker.log_dict(extra["table_gate"], "gate/buffer_table_report.json")
    tracker.log_metrics(metrics)
    maintenance = {k: v for k, v in extra.items() if k != "table_gate"}
    tracker.log_dict(json.loads(json.dumps(maintenance, default=str)), "buffer/maintenance.json")


def snapshot_record(cfg: DreamGymConfig, info: dict, metrics: dict) -> dict:
    """The stage's DVC metric: the snapshot info with the *configured* buffer uri (not this clone's absolute
    path), so a fresh clone that rebuilds the buffer from the same data reproduces it byte for byte."""
    return {**info, "uri": cfg.buffer.uri, "metrics": metrics}


def summary_line(steps: pd.DataFrame, info: dict, extra: dict) -> str:
    """`<rows> rows (<envs> envs) -> snapshot <tag> v<version>[ (reused)]`."""
    return (f"{info['rows']} rows ({int(steps['env'].nunique())} envs) -> snapshot {info['tag']} v{info['version']}"
            f"{' (reused)' if extra.get('reused') else ''}")
