"""Shared flow helpers: CLI arguments -> resolved config, the tracker, project paths, reading the seed data."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from prefect import task

from dreamgym.config import DreamGymConfig, load_config
from dreamgym.tracking import Tracker, make_tracker

# no telemetry calls from an offline machine (they only fail and log errors)
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("LANCEDB_LOG", "error")  # k-means on small tables warns once per iteration


def config_from_args(description: str, argv: list[str] | None = None, extra=None) -> tuple[DreamGymConfig, argparse.Namespace]:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--preset", default=None, help="named overlay, e.g. tiny")
    p.add_argument("-S", "--set", dest="overrides", action="append", default=[], help="override key.path=value")
    if extra:
        extra(p)
    args = p.parse_args(argv)
    return load_config(args.params, args.preset, args.overrides), args


def tracker_for(cfg: DreamGymConfig, root: Path) -> Tracker:
    """The run's tracker; relative sqlite/artifact paths are taken relative to the project root."""
    uri = cfg.tracking.tracking_uri
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        db = (root / uri.removeprefix("sqlite:///")).resolve()
        db.parent.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{db}"
    art = cfg.tracking.artifact_location
    if "://" not in art:
        art = str((root / art).resolve())
    return make_tracker(cfg.tracking.enabled, uri, cfg.experiment_name, art)


def run_cli(description: str, argv: list[str] | None, extra, call) -> int:
    """The `python -m flows.<stage>` entry: parse args into the config, run `call(cfg, args)`, print its result
    as JSON; a user-fixable error prints one `error:` line and returns 1."""
    import json
    import sys

    from dreamgym.errors import DreamGymError
    from flows._dvc import DvcError

    try:
        cfg, args = config_from_args(description, argv, extra)
        result = call(cfg, args)
    except (DreamGymError, DvcError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, sort_keys=True, default=str))
    return 0


@task
def load_env_data(data_dir: str, env: str):
    """(steps, tasks) DataFrames of one env's seed data (data/<env>/{steps,tasks}.parquet)."""
    from dreamgym.data import io
    from dreamgym.errors import DreamGymError

    d = Path(data_dir) / env
    if not (d / io.STEPS_FILE).is_file():
        raise DreamGymError(f"no seed data for env '{env}' at {d}; run `dreamgym seed` (or choose another env)")
    return io.read_table(d / io.STEPS_FILE), io.read_table(d / io.TASKS_FILE)
