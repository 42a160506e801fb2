"""Seed stage: collect real trajectories -> quality gate -> version with DVC -> log to MLflow.

    python -m flows.seed                      # collect with params.yaml, gate, `dvc add data` + push, log
    python -m flows.seed --preset tiny        # tiny budgets (tests, CI)
    python -m flows.seed --import-dir DIR     # bring your own trajectories: DIR/<env>/{steps,tasks}.parquet
    python -m flows.seed --import-dir DIR --replace-all   # ... and drop the envs DIR does not bring
    python -m flows.seed --validate-only      # the dvc.yaml stage: gate the DVC-tracked data/, write metrics

Collection writes to a staging folder under artifacts/; only data that passed the gate replaces `data/`, so a
failing gate leaves `data/`, `data.dvc`, the DVC cache and the remote exactly as they were, and its MLflow run
ends FAILED with the gate report as an artifact (no dataset is logged; the report is also written to
artifacts/seed/gate_failed.txt). If `data/` already matches `data.dvc`, collection is skipped (pass --force to
recollect); collection replaces all of `data/` (it is exactly what the config produces).

An import replaces only the env folders DIR holds (the other envs of `data/` stay, and stay in `data.dvc`) unless
--replace-all is given; the gate then checks the whole new `data/`, naming the user's files in its errors.
The new `data/` is built complete next to the old one and swapped in by renames (dreamgym.data.swap), and every
run first repairs a swap a crash interrupted, so `data/` is always whole.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow, task

from dreamgym.config import DreamGymConfig
from dreamgym.errors import GateError
from dreamgym.stages import seed as stage
from flows import _dvc
from flows.common import run_cli, tracker_for, write_record

FAILED_REPORT = "gate_failed.txt"  # under artifacts/seed/: the full report of the last rejected run
recover, publish = task(stage.recover), task(stage.publish)  # repair data/ after a crash; atomic swap-in
build_staging, gate_and_record = task(stage.build_staging), task(stage.gate_and_record)
seed_metrics, log_seed = task(stage.seed_metrics), task(stage.log_seed)


@task
def version(root: Path, data_dir: str, remote: str, push: bool) -> str:
    md5 = _dvc.add(root, data_dir)
    if push:
        _dvc.push(root, f"{data_dir}.dvc", remote)
    return md5


@flow(name="seed", log_prints=False)
def seed_flow(cfg: DreamGymConfig, root: str = ".", import_dir: str | None = None, force: bool = False,
              validate_only: bool = False, replace_all: bool = False) -> dict:
    """Collect (or import), gate, version and log the seed trajectories. Returns the metrics (see the module doc)."""
    rootp = Path(root).resolve()
    data_dir, dvc_file, out = rootp / cfg.paths.data_dir, f"{cfg.paths.data_dir}.dvc", rootp / cfg.paths.artifacts_dir / "seed"
    recover(str(data_dir))  # before anything reads data/
    recorded = _dvc.tracked_md5(rootp, dvc_file)
    mode = stage.plan(recorded, data_dir, lambda: _dvc.status_clean(rootp, dvc_file), import_dir=import_dir,
                      force=force, validate_only=validate_only, replace_all=replace_all)
    tracker, staging = tracker_for(cfg, rootp), rootp / cfg.paths.artifacts_dir / "staging" / "seed"
    with tracker.run("validate_seed" if validate_only else "seed", tags={"stage": "seed"}):
        tracker.log_config(cfg.model_dump())
        origins = build_staging(cfg, mode, staging, data_dir, import_dir, replace_all)
        folder = staging if mode in ("collect", "import") else data_dir
        reports = gate_and_record(cfg, folder, origins, tracker, out / FAILED_REPORT)
        if mode in ("collect", "import"):
            publish(str(staging), str(data_dir))
        md5 = version(rootp, cfg.paths.data_dir, cfg.dvc.remote, cfg.dvc.push) if mode != "validate" else None
        stage.check_hash(mode, recorded, md5, dvc_file)
        metrics = seed_metrics(str(data_dir), reports)
        log_seed(tracker, metrics, reports, data_dir, md5)
        write_record(out / "metrics.json", metrics)
        write_record(out / "gate_report.json", {"reports": reports})
        return metrics


def main(argv: list[str] | None = None) -> int:
    def extra(p):
        p.add_argument("--import-dir", default=None, help="gate and version DIR/<env>/{steps,tasks}.parquet instead "
                       "of collecting; replaces only those envs of data/")
        p.add_argument("--replace-all", action="store_true",
                       help="with --import-dir: data/ becomes exactly DIR (the envs DIR does not hold are dropped)")
        p.add_argument("--force", action="store_true", help="recollect even if data/ matches data.dvc")
        p.add_argument("--validate-only", action="store_true", help="only gate data/ and write artifacts/seed/*")

    def call(cfg, a):
        try:
            return seed_flow(cfg, root=a.root, import_dir=a.import_dir, force=a.force,
                             validate_only=a.validate_only, replace_all=a.replace_all)
        except GateError as e:  # the command line gets one line; the full report is in the file it names
            report = Path(a.root) / cfg.paths.artifacts_dir / "seed" / FAILED_REPORT
            raise GateError(stage.gate_summary(e, report if report.is_file() else None), e.report) from None

    def summary(cfg, a, r) -> str:
        return stage.summary(cfg, r, _dvc.tracked_md5(Path(a.root), f"{cfg.paths.data_dir}.dvc"))

    return run_cli(__doc__.splitlines()[0], argv, call, stage="seed", summary=summary, extra=extra)


if __name__ == "__main__":
    sys.exit(main())
