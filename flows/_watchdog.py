"""Stage processes die with the `dvc repro` that started them.

DVC runs a stage as its child (`python -m flows.<stage>`, often under `/bin/sh -c`). When `dvc repro` is killed
(SIGKILL included, so nothing of DVC's runs), the stage would go on writing on its own, and a rerun would start
a second writer beside it. `die_with_dvc()`, called at the start of every flows entry, finds the nearest ancestor
process that is DVC and watches it from a daemon thread; once it is gone, this process terminates its own
children (e.g. Prefect's temporary API server) and exits at once with os._exit, so whatever the kernel holds for
it (the buffer's writer lock, open files) is released. Without a DVC ancestor it does nothing.
"""

from __future__ import annotations

import os
import sys
import threading

import psutil

#: seconds between two looks at the DVC process
POLL_S = 0.5
#: exit status of a stage stopped because DVC is gone (128 + SIGKILL, as if it had been killed with DVC)
EXIT_STATUS = 137
_STARTED: dict[str, psutil.Process | None] = {}
_GUARD = threading.Lock()


def is_dvc(cmdline: list[str]) -> bool:
    """True for the command line of a DVC process: `dvc ...`, `python .../bin/dvc ...`, `python -m dvc ...`."""
    head = cmdline[:3]
    if any(os.path.basename(a) in ("dvc", "dvc.exe") for a in head):
        return True
    return any(a == "-m" and b == "dvc" for a, b in zip(head, head[1:], strict=False))


def dvc_ancestor(proc: psutil.Process | None = None) -> psutil.Process | None:
    """The nearest ancestor of `proc` (default: this process) that is a DVC process, or None."""
    proc = proc or psutil.Process()
    for parent in proc.parents():
        try:
            if is_dvc(parent.cmdline()):
                return parent
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return None


def stop_children(timeout_s: float = 3.0) -> None:
    """Terminate every descendant of this process (SIGTERM, then SIGKILL for those still alive after timeout_s)."""
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    for c in children:
        try:
            c.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(children, timeout=timeout_s)
    for c in alive:
        try:
            c.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=timeout_s)


def _watch(dvc: psutil.Process, poll_s: float) -> None:
    ev = threading.Event()
    while not ev.wait(poll_s):
        try:
            alive = dvc.is_running() and dvc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            alive = False
        if not alive:
            break
    try:
        print(f"error: dvc (pid {dvc.pid}) that ran this stage is gone; stopping this stage (pid {os.getpid()}) "
              f"and its children", file=sys.stderr, flush=True)
    except Exception:  # stderr may be a closed pipe
        pass
    try:
        stop_children()
    finally:
        os._exit(EXIT_STATUS)


def die_with_dvc(poll_s: float = POLL_S) -> psutil.Process | None:
    """If a DVC process is an ancestor of this one, exit (children first) as soon as it is gone.

    Returns the DVC process watched, or None (no DVC ancestor: nothing is done). Idempotent: a second call
    returns the first call's answer and starts no second watcher."""
    with _GUARD:
        if "dvc" in _STARTED:
            return _STARTED["dvc"]
        dvc = dvc_ancestor()
        _STARTED["dvc"] = dvc
        if dvc is not None:
            threading.Thread(target=_watch, args=(dvc, poll_s), name="die-with-dvc", daemon=True).start()
        return dvc
