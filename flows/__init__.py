"""Thin Prefect wiring of the DreamGym stages: each task is a call into the `dreamgym` library.

Importing `flows` (which runs before any `flows.<stage>` module body, and before this package imports prefect)
gives this clone its own Prefect home, <project>/.prefect (git-ignored), unless PREFECT_HOME is already set: the
ephemeral API's database and profiles then never mix with another clone's in a shared ~/.prefect.
"""

import logging
import os
from pathlib import Path

_PROJECT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PREFECT_HOME", str((_PROJECT if (_PROJECT / "pyproject.toml").is_file() else Path.cwd()) / ".prefect"))
# Prefect waits 20 s for its temporary API server by default; on a loaded 2-core machine its start takes longer
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# the library's stage modules log through plain `logging`; Prefect shows (and records) their lines as its own
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "dreamgym")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")  # library lines outside a flow: console only
logging.getLogger("dreamgym").setLevel(logging.INFO)
