"""The seed stage: collect (or import) real trajectories, gate them, and describe them for tracking.

    mode = plan(recorded_md5, data_dir, clean=lambda: dvc_status_clean(), import_dir=None)  # "collect", ...
    origins = build_staging(cfg, mode, staging, data_dir, import_dir)     # the complete new data/ in `staging`
    reports = gate_and_record(cfg, staging, origins, tracker, failed_report)   # GateError naming each failed check
    metrics = seed_metrics(data_dir, reports); log_seed(tracker, metrics, reports, data_dir, md5)

What the stage does, by mode (`plan`): "validate" gates data/ as it is (the dvc.yaml stage); "skip" leaves data/
alone when it already matches data.dvc; "collect" runs every env of `seed_data.envs` into a staging folder;
"import" stages a user's `DIR/<env>/{steps,tasks}.parquet`, plus, unless `replace_all`, the envs of data/ that DIR
does not bring. Only a folder that passed the gate replaces data/ (dreamgym.data.swap, in the flow), and DVC
versions it (flows/_dvc.py: the library never imports dvc).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from dreamgym.config import DreamGymConfig
from dreamgym.data import io, swap
from dreamgym.data.seed import collect_seed, seed_summary, success_figure
from dreamgym.envs import make_env
from dreamgym.errors import DreamGymError, GateError
from dreamgym.quality import validate_seed_data
from dreamgym.quality.gates import CheckResult, GateReport
from dreamgym.tracking import Tracker

MODES = ("validate", "skip", "collect", "import")
log = logging.getLogger(__name__)


def env_folders(folder: str | Path) -> list[Path]:
    """The env folders of a seed-data root: every sub-folder not starting with '.'."""
    folder = Path(folder)
    return [p for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")] if folder.is_dir() else []


def import_envs(import_dir: str | Path) -> list[str]:
    """The env names an import folder brings (its sub-folders); raises DreamGymError if it is not a folder or
    holds none."""
    d = Path(import_dir)
    if not d.is_dir():
        raise DreamGymError(f"import folder '{import_dir}' not found")
    envs = [p.name for p in env_folders(d)]
    if not envs:
        raise DreamGymError(f"import folder '{import_dir}' holds no env folder (expected {import_dir}/<env>/"
                            f"{{{io.STEPS_FILE},{io.TASKS_FILE}}})")
    return envs


def recover(data_dir: str | Path) -> list[str]:
    """Repair data/ after a swap a crash interrupted (dreamgym.data.swap.recover), logging what it did."""
    done = swap.recover(data_dir)
    for line in done:
        log.warning(f"{Path(data_dir).name}/: recovered from an interrupted swap: {line}")
    return done


def publish(staging: str | Path, data_dir: str | Path) -> None:
    """Make the gated `staging` folder the new data/ by renames (dreamgym.data.swap.swap_in): a crash at any
    point leaves a state that `recover` repairs."""
    swap.swap_in(staging, data_dir)


def plan(recorded: str | None, data_dir: Path, clean: Callable[[], bool], *, import_dir: str | None = None,
         force: bool = False, validate_only: bool = False, replace_all: bool = False) -> str:
    """What a seed run does (one of MODES; the reason is logged), from data.dvc's recorded md5 (`recorded`, None
    when untracked), whether `data_dir` exists and `clean()` (does data/ match data.dvc; asked only when needed).
    Raises DreamGymError for options that contradict each other or an import that would drop envs."""
    mode, notes = _plan(recorded, data_dir, clean, import_dir, force, validate_only, replace_all)
    for note in notes:
        log.info(note)
    return mode


def _plan(recorded, data_dir, clean, import_dir, force, validate_only, replace_all) -> tuple[str, list[str]]:
    if replace_all and not import_dir:
        raise DreamGymError("--replace-all applies to --import-dir (collection always replaces all of data/)")
    name = data_dir.name
    if validate_only:
        return "validate", []
    if not import_dir:
        if not force and recorded and data_dir.is_dir() and clean():
            return "skip", [f"{name}/ already matches {name}.dvc ({recorded}); skipping collection"]
        return "collect", []
    imported = import_envs(import_dir)
    notes = []
    if not replace_all and recorded:
        if not data_dir.is_dir():
            raise DreamGymError(
                f"{name}/ is missing but {name}.dvc records {recorded}: the envs '{import_dir}' does not bring "
                f"would be dropped; restore it first (`dvc checkout {name}` or `dvc pull`), or pass --replace-all "
                f"to import {', '.join(imported)} alone")
        if not clean():
            notes.append(f"{name}/ differs from {name}.dvc ({recorded}); the envs the import keeps from it are kept "
                         f"as they are now")
    return "import", notes


def check_hash(mode: str, recorded: str | None, md5: str | None, dvc_file: str) -> bool:
    """Warn (and return False) when a collection changed data.dvc's recorded hash: deliberate, or collection is
    not deterministic here."""
    if mode != "collect" or not recorded or not md5 or md5 == recorded:
        return True
    log.warning(f"data/ hash changed: {recorded} -> {md5}. If params.yaml or an env changed on purpose, commit "
                f"{dvc_file}; if not, collection is not deterministic here.")
    return False


def collect_env(cfg: DreamGymConfig, env_name: str, out_dir: str | Path) -> int:
    """Collect env `env_name`'s seed episodes (`seed_data`) into `out_dir/<env>/`; returns the step count."""
    with make_env(env_name, **cfg.env_kwargs(env_name)) as env:
        steps, tasks = collect_seed(env, cfg.seed_data.episodes[env_name], cfg.seed_data, cfg.project.seed)
    io.write_steps(steps, Path(out_dir) / env_name / io.STEPS_FILE)
    io.write_tasks(tasks, Path(out_dir) / env_name / io.TASKS_FILE)
    return len(steps)


def stage_import(import_dir: str | Path, data_dir: str | Path, staging: str | Path, replace_all: bool) -> dict[str, str]:
    """Build the complete new data/ in `staging`: the env folders of `import_dir` (their steps and tasks files),
    plus, unless `replace_all`, the other env folders of `data_dir` as they are. Returns {env: where it came
    from}, for the gate's report."""
    staged, origins = Path(staging), {}
    for src in env_folders(import_dir):
        (staged / src.name).mkdir(parents=True)
        for name in (io.STEPS_FILE, io.TASKS_FILE):
            if (src / name).is_file():
                shutil.copy2(src / name, staged / src.name / name)
        other = sorted(p.name for p in src.iterdir() if p.name not in (io.STEPS_FILE, io.TASKS_FILE))
        if other:
            log.warning(f"{src}: not imported (only {io.STEPS_FILE} and {io.TASKS_FILE} are): {', '.join(other)}")
        origins[src.name] = str(src)
    if not replace_all:
        for d in env_folders(data_dir):
            if d.name not in origins:
                shutil.copytree(d, staged / d.name)
                origins[d.name] = str(d)
    return origins


def build_staging(cfg: DreamGymConfig, mode: str, staging: Path, data_dir: Path, import_dir: str | None = None,
                  replace_all: bool = False) -> dict[str, str]:
    """Make the folder the gate reads, per `mode`: the new data/ in a fresh `staging` (collect, import), or
    data/ itself (validate, skip). Returns {env: where its files came from} for the gate's messages."""
    if mode in ("validate", "skip"):
        return {d.name: f"{data_dir.name}/{d.name}" for d in env_folders(data_dir)} if mode == "validate" else {}
    if staging.exists():
        shutil.rmtree(staging)
    if mode == "import":
        origins, imported = stage_import(import_dir, data_dir, staging, replace_all), import_envs(import_dir)
        kept = sorted(set(origins) - set(imported))
        log.info(f"importing {', '.join(imported)} from {import_dir}"
                 + (f"; keeping {', '.join(kept)} of {data_dir.name}/" if kept else ""))
        return origins
    for env_name in cfg.seed_data.envs:
        log.info(f"{env_name}: {collect_env(cfg, env_name, staging)} steps collected")
    return {}


def gate_folder(cfg: DreamGymConfig, folder: str | Path, origins: dict[str, str] | None = None) -> dict:
    """Gate every env folder; returns {env: report dict}; raises GateError naming every failed check.

    `origins` maps an env to the folder its files came from (the user's import folder for a staged copy);
    reports and errors name that folder's files."""
    reports, failed = {}, []
    dirs = env_folders(folder)
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


def seed_metrics(folder: str | Path, reports: dict) -> dict[str, float]:
    """The stage's DVC metric: per-env seed summaries (data/<env>/*) and the gate's check counts."""
    metrics: dict[str, float] = {}
    for env_name, d in io.env_dirs(folder).items():
        metrics.update(seed_summary(io.read_table(d / io.STEPS_FILE), env_name))
    metrics["gate/seed_data/checks"] = float(sum(r["n_checks"] for r in reports.values()))
    metrics["gate/seed_data/failed"] = float(sum(r["n_failed"] for r in reports.values()))
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


def summary(cfg: DreamGymConfig, metrics: dict, md5: str | None) -> str:
    """The stage's closing line: envs, steps, the gate's outcome and data.dvc's md5."""
    rows = {k.split("/")[1]: v for k, v in metrics.items() if k.startswith("data/") and k.endswith("/rows")}
    gate = "gate failed" if metrics.get("gate/seed_data/failed") else "gate passed"
    return f"{len(rows)} envs, {int(sum(rows.values()))} steps, {gate}" + (
        f", {cfg.paths.data_dir}.dvc md5 {md5}" if md5 else "")


def gate_and_record(cfg: DreamGymConfig, folder: str | Path, origins: dict[str, str], tracker: Tracker,
                    failed_report: Path) -> dict:
    """gate_folder(), with a rejection recorded: its report logged to the current run (JSON and text), the run
    tagged `gate=failed` and the full text written to `failed_report` before the GateError goes on; a pass
    removes an earlier run's `failed_report`."""
    try:
        reports = gate_folder(cfg, folder, origins)
    except GateError as e:
        tracker.log_dict(e.report, "gate/seed_data_report.json")
        tracker.log_text(str(e), "gate/seed_data_report.txt")
        tracker.set_tags({"gate": "failed"})
        failed_report.parent.mkdir(parents=True, exist_ok=True)
        failed_report.write_text(str(e) + "\n")
        raise
    failed_report.unlink(missing_ok=True)
    return reports


def log_seed(tracker: Tracker, metrics: dict[str, float], reports: dict, data_dir: Path, md5: str | None) -> None:
    """Log the seed metrics, the gate report and the success plot; with data.dvc's `md5` (a versioning run), also
    each env's steps as an MLflow dataset whose digest is the DVC directory hash (`dvc pull` at the commit
    restores it)."""
    tracker.log_metrics(metrics)
    tracker.log_dict({"reports": reports}, "gate/seed_data_report.json")
    tracker.log_figure(success_figure(metrics), "plots/seed_success.png")
    if md5:
        tracker.set_tags({"data.dvc_md5": md5, "gate": "passed"})
        for env_name, d in io.env_dirs(data_dir).items():
            tracker.log_dataset(io.read_table(d / io.STEPS_FILE), name=f"seed-{env_name}",
                                source=str(d / io.STEPS_FILE), digest=md5.removesuffix(".dir"))
