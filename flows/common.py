"""Shared flow helpers: CLI arguments -> resolved config, the tracker, project paths, reading the seed data."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path

from prefect import task

from dreamgym.config import DreamGymConfig, load_config
from dreamgym.errors import DreamGymError
from dreamgym.tracking import tracker_for

__all__ = ["buffer_snapshot_file", "config_from_args", "load_env_data", "read_buffer_snapshot", "read_record", "run_cli",
           "stage_main", "tracker_for", "write_record"]

# no telemetry calls from an offline machine (they only fail and log errors)
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("LANCEDB_LOG", "error")  # k-means on small tables warns once per iteration


def config_from_args(description: str, argv: list[str] | None = None, extra=None) -> tuple[DreamGymConfig, argparse.Namespace]:
    """The resolved config and the parsed arguments of a stage's command line (`extra(parser)` adds its own)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--preset", default=None, help="named overlay, e.g. tiny")
    p.add_argument("-S", "--set", dest="overrides", action="append", default=[], help="override key.path=value")
    p.add_argument("--root", default=".", help="project root (a git + DVC repo for the seed stage)")
    if extra:
        extra(p)
    args = p.parse_args(argv)
    args.root = str(Path(args.root).resolve())
    return load_config(args.params, args.preset, args.overrides), args


def write_record(path: Path, record: dict | list) -> Path:
    """Write a stage's JSON record (a DVC metric or output) atomically: a reader, or a run killed mid-write,
    sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)
    return path


def read_record(path: Path) -> dict | None:
    """A stage's JSON record written by write_record, or None when there is none (or it does not parse)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def buffer_snapshot_file(cfg: DreamGymConfig, root: str | Path) -> Path:
    """Where the seed_buffer stage records the buffer snapshot it pinned (a DVC metric)."""
    return Path(root) / cfg.paths.artifacts_dir / "buffer_snapshot.json"


def read_buffer_snapshot(cfg: DreamGymConfig, root: str | Path, instead: str) -> dict:
    """The seed_buffer stage's snapshot record; DreamGymError saying to run that stage (or `instead`) if absent."""
    f = buffer_snapshot_file(cfg, root)
    if not f.is_file():
        raise DreamGymError(f"{f} not found: run the seed_buffer stage first (python -m flows.buffer), or {instead}")
    return json.loads(f.read_text())


def bind_prefect_server() -> bool:
    """Make Prefect's temporary API server (ephemeral mode: no PREFECT_API_URL) die with this process.

    Prefect 3.8 starts it as a `python -m uvicorn` child (`SubprocessASGIServer._run_uvicorn_command`) that only
    an `atexit` hook stops, so a SIGKILLed flow left it listening. The same command now runs through
    `flows._prefect_server`, whose watchdog stops the server once this process is gone. Returns whether the
    binding is in place (False: a configured API server is used, or this Prefect has no such hook)."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return False
    from prefect.server.api import server as srv

    cls = srv.SubprocessASGIServer
    if getattr(cls, "_dreamgym_bound", False):
        return True
    if not callable(getattr(cls, "_run_uvicorn_command", None)):
        return False

    def _run_uvicorn_command(self):  # prefect 3.8.8's command and environment, under our watchdog
        import subprocess
        import sys

        import prefect
        from prefect.settings import get_current_settings

        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
               **get_current_settings().to_environment_variables(exclude_unset=True)}
        return subprocess.Popen(args=[
            sys.executable, "-m", "flows._prefect_server", str(os.getpid()),
            "--app-dir", str(prefect.__module_path__.parent), "--factory", "prefect.server.api.server:create_app",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on"], env=env)

    cls._run_uvicorn_command = _run_uvicorn_command
    cls._dreamgym_bound = True
    return True


class _ConsoleFilter:
    """Keeps tracebacks off the console: drops records that carry one (Prefect's "Encountered exception during
    execution" and the like) and Prefect's "Finished in state Failed/Crashed(...)" lines, which repeat the error
    that run_cli prints as one line. The log file still gets every record."""

    def filter(self, record) -> bool:
        if record.exc_info or record.exc_text:
            return False
        msg = record.getMessage() if record.name.startswith("prefect") else ""
        return not msg.startswith(("Finished in state Failed", "Finished in state Crashed"))


@contextlib.contextmanager
def stage_logging(log_path: Path):
    """Send every log record to `log_path` (full tracebacks included) and keep tracebacks off the console for the
    duration; yields `write_trace(exc, line="")`, which appends an exception's full trace (and a line) to the file."""
    import logging
    import traceback

    log_path.parent.mkdir(parents=True, exist_ok=True)
    fh = logging.FileHandler(log_path, encoding="utf-8")
    fh.setFormatter(logging.Formatter("%(asctime)s | %(levelname)-7s | %(name)s - %(message)s"))
    root = logging.getLogger()
    consoles = [h for h in root.handlers if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]
    flt = _ConsoleFilter()
    for h in consoles:
        h.addFilter(flt)
    root.addHandler(fh)

    def write_trace(e: BaseException, line: str = "") -> None:
        fh.acquire()
        try:
            fh.stream.write("".join(traceback.format_exception(e)) + (line + "\n" if line else ""))
            fh.flush()
        finally:
            fh.release()

    try:
        yield write_trace
    finally:
        root.removeHandler(fh)
        for h in consoles:
            h.removeFilter(flt)
        fh.close()


def run_cli(description: str, argv: list[str] | None, call, stage: str, summary=None, extra=None) -> int:
    """The `python -m flows.<stage>` entry: parse args into the config, run `call(cfg, args)`, print its result
    as JSON on stdout and `<stage>: <summary> (<seconds> s)` on stderr. `args.root` is the absolute project root
    (`--root`, default the working directory); `extra(parser)` adds a stage's own arguments.

    `stage` is the dvc.yaml stage name; `summary(cfg, args, result) -> str | None` makes the line (none: no line,
    e.g. a flow that prints its own). Every log record of the run, with
    full tracebacks, goes to <root>/<artifacts>/logs/<stage>-<time>-<pid>.log, which is also logged to MLflow with
    each top-level run this process started; the console shows Prefect's progress lines but no traceback. A
    user-fixable error (DreamGymError, DvcError) prints one `error:` line and returns 2; any other exception prints
    one `error:` line naming its type and the log file and returns 1. Stages under `dvc repro` die with it
    (flows._watchdog), and Prefect's temporary API server dies with this process (bind_prefect_server)."""
    import json
    import sys
    import time

    from flows._dvc import DvcError

    _die_with_dvc()
    try:
        cfg, args = config_from_args(description, argv, extra)
    except DreamGymError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - a bug while reading the config: one line, the trace in a file
        import traceback

        log_path = Path("artifacts") / "logs" / f"{stage}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("".join(traceback.format_exception(e)))
        print(f"error: unexpected {type(e).__name__} while reading the config: {e} (full trace: {log_path})",
              file=sys.stderr)
        return 1
    rootp = Path(args.root)
    log_path = rootp / cfg.paths.artifacts_dir / "logs" / f"{stage}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    t0 = time.time()
    with stage_logging(log_path) as write_trace:
        bind_prefect_server()
        try:
            result = call(cfg, args)
            error = None
        except (DreamGymError, DvcError) as e:
            error, code = f"error: {e}", 2
            write_trace(e, error)
        except Exception as e:  # noqa: BLE001 - the one line below, the trace in the log file
            error, code = f"error: unexpected {type(e).__name__} in stage {stage}: {e} (full trace: {log_path})", 1
            write_trace(e, error)
    _attach_log(cfg, rootp, log_path, int(t0 * 1000))
    if error:
        print(error, file=sys.stderr)
        return code
    print(json.dumps(result, indent=2, sort_keys=True, default=str))
    try:
        line = summary(cfg, args, result) if summary else None
    except Exception as e:  # noqa: BLE001 - a summary must not turn a finished stage into a failure
        line = f"done (no summary: {type(e).__name__}: {e})"
    if line is not None:
        print(f"{stage}: {line} ({time.time() - t0:.1f} s)", file=sys.stderr)
    return 0


def stage_main(doc: str, flow_fn, stage: str, summary=None):
    """The `main(argv) -> exit status` of a flow module whose flow takes (cfg, root): run_cli with the module
    docstring's first line as the description; `summary(cfg, result)` makes the closing line."""

    def main(argv: list[str] | None = None) -> int:
        return run_cli(doc.splitlines()[0], argv, lambda cfg, a: flow_fn(cfg, root=a.root), stage=stage,
                       summary=(lambda cfg, a, r: summary(cfg, r)) if summary else None)

    return main


def _die_with_dvc() -> None:
    """Stop this stage when the `dvc repro` that started it dies (flows._watchdog)."""
    from flows._watchdog import die_with_dvc

    die_with_dvc()


def _attach_log(cfg: DreamGymConfig, root: Path, log_path: Path, since_ms: int) -> None:
    """Log the stage's log file to the MLflow runs this process started (best effort: tracking may be down)."""
    import logging

    if not cfg.tracking.enabled or not log_path.is_file():
        return
    try:
        tracker_for(cfg, root).attach_to_process_runs(log_path, "logs", since_ms=since_ms)
    except Exception as e:  # noqa: BLE001 - the stage's own outcome matters more than its log upload
        logging.getLogger(__name__).warning(f"could not log {log_path} to MLflow: {e}")


@task
def load_env_data(data_dir: str, env: str):
    """(steps, tasks) DataFrames of one env's seed data (dreamgym.data.io.read_env_data)."""
    from dreamgym.data import io

    return io.read_env_data(data_dir, env)
