"""The writer lock of a buffer table: writers take turns, and a dead writer never leaves a stale lock.

Every write (seed, add, snapshot, index, retention) holds the table's writer lock, an OS-level exclusive lock
(fcntl.flock on <uri>/.<table>.writer.lock, local tables only) that the kernel releases when its holder dies,
SIGKILL included. `with buf.writer():` holds it across several writes (check, seed, verify, tag: nobody writes in
between). A second writer waits for it up to `lock_timeout_s`, then raises a DreamGymError naming the holder's
pid and command. Tables on object storage (s3://, gs://, ...) have no such lock; there Lance's optimistic commits
are the only guard (appends never conflict).

Simplifications: one lock file per table, polled (no blocking flock, so the wait can time out).

    lock = WriterLock(local_path(uri) / ".transitions.writer.lock", timeout_s=60, what="buffer table 'transitions'")
    with lock: ...                                 # reentrant for its owner; raises DreamGymError after timeout_s
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dreamgym.errors import DreamGymError

#: how often a waiting writer retries the lock
_LOCK_POLL_S = 0.05


def local_path(uri: str) -> Path | None:
    """The directory of a local LanceDB URI (a path or file://...), None for object storage / remote URIs."""
    if uri.startswith("file://"):
        return Path(uri.removeprefix("file://"))
    return None if "://" in uri else Path(uri)


class WriterLock:
    """The exclusive writer lock of one buffer table: fcntl.flock on `path` (see the module docstring).

    Reentrant for its owner (nested writes of one handle take it once) and serialising its owner's threads.
    While held, the file names the holder (pid, host, since, cmd as JSON), which a writer that waits in vain
    reports. The kernel drops the lock when the holder's file descriptor closes, i.e. when it dies by any
    signal; the descriptor is not inherited by subprocesses (close-on-exec).
    """

    def __init__(self, path: Path, timeout_s: float, what: str):
        self.path = Path(path)
        self.timeout_s = float(timeout_s)
        self.what = what
        self._fd: int | None = None
        self._depth = 0
        self._mutex = threading.RLock()

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def holder(self) -> dict[str, Any]:
        """What the lock file says about its current holder ({} if it names none)."""
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def _give_up(self, waited: float) -> DreamGymError:
        """The error of a writer that waited `waited` seconds in vain: it names the holder."""
        h = self.holder()
        who = (f"pid {h.get('pid')} on {h.get('host')}, since {h.get('since')}: {h.get('cmd')}" if h.get("pid")
               else "a process that has not written its pid yet")
        return DreamGymError(f"{self.what} is being written by another writer ({who}); gave up after {waited:.1f} s "
                             f"waiting for its lock {self.path} (buffer.lock_timeout_s): let it finish or stop it")

    def acquire(self) -> None:
        """Take the lock, waiting up to timeout_s; raises DreamGymError naming the holder when it stays taken."""
        t0 = time.monotonic()
        got = self._mutex.acquire(timeout=self.timeout_s) if self.timeout_s > 0 else self._mutex.acquire(False)
        if not got:
            raise DreamGymError(f"{self.what}: another thread of this process holds its writer lock; gave up after "
                                f"{self.timeout_s:.0f} s (buffer.lock_timeout_s)")
        try:
            if self._depth == 0:
                self._lock_file(t0)
            self._depth += 1
        except BaseException:
            self._mutex.release()
            raise

    def _lock_file(self, t0: float) -> None:
        """flock the file (polling until timeout_s after `t0`) and write this process's record into it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    waited = time.monotonic() - t0
                    if waited >= self.timeout_s:
                        raise self._give_up(waited) from None
                    time.sleep(min(_LOCK_POLL_S, max(self.timeout_s - waited, 0.001)))
            me = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.now(UTC).isoformat(timespec="seconds"), "cmd": " ".join(sys.argv)[:300]}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
        except BaseException:
            os.close(fd)  # closing drops the lock if we got it
            raise
        self._fd = fd

    def release(self) -> None:
        """Release one level; the last release unlocks the file (and clears the holder's record)."""
        try:
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                try:
                    os.ftruncate(fd, 0)
                finally:
                    os.close(fd)
        finally:
            self._mutex.release()

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def writes(method):
    """Decorator of buffer write methods: refuse on a read-only view, hold the writer lock during the call."""

    @functools.wraps(method)
    def wrapper(buf: Any, *args: Any, **kwargs: Any):
        buf._writable()
        with buf.writer():
            return method(buf, *args, **kwargs)

    return wrapper
