"""DVC from the flows, through its command line (the library never imports dvc).

Each call runs `dvc ...` in the project root and raises with DVC's own message when it fails.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml


class DvcError(RuntimeError):
    pass


def _dvc_bin() -> str:
    local = Path(sys.executable).with_name("dvc")  # the venv's dvc, whatever PATH says
    return str(local) if local.exists() else (shutil.which("dvc") or "dvc")


def dvc(root: str | Path, *args: str) -> str:
    proc = subprocess.run([_dvc_bin(), *args], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise DvcError(f"`dvc {' '.join(args)}` failed in {root}: {msg[-1] if msg else proc.returncode}")
    return proc.stdout


def tracked_md5(root: str | Path, dvc_file: str = "data.dvc") -> str | None:
    """The md5 (directory hash) that `dvc_file` records, or None if there is none."""
    path = Path(root) / dvc_file
    if not path.is_file():
        return None
    outs = (yaml.safe_load(path.read_text()) or {}).get("outs") or [{}]
    return outs[0].get("md5")


def add(root: str | Path, target: str = "data") -> str:
    """`dvc add target`; returns the recorded md5."""
    dvc(root, "add", "--quiet", target)
    md5 = tracked_md5(root, f"{target}.dvc")
    if not md5:
        raise DvcError(f"`dvc add {target}` wrote no md5 to {target}.dvc")
    return md5


def push(root: str | Path, target: str = "data.dvc", remote: str | None = None) -> None:
    dvc(root, "push", "--quiet", *(["-r", remote] if remote else []), target)


def status_clean(root: str | Path, target: str = "data.dvc") -> bool:
    """True if the workspace matches what `target` records."""
    try:
        out = dvc(root, "status", "--quiet", target)
    except DvcError:
        return False
    return out.strip() == ""
