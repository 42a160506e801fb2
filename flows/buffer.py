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

import sys
import time
from pathlib import Path

from prefect import flow, get_run_logger, task

from dreamgym.config import DreamGymConfig
from dreamgym.errors import GateError
from dreamgym.stages import buffer as stage
from flows import _dvc
from flows.common import buffer_snapshot_file, stage_main, tracker_for, write_record

real_steps = task(stage.real_steps)
gate_rows = task(stage.gate_rows)
seed_snapshot = task(stage.seed_snapshot)


@flow(name="buffer", log_prints=False)
def buffer_flow(cfg: DreamGymConfig, root: str = ".") -> dict:
    """Gate the real rows, seed the buffer, snapshot it and log the snapshot. Returns the snapshot record."""
    t0, rootp = time.perf_counter(), Path(root).resolve()
    tracker = tracker_for(cfg, rootp)
    with tracker.run(stage.STAGE, tags={"stage": stage.STAGE}):
        tracker.log_config(cfg.model_dump())
        steps = real_steps(str(rootp / cfg.paths.data_dir))
        try:
            report = gate_rows(cfg, steps)
        except GateError as e:
            stage.log_gate_failure(tracker, e, "gate/buffer_rows_report.json")
            raise
        tag = stage.snapshot_tag(_dvc.tracked_md5(rootp, f"{cfg.paths.data_dir}.dvc"))
        try:
            info, metrics, extra = seed_snapshot(cfg, str(rootp), steps, tag, progress=stage.TqdmProgress)
        except GateError as e:  # the buffer table itself failed its gate: no snapshot was pinned
            stage.log_gate_failure(tracker, e, "gate/buffer_table_report.json")
            raise
        stage.log_snapshot(tracker, info, report, metrics, extra)
        get_run_logger().info(f"buffer {info['uri']} v{info['version']} tag {info['tag']}: {info['rows']} rows")
        record = stage.snapshot_record(cfg, info, metrics)
        write_record(buffer_snapshot_file(cfg, rootp), record)  # last: a killed stage leaves no record
        print(f"{stage.STAGE}: {stage.summary_line(steps, info, extra)} in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr, flush=True)
        return record


main = stage_main(__doc__, buffer_flow, stage.STAGE)  # the flow prints its own summary line


if __name__ == "__main__":
    sys.exit(main())
