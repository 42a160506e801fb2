"""Helpers of the buffer tests (imported by name; conftest.py holds the fixtures)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def toy_rows(n: int, env: str = "toy", source: str = "synthetic", episode: str = "ep", iteration: int = 1,
             text: str = "state {i}", action: str = "act {i}") -> list[dict]:
    """n valid Step rows as dicts (t = 0..n-1)."""
    return [dict(episode_id=episode, task_id=f"{env}/0", env=env, t=i, state=text.format(i=i),
                 action=action.format(i=i), next_state=f"next {i}", reward=0.0, done=i == n - 1, success=False,
                 valid_action=True, source=source, reasoning="", policy_version="p", model_version="m",
                 iteration=iteration, split="train") for i in range(n)]
