"""Buffer stage: seed the LanceDB replay buffer from the DVC-versioned real trajectories.

    python -m flows.buffer                    # params.yaml: minilm embeddings, artifacts/buffer
    python -m flows.buffer --preset tiny      # hashing embedder, for tests and CI

Reads data/<env>/steps.parquet, gates every env's rows with the buffer GX suite (schema, no empty states,
reward range, known source), replaces the real rows of the buffer with them (synthetic rows are kept), builds
the ANN index once the table is past `buffer.index.threshold_rows`, pins a snapshot tagged `seed-<data hash>`
(a rerun on the same data reuses that snapshot),
applies the retention policy, and logs the snapshot (uri, Lance version, tag, digest, rows by env and source) to
MLflow, so any later run can name the exact buffer state it used. Writes artifacts/buffer_snapshot.json (a DVC
metric). The Lance directory itself is not a DVC output: Lance versions it (file names are random UUIDs, so its
bytes differ between rebuilds of the same content); the snapshot's content digest is what identifies it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task

from dreamgym.buffer import ReplayBuffer
from dreamgym.config import DreamGymConfig
from dreamgym.data import io
from dreamgym.errors import GateError
from dreamgym.quality import gate, validate_buffer_rows
from flows import _dvc
from flows.common import run_cli, tracker_for


@task
def load_real_steps(data_dir: str) -> pd.DataFrame:
    return pd.concat([io.read_table(d / io.STEPS_FILE) for d in io.env_dirs(data_dir).values()], ignore_index=True)


@task
def gate_rows(cfg: DreamGymConfig, steps: pd.DataFrame) -> dict:
    return gate(validate_buffer_rows(steps, cfg.quality.max_reward, cfg.quality.max_text_chars)).to_dict()


@task
def seed_buffer(cfg: DreamGymConfig, root: str, steps: pd.DataFrame, tag: str) -> tuple[dict, dict, dict]:
    buf = ReplayBuffer.from_config(cfg.buffer, root=root)
    if tag in buf.tags():  # already seeded from exactly this data version: reuse that snapshot
        return buf.checkout(tag).info(tag).to_dict(), buf.stats().metrics(), {"reused": True}
    buf.seed(steps, replace=True)
    index = buf.build_index() if len(buf) >= cfg.buffer.index.threshold_rows and not buf.indexed else {}
    info = buf.snapshot(tag).to_dict()
    retention = buf.apply_retention()
    return info, buf.stats().metrics(), {"index": index, "retention": retention.__dict__}


@flow(name="buffer", log_prints=False)
def buffer_flow(cfg: DreamGymConfig, root: str = ".") -> dict:
    """Gate the real rows, seed the buffer, snapshot it and log the snapshot. Returns the snapshot record."""
    logger = get_run_logger()
    rootp = Path(root).resolve()
    tracker = tracker_for(cfg, rootp)
    with tracker.run("seed_buffer", tags={"stage": "seed_buffer"}):
        tracker.log_config(cfg.model_dump())
        steps = load_real_steps(str(rootp / cfg.paths.data_dir))
        try:
            report = gate_rows(cfg, steps)
        except GateError as e:
            tracker.log_dict(e.report, "gate/buffer_rows_report.json")
            tracker.set_tags({"gate": "failed"})
            raise
        md5 = _dvc.tracked_md5(rootp, f"{cfg.paths.data_dir}.dvc") or "untracked"
        info, metrics, extra = seed_buffer(cfg, str(rootp), steps, f"seed-{md5.removesuffix('.dir')[:12]}")
        tracker.log_buffer_snapshot(info)
        tracker.log_dict(report, "gate/buffer_rows_report.json")
        tracker.log_metrics(metrics)
        tracker.log_dict(json.loads(json.dumps(extra, default=str)), "buffer/maintenance.json")
        logger.info(f"buffer {info['uri']} v{info['version']} tag {info['tag']}: {info['rows']} rows")
        # the DVC metric is machine-independent (the configured uri, not this clone's absolute path), so a fresh
        # clone that rebuilds the buffer from the same data reproduces it byte for byte
        record = {**info, "uri": cfg.buffer.uri, "metrics": metrics}
        out = rootp / cfg.paths.artifacts_dir / "buffer_snapshot.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2, sort_keys=True))
        return record


def main(argv: list[str] | None = None) -> int:
    def extra(p):
        p.add_argument("--root", default=".", help="project root")

    return run_cli(__doc__.splitlines()[0], argv, extra, lambda cfg, a: buffer_flow(cfg, root=a.root))


if __name__ == "__main__":
    sys.exit(main())
