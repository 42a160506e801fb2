"""Seed stage: collect real trajectories -> quality gate -> version with DVC -> log to MLflow.

    python -m flows.seed                      # collect with params.yaml, gate, `dvc add data` + push, log
    python -m flows.seed --preset tiny        # tiny budgets (tests, CI)
    python -m flows.seed --import-dir DIR     # bring your own trajectories: DIR/<env>/{steps,tasks}.parquet
    python -m flows.seed --validate-only      # the dvc.yaml stage: gate the DVC-tracked data/, write metrics

Collection writes to a staging folder under artifacts/; only data that passed the gate replaces `data/`, so a
failing gate leaves `data/`, `data.dvc`, the DVC cache and the remote exactly as they were, and its MLflow run
ends FAILED with the gate report as an artifact (no dataset is logged). If `data/` already matches
`data.dvc`, collection is skipped (pass --force to recollect).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from prefect import flow, get_run_logger, task

from dreamgym.config import DreamGymConfig
from dreamgym.data import io
from dreamgym.data.seed import collect_seed, seed_summary, success_figure
from dreamgym.envs import make_env
from dreamgym.errors import GateError
from dreamgym.quality import validate_seed_data
from flows import _dvc
from flows.common import run_cli, tracker_for


@task
def collect_env(cfg: DreamGymConfig, env_name: str, out_dir: str) -> int:
    with make_env(env_name, **cfg.env_kwargs(env_name)) as env:
        steps, tasks = collect_seed(env, cfg.seed_data.episodes[env_name], cfg.seed_data, cfg.project.seed)
    io.write_steps(steps, Path(out_dir) / env_name / io.STEPS_FILE)
    io.write_tasks(tasks, Path(out_dir) / env_name / io.TASKS_FILE)
    return len(steps)


@task
def validate_dir(cfg: DreamGymConfig, folder: str) -> dict:
    """Gate every env folder; returns {env: report dict}; raises GateError naming every failed check."""
    reports, failed = {}, []
    dirs = io.env_dirs(folder)
    if not dirs:
        raise GateError(f"no <env>/{io.STEPS_FILE} found under '{folder}'")
    for env_name, d in dirs.items():
        tasks = io.read_table(d / io.TASKS_FILE) if (d / io.TASKS_FILE).is_file() else None
        rep = validate_seed_data(io.read_table(d / io.STEPS_FILE), tasks, env_name, cfg.quality.max_reward,
                                 cfg.quality.max_text_chars, cfg.quality.min_success_rate.get(env_name))
        reports[env_name] = rep.to_dict()
        if not rep.ok:
            failed.append(rep)
    if failed:
        raise GateError("\n".join(r.to_text() for r in failed), {"reports": reports})
    return reports


@task
def summarise(folder: str) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for env_name, d in io.env_dirs(folder).items():
        metrics.update(seed_summary(io.read_table(d / io.STEPS_FILE), env_name))
    return metrics


@task
def publish(staging: str, data_dir: str) -> None:
    """Replace data/ by the validated staging folder (data/ is exactly what the config produced)."""
    data = Path(data_dir)
    if data.exists():
        shutil.rmtree(data)
    shutil.move(staging, data)


@task
def version(root: str, data_dir: str, remote: str, push: bool) -> str:
    md5 = _dvc.add(root, data_dir)
    if push:
        _dvc.push(root, f"{data_dir}.dvc", remote)
    return md5


@flow(name="seed", log_prints=False)
def seed_flow(cfg: DreamGymConfig, root: str = ".", import_dir: str | None = None, force: bool = False,
              validate_only: bool = False) -> dict:
    """Collect (or import), gate, version and log the seed trajectories. Returns the metrics."""
    logger = get_run_logger()
    rootp = Path(root).resolve()
    data_dir = rootp / cfg.paths.data_dir
    tracker = tracker_for(cfg, rootp)
    with tracker.run("validate_seed" if validate_only else "seed", tags={"stage": "seed"}):
        tracker.log_config(cfg.model_dump())
        if validate_only:
            return _report(cfg, tracker, rootp, str(data_dir), validate_dir(cfg, str(data_dir)))
        recorded = _dvc.tracked_md5(rootp, f"{cfg.paths.data_dir}.dvc")
        if not import_dir and not force and recorded and data_dir.is_dir() and _dvc.status_clean(rootp, f"{cfg.paths.data_dir}.dvc"):
            logger.info(f"data/ already matches {cfg.paths.data_dir}.dvc ({recorded}); skipping collection")
            staging = None
        else:
            staging = rootp / cfg.paths.artifacts_dir / "staging" / "seed"
            if staging.exists():
                shutil.rmtree(staging)
            if import_dir:
                shutil.copytree(import_dir, staging)
            else:
                for env_name in cfg.seed_data.envs:
                    n = collect_env(cfg, env_name, str(staging))
                    logger.info(f"{env_name}: {n} steps collected")
        folder = str(staging or data_dir)
        try:
            reports = validate_dir(cfg, folder)
        except GateError as e:
            tracker.log_dict(e.report, "gate/seed_data_report.json")
            tracker.log_text(str(e), "gate/seed_data_report.txt")
            tracker.set_tags({"gate": "failed"})
            raise
        if staging is not None:
            publish(str(staging), str(data_dir))
        md5 = version(str(rootp), cfg.paths.data_dir, cfg.dvc.remote, cfg.dvc.push)
        if recorded and md5 != recorded:
            logger.warning(f"data/ hash changed: {recorded} -> {md5}. If params.yaml or an env changed on purpose, "
                           f"commit {cfg.paths.data_dir}.dvc; if not, collection is not deterministic here.")
        tracker.set_tags({"data.dvc_md5": md5, "gate": "passed"})
        metrics = _report(cfg, tracker, rootp, str(data_dir), reports)
        for env_name, d in io.env_dirs(data_dir).items():
            # the dataset's digest is the DVC directory hash: `git checkout <commit> && dvc pull` restores it
            tracker.log_dataset(io.read_table(d / io.STEPS_FILE), name=f"seed-{env_name}",
                                source=str(d / io.STEPS_FILE), digest=md5.removesuffix(".dir"))
        return metrics


def _report(cfg, tracker, rootp: Path, folder: str, reports: dict) -> dict:
    metrics = summarise(folder)
    metrics["gate/seed_data/checks"] = float(sum(r["n_checks"] for r in reports.values()))
    metrics["gate/seed_data/failed"] = float(sum(r["n_failed"] for r in reports.values()))
    tracker.log_metrics(metrics)
    tracker.log_dict({"reports": reports}, "gate/seed_data_report.json")
    tracker.log_figure(success_figure(metrics), "plots/seed_success.png")
    out = rootp / cfg.paths.artifacts_dir / "seed"
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    (out / "gate_report.json").write_text(json.dumps({"reports": reports}, indent=2, sort_keys=True, default=str))
    return metrics


def main(argv: list[str] | None = None) -> int:
    def extra(p):
        p.add_argument("--root", default=".", help="project root (git + DVC repo)")
        p.add_argument("--import-dir", default=None, help="gate and version DIR/<env>/steps.parquet instead of collecting")
        p.add_argument("--force", action="store_true", help="recollect even if data/ matches data.dvc")
        p.add_argument("--validate-only", action="store_true", help="only gate data/ and write artifacts/seed/*")

    return run_cli(__doc__.splitlines()[0], argv, extra, lambda cfg, a: seed_flow(
        cfg, root=a.root, import_dir=a.import_dir, force=a.force, validate_only=a.validate_only))


if __name__ == "__main__":
    sys.exit(main())
