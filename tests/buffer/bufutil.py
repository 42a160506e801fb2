"""Helpers of the buffer tests (imported by name; conftest.py holds the fixtures)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("_buffer_worker.py")


def toy_rows(n: int, env: str = "toy", source: str = "synthetic", episode: str = "ep", iteration: int = 1,
             text: str = "state {i}", action: str = "act {i}") -> list[dict]:
    """n valid Step rows as dicts (t = 0..n-1)."""
    return [dict(episode_id=episode, task_id=f"{env}/0", env=env, t=i, state=text.format(i=i),
                 action=action.format(i=i), next_state=f"next {i}", reward=0.0, done=i == n - 1, success=False,
                 valid_action=True, source=source, reasoning="", policy_version="p", model_version="m",
                 iteration=iteration, split="train", parse_failure="") for i in range(n)]


def start_worker(uri, episode: str, n_batches: int, batch_size: int, go_file: Path, state_chars: int = 100,
                 precomputed: bool = False, *options: str) -> subprocess.Popen:
    """A _buffer_worker.py process that writes n_batches * batch_size rows once `go_file` exists (options: see
    the worker's docstring)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LANCEDB_LOG": "error"}
    return subprocess.Popen([sys.executable, str(WORKER), str(uri), "transitions", episode, str(n_batches),
                             str(batch_size), str(go_file), str(state_chars)] + (["precomputed"] if precomputed else [])
                            + list(options), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
