"""Helpers of the flow tests: a temp git + DVC repo, a config pointing at a temp MLflow store, probes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import mlflow

from dreamgym.config import load_config
from flows import _dvc

ROOT = Path(__file__).resolve().parents[2]


def make_repo(tmp: Path) -> Path:
    repo = tmp / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "params.yaml", repo / "params.yaml")
    run = lambda *c: subprocess.run(c, cwd=repo, check=True, capture_output=True)  # noqa: E731
    run("git", "init", "-q")
    _dvc.dvc(repo, "init", "-q")
    _dvc.dvc(repo, "remote", "add", "-d", "local", str(tmp / "remote"))
    return repo


def cfg_for(repo: Path, tmp: Path, *overrides: str):
    return load_config(repo / "params.yaml", preset="tiny", overrides=[
        f"tracking.tracking_uri=sqlite:///{tmp / 'mlflow.db'}", f"tracking.artifact_location={tmp / 'mlartifacts'}",
        *overrides])


def cache_files(repo: Path) -> set[str]:
    cache = repo / ".dvc" / "cache"
    return {str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()} if cache.exists() else set()


def runs(tmp: Path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    return mlflow.search_runs(experiment_names=["dreamgym"], output_format="list")


