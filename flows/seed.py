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

import json
import shutil
import sys
from pathlib import Path

from prefect import flow, get_run_logger, task

from dreamgym.config import DreamGymConfig
from dreamgym.data import io, swap
from dreamgym.data.seed import collect_seed, seed_summary, success_figure
from dreamgym.envs import make_env
from dreamgym.errors import DreamGymError, GateError
from dreamgym.quality import validate_seed_data
from dreamgym.quality.gates import CheckResult, GateReport
from flows import _dvc
from flows.common import run_cli, tracker_for

FAILED_REPORT = "gate_failed.txt"  # under artifacts/seed/: the full report of the last rejected run


@task
def collect_env(cfg: DreamGymConfig, env_name: str, out_dir: str) -> int:
    with make_env(env_name, **cfg.env_kwargs(env_name)) as env:
        steps, tasks = collect_seed(env, cfg.seed_data.episodes[env_name], cfg.seed_data, cfg.project.seed)
    io.write_steps(steps, Path(out_dir) / env_name / io.STEPS_FILE)
    io.write_tasks(tasks, Path(out_dir) / env_name / io.TASKS_FILE)
    return len(steps)


def _env_folders(folder: str | Path) -> list[Path]:
    """The env folders of a seed-data root: every sub-folder not starting with '.'."""
    folder = Path(folder)
    return [p for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")] if folder.is_dir() else []


def import_envs(import_dir: str | Path) -> list[str]:
    """The env names an import folder brings (its sub-folders); raises DreamGymError if it is not a folder or
    holds none."""
    d = Path(import_dir)
    if not d.is_dir():
        raise DreamGymError(f"import folder '{import_dir}' not found")
    envs = [p.name for p in _env_folders(d)]
    if not envs:
        raise DreamGymError(f"import folder '{import_dir}' holds no env folder (expected {import_dir}/<env>/"
                            f"{{{io.STEPS_FILE},{io.TASKS_FILE}}})")
    return envs


@task
def stage_import(import_dir: str, data_dir: str, staging: str, replace_all: bool) -> dict[str, str]:
    """Build the complete new data/ in `staging`: the env folders of `import_dir` (their steps and tasks files),
    plus, unless `replace_all`, the other env folders of `data_dir` as they are. Returns {env: where it came
    from}, for the gate's report."""
    logger = get_run_logger()
    staged, origins = Path(staging), {}
    for src in _env_folders(import_dir):
        (staged / src.name).mkdir(parents=True)
        for name in (io.STEPS_FILE, io.TASKS_FILE):
            if (src / name).is_file():
                shutil.copy2(src / name, staged / src.name / name)
        other = sorted(p.name for p in src.iterdir() if p.name not in (io.STEPS_FILE, io.TASKS_FILE))
        if other:
            logger.warning(f"{src}: not imported (only {io.STEPS_FILE} and {io.TASKS_FILE} are): {', '.join(other)}")
        origins[src.name] = str(src)
    if not replace_all:
        for d in _env_folders(data_dir):
            if d.name not in origins:
                shutil.copytree(d, staged / d.name)
                origins[d.name] = str(d)
    return origins


@task
def validate_dir(cfg: DreamGymConfig, folder: str, origins: dict[str, str] | None = None) -> dict:
    """Gate every env folder; returns {env: report dict}; raises GateError naming every failed check.

    `origins` maps an env to the folder its files came from (the user's import folder for a staged copy);
    reports and errors name that folder's files."""
    reports, failed = {}, []
    dirs = _env_folders(folder)
    if not dirs:
        raise GateError(f"no <env>/{io.STEPS_FILE} found under '{folder}'")
    for d in dirs:
        env_name, source = d.name, (origins or {}).get(d.name)
        shown = Path(source or d)
        try:
            steps = io.read_table(d / io.STEPS_FILE, shown / io.STEPS_FILE)
            tasks = io.read_table(d / io.TASKS_FILE, shown / io.TASKS_FILE) if (d / io.TASKS_FILE).is_file() else None
        except DreamGymError as e:  # a missing or unreadable file fails the gate like any other check
            rep = GateReport("seed_data", f"env '{env_name}' ({shown})",
                             [CheckResult("files", "readable parquet files", False, str(e))])
        else:
            rep = validate_seed_data(steps, tasks, env_name, cfg.quality.max_reward, cfg.quality.max_text_chars,
                                     cfg.quality.min_success_rate.get(env_name),
                                     source=f"{shown / io.STEPS_FILE} and {io.TASKS_FILE}" if source else None)
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
def recover_data(data_dir: str) -> list[str]:
    """Repair data/ after a swap a crash interrupted (dreamgym.data.swap.recover); returns what it did."""
    return swap.recover(data_dir)


@task
def publish(staging: str, data_dir: str) -> None:
    """Make the validated staging folder the new data/ by an atomic swap (a crash leaves a recoverable state)."""
    swap.swap_in(staging, data_dir)


@task
def version(root: str, data_dir: str, remote: str, push: bool) -> str:
    md5 = _dvc.add(root, data_dir)
    if push:
        _dvc.push(root, f"{data_dir}.dvc", remote)
    return md5


@flow(name="seed", log_prints=False)
def seed_flow(cfg: DreamGymConfig, root: str = ".", import_dir: str | None = None, force: bool = False,
              validate_only: bool = False, replace_all: bool = False) -> dict:
    """Collect (or import), gate, version and log the seed trajectories. Returns the metrics.

    `import_dir` replaces only the envs it holds unless `replace_all`; see the module doc."""
    logger = get_run_logger()
    rootp = Path(root).resolve()
    data_dir = rootp / cfg.paths.data_dir
    for line in recover_data(str(data_dir)):  # before anything reads data/
        logger.warning(f"{cfg.paths.data_dir}/: recovered from an interrupted swap: {line}")
    recorded = _dvc.tracked_md5(rootp, f"{cfg.paths.data_dir}.dvc")
    if replace_all and not import_dir:
        raise DreamGymError("--replace-all applies to --import-dir (collection always replaces all of data/)")
    if import_dir:
        imported = import_envs(import_dir)
        if not replace_all and recorded and not data_dir.is_dir():
            raise DreamGymError(
                f"{cfg.paths.data_dir}/ is missing but {cfg.paths.data_dir}.dvc records {recorded}: the envs "
                f"'{import_dir}' does not bring would be dropped; restore it first (`dvc checkout "
                f"{cfg.paths.data_dir}` or `dvc pull`), or pass --replace-all to import {', '.join(imported)} alone")
        if not replace_all and recorded and data_dir.is_dir() and not _dvc.status_clean(rootp, f"{cfg.paths.data_dir}.dvc"):
            logger.warning(f"{cfg.paths.data_dir}/ differs from {cfg.paths.data_dir}.dvc ({recorded}); the envs the "
                           f"import keeps from it are kept as they are now")
    tracker = tracker_for(cfg, rootp)
    failed_report = rootp / cfg.paths.artifacts_dir / "seed" / FAILED_REPORT
    with tracker.run("validate_seed" if validate_only else "seed", tags={"stage": "seed"}):
        tracker.log_config(cfg.model_dump())
        origins: dict[str, str] = {}
        if validate_only:
            origins = {d.name: f"{cfg.paths.data_dir}/{d.name}" for d in _env_folders(data_dir)}
            staging = None
        elif not import_dir and not force and recorded and data_dir.is_dir() and _dvc.status_clean(rootp, f"{cfg.paths.data_dir}.dvc"):
            logger.info(f"data/ already matches {cfg.paths.data_dir}.dvc ({recorded}); skipping collection")
            staging = None
        else:
            staging = rootp / cfg.paths.artifacts_dir / "staging" / "seed"
            if staging.exists():
                shutil.rmtree(staging)
            if import_dir:
                origins = stage_import(import_dir, str(data_dir), str(staging), replace_all)
                kept = sorted(set(origins) - set(imported))
                logger.info(f"importing {', '.join(imported)} from {import_dir}"
                            + (f"; keeping {', '.join(kept)} of {cfg.paths.data_dir}/" if kept else ""))
            else:
                for env_name in cfg.seed_data.envs:
                    n = collect_env(cfg, env_name, str(staging))
                    logger.info(f"{env_name}: {n} steps collected")
        folder = str(staging or data_dir)
        try:
            reports = validate_dir(cfg, folder, origins)
        except GateError as e:
            tracker.log_dict(e.report, "gate/seed_data_report.json")
            tracker.log_text(str(e), "gate/seed_data_report.txt")
            tracker.set_tags({"gate": "failed"})
            failed_report.parent.mkdir(parents=True, exist_ok=True)
            failed_report.write_text(str(e) + "\n")
            raise
        failed_report.unlink(missing_ok=True)
        if validate_only:
            return _report(cfg, tracker, rootp, str(data_dir), reports)
        if staging is not None:
            publish(str(staging), str(data_dir))
        md5 = version(str(rootp), cfg.paths.data_dir, cfg.dvc.remote, cfg.dvc.push)
        if recorded and md5 != recorded and not import_dir:
            logger.warning(f"data/ hash changed: {recorded} -> {md5}. If params.yaml or an env changed on purpose, "
                           f"commit {cfg.paths.data_dir}.dvc; if not, collection is not deterministic here.")
        tracker.set_tags({"data.dvc_md5": md5, "gate": "passed"})
        metrics = _report(cfg, tracker, rootp, str(data_dir), reports)
        for env_name, d in io.env_dirs(data_dir).items():
            # the dataset's digest is the DVC directory hash: `git checkout <commit> && dvc pull` restores it
            tracker.log_dataset(io.read_table(d / io.STEPS_FILE), name=f"seed-{env_name}",
                                source=str(d / io.STEPS_FILE), digest=md5.removesuffix(".dir"))
        return metrics


def gate_summary(e: GateError, report_file: str | Path | None = None) -> str:
    """One line for the command line out of a seed-gate failure: each failed env's subject and its failed
    checks (with their details and first bad row), and where the full report is."""
    parts = []
    for rep in (e.report.get("reports") or {}).values():
        if rep.get("ok", True):
            continue
        bad = [c for c in rep.get("checks", []) if not c.get("ok")]
        shown = []
        for c in bad[:3]:
            row = ", ".join(f"{k}={v!r}" for k, v in (c.get("bad_rows") or [{}])[0].items())
            shown.append(f"[{c['table']}] {c['check']}" + (f": {c['detail']}" if c.get("detail") else "")
                         + (f" ({row}{', ...' if c.get('unexpected_count', 0) > 1 else ''})" if row else ""))
        more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
        parts.append(f"{rep['subject']}: {len(bad)} of {rep['n_checks']} checks failed: " + "; ".join(shown) + more)
    line = " | ".join(parts) if parts else (str(e).strip().splitlines() or ["the seed gate failed"])[0]
    line = f"seed gate rejected {line}" if parts else line
    return " ".join((line + (f" (full report: {report_file})" if report_file else "")).split())


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
            raise GateError(gate_summary(e, report if report.is_file() else None), e.report) from None

    def summary(cfg, a, r) -> str:
        rows = {k.split("/")[1]: v for k, v in r.items() if k.startswith("data/") and k.endswith("/rows")}
        md5 = _dvc.tracked_md5(Path(a.root).resolve(), f"{cfg.paths.data_dir}.dvc")
        gate = "gate failed" if r.get("gate/seed_data/failed") else "gate passed"
        return f"{len(rows)} envs, {int(sum(rows.values()))} steps, {gate}" + (f", {cfg.paths.data_dir}.dvc md5 {md5}" if md5 else "")

    return run_cli(__doc__.splitlines()[0], argv, extra, call, stage="seed", summary=summary)


if __name__ == "__main__":
    sys.exit(main())
