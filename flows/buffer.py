"""Buffer stage: seed the LanceDB replay buffer from the DVC-versioned real trajectories.

    python -m flows.buffer                    # params.yaml: minilm embeddings, artifacts/buffer
    python -m flows.buffer --preset tiny      # hashing embedder, for tests and CI

Reads data/<env>/steps.parquet, gates every env's rows with the buffer GX suite (schema, no empty states,
reward range, known source, (episode_id, t) unique), and then, holding the buffer's writer lock throughout (a
second writer waits `buffer.lock_timeout_s`, then fails naming this one): replaces the real rows of the buffer
with them in one commit (synthetic rows are kept; a tqdm bar on stderr shows the embedding's rate and ETA),
gates the buffer table itself (the same suite over every row, so no (episode_id, t) repeats) and checks that
its real rows are exactly the data's, builds the ANN index once the table is past
`buffer.index.threshold_rows`, pins a snapshot tagged `seed-<data hash>`, applies the retention policy, and logs
the snapshot (uri, Lance version, tag, digest, rows by env and source) to MLflow, so any later run can name the
exact buffer state it used. A rerun on the same data reuses that snapshot after checking it against the data
(row count, content, unique keys), and rebuilds it if it does not match. Writes artifacts/buffer_snapshot.json
(a DVC metric) last, atomically, so a stage killed mid-way leaves no tag and no record that a later run could
take for complete. Ends with a one-line summary on stderr. The Lance directory itself is not a DVC output: Lance
versions it (file names are random UUIDs, so its bytes differ between rebuilds of the same content); the
snapshot's content digest is what identifies it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task

from dreamgym.buffer import ReplayBuffer
from dreamgym.config import DreamGymConfig
from dreamgym.data import io
from dreamgym.errors import DreamGymError, GateError
from dreamgym.experience.retrieval import state_key
from dreamgym.quality import gate, validate_buffer_rows
from flows import _dvc
from flows.common import run_cli, tracker_for


@task
def load_real_steps(data_dir: str) -> pd.DataFrame:
    return pd.concat([io.read_table(d / io.STEPS_FILE) for d in io.env_dirs(data_dir).values()], ignore_index=True)


@task
def gate_rows(cfg: DreamGymConfig, steps: pd.DataFrame) -> dict:
    return gate(validate_buffer_rows(steps, cfg.quality.max_reward, cfg.quality.max_text_chars)).to_dict()


class _Bar:
    """A seed/add progress callback drawing a tqdm bar (rate, ETA) on stderr."""

    def __init__(self, total: int, desc: str):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="row", file=sys.stderr, mininterval=1.0, dynamic_ncols=True)

    def __call__(self, done: int, total: int) -> None:
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


@task
def seed_buffer(cfg: DreamGymConfig, root: str, steps: pd.DataFrame, tag: str) -> tuple[dict, dict, dict]:
    """Seed and snapshot under the writer lock (one turn: nobody writes between the tag check and the tag);
    reuse the tag only if it matches the data. A GateError here carries the report on the buffer table."""
    logger = get_run_logger()
    buf = ReplayBuffer.from_config(cfg.buffer, root=root, state_key=state_key(cfg.experience.state_budget))
    extra: dict = {}
    with buf.writer():
        if tag in buf.tags():  # seeded from this data version before: reuse the snapshot if it holds the data
            view = buf.checkout(tag)
            problems = view.verify_seed(steps)
            if not problems:
                return view.info(tag).to_dict(), view.stats().metrics(), {"reused": True}
            logger.warning(f"snapshot {tag} (v{view.version}) does not match the data ({'; '.join(problems)}): "
                           f"rebuilding it")
            buf.delete_snapshot(tag)
            extra["rebuilt"] = problems
        bar = _Bar(len(steps), "seed_buffer: embedding")
        try:
            buf.seed(steps, replace=True, progress=bar)
        finally:
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


@flow(name="buffer", log_prints=False)
def buffer_flow(cfg: DreamGymConfig, root: str = ".") -> dict:
    """Gate the real rows, seed the buffer, snapshot it and log the snapshot. Returns the snapshot record."""
    logger = get_run_logger()
    t0 = time.perf_counter()
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
        try:
            info, metrics, extra = seed_buffer(cfg, str(rootp), steps, f"seed-{md5.removesuffix('.dir')[:12]}")
        except GateError as e:  # the buffer table itself failed its gate: no snapshot was pinned
            tracker.log_dict(e.report, "gate/buffer_table_report.json")
            tracker.set_tags({"gate": "failed"})
            raise
        tracker.log_buffer_snapshot(info)
        tracker.log_dict(report, "gate/buffer_rows_report.json")
        if "table_gate" in extra:
            tracker.log_dict(extra.pop("table_gate"), "gate/buffer_table_report.json")
        tracker.log_metrics(metrics)
        tracker.log_dict(json.loads(json.dumps(extra, default=str)), "buffer/maintenance.json")
        logger.info(f"buffer {info['uri']} v{info['version']} tag {info['tag']}: {info['rows']} rows")
        # the DVC metric is machine-independent (the configured uri, not this clone's absolute path), so a fresh
        # clone that rebuilds the buffer from the same data reproduces it byte for byte
        record = {**info, "uri": cfg.buffer.uri, "metrics": metrics}
        out = rootp / cfg.paths.artifacts_dir / "buffer_snapshot.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
        os.replace(tmp, out)  # atomic: a reader sees the old record or the whole new one
        envs = int(steps["env"].nunique())
        print(f"seed_buffer: {info['rows']} rows ({envs} envs) -> snapshot {info['tag']} v{info['version']}"
              f"{' (reused)' if extra.get('reused') else ''} in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr, flush=True)
        return record


def main(argv: list[str] | None = None) -> int:
    def extra(p):
        p.add_argument("--root", default=".", help="project root")

    return run_cli(__doc__.splitlines()[0], argv, extra, lambda cfg, a: buffer_flow(cfg, root=a.root),
                   stage="seed_buffer")  # the flow prints its own summary line


if __name__ == "__main__":
    sys.exit(main())
