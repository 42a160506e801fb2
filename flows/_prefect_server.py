"""Prefect's temporary API server, bound to the lifetime of the flow process that started it.

    python -m flows._prefect_server PARENT_PID UVICORN_ARGS...

In ephemeral mode (no PREFECT_API_URL) Prefect 3 starts `python -m uvicorn ... prefect.server.api.server:create_app`
as a child process (`SubprocessASGIServer`) and stops it from an `atexit` hook, which a SIGKILLed flow never
runs: the server would listen forever. `flows.common.bind_prefect_server()` makes Prefect start it through this
module instead, which runs the same uvicorn command in-process plus a watchdog thread: as soon as PARENT_PID is
no longer our parent (it died and we were re-parented), the server stops (SIGTERM to itself, a graceful uvicorn
shutdown; a hard exit 5 s later if that hangs). A thread-independent parent-pid check is used rather than
PR_SET_PDEATHSIG, which fires when the *thread* that started the child exits, not the process.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time

POLL_S = 0.2


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_S)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
    os._exit(1)


def main() -> None:
    parent = int(sys.argv[1])
    if os.getppid() != parent:  # the flow died before we got here
        sys.exit(1)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-watchdog").start()
    sys.argv = ["uvicorn", *sys.argv[2:]]
    runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
