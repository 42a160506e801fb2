"""The atomic data/ swap: a real crash (SIGKILL of the process at each point of swap_in) leaves a state that
recover() turns back into one whole folder: the old one before the commit rename, the new one after it."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dreamgym.data import swap

ROOT = Path(__file__).resolve().parents[2]


def tree(path: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under path (None if path is missing)."""
    if not path.exists():
        return None
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def make(folder: Path, content: dict[str, str]) -> Path:
    for rel, text in content.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


OLD = {"babyai/steps.parquet": "old babyai", "textcraft/steps.parquet": "old textcraft"}
NEW = {"babyai/steps.parquet": "old babyai", "textcraft/steps.parquet": "new textcraft", "textcraft/tasks.parquet": "t"}

CRASH = """
import os, signal, sys
from dreamgym.data import swap
point = sys.argv[3]
swap.swap_in(sys.argv[1], sys.argv[2], hook=lambda p: os.kill(os.getpid(), signal.SIGKILL) if p == point else None)
"""


def crash_at(point: str, src: Path, target: Path) -> None:
    r = subprocess.run([sys.executable, "-c", CRASH, str(src), str(target), point], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr


def test_swap_replaces_and_leaves_nothing_behind(tmp_path):
    target = make(tmp_path / "data", OLD)
    swap.swap_in(make(tmp_path / "staging", NEW), target)
    assert tree(target) == tree(make(tmp_path / "want", NEW))
    assert not (tmp_path / "staging").exists() and swap.leftovers(target) == []
    assert swap.recover(target) == []


def test_swap_into_a_missing_folder(tmp_path):
    target = tmp_path / "data"
    swap.swap_in(make(tmp_path / "staging", NEW), target)
    assert tree(target) == tree(make(tmp_path / "want", NEW)) and swap.leftovers(target) == []


@pytest.mark.parametrize("point", swap.POINTS)
def test_a_crash_at_each_point_is_recovered(tmp_path, point):
    target = make(tmp_path / "data", OLD)
    old, new = tree(target), tree(make(tmp_path / "want", NEW))
    crash_at(point, make(tmp_path / "staging", NEW), target)
    if point == "backed_up":  # the worst moment: no data/ at all, only its backup and the new folder
        assert not target.exists() and len(swap.leftovers(target)) == 2
    if point != "done":
        assert swap.leftovers(target), "the crash left nothing to recover: was it real?"
    actions = swap.recover(target)
    assert swap.leftovers(target) == []
    assert tree(target) == (new if point in ("swapped", "done") else old)
    assert bool(actions) == (point != "done")
    assert swap.recover(target) == []  # idempotent


@pytest.mark.parametrize("point", ["staged", "backed_up"])
def test_a_crash_on_the_first_swap_leaves_no_half_folder(tmp_path, point):
    target = tmp_path / "data"
    crash_at(point, make(tmp_path / "staging", NEW), target)
    swap.recover(target)
    assert not target.exists() and swap.leftovers(target) == []


def test_the_next_swap_recovers_first(tmp_path):
    target = make(tmp_path / "data", OLD)
    crash_at("backed_up", make(tmp_path / "staging", NEW), target)
    newer = {"babyai/steps.parquet": "newer"}
    swap.swap_in(make(tmp_path / "staging2", newer), target)
    assert tree(target) == tree(make(tmp_path / "want", newer)) and swap.leftovers(target) == []
