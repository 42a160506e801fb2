"""Test-wide setup: offline, isolated Prefect home, quiet GX. Shared fixtures for seed data."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LANCEDB_LOG", "error")
_PREFECT_HOME = tempfile.mkdtemp(prefix="dreamgym-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
atexit.register(shutil.rmtree, _PREFECT_HOME, ignore_errors=True)  # the session's Prefect home goes with it
os.environ.pop("PREFECT_API_URL", None)
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import pytest  # noqa: E402

from dreamgym.data.schema import Step, Task  # noqa: E402


def make_episode(episode_id: str, n: int, success: bool, task_id: str = "toy/0", split: str = "train",
                 env: str = "toy", policy: str = "expert") -> list[Step]:
    """A well-formed episode of n steps (the last terminal; reward 1 on it iff success)."""
    return [Step(episode_id=episode_id, task_id=task_id, env=env, t=t, state=f"s{t}", action=f"a{t}",
                 next_state=f"s{t + 1}", reward=1.0 if (success and t == n - 1) else 0.0, done=t == n - 1,
                 success=success and t == n - 1, valid_action=True, policy_version=f"collector:{policy}", split=split)
            for t in range(n)]


@pytest.fixture
def good_steps() -> list[Step]:
    return (make_episode("e0", 3, True, "toy/0") + make_episode("e1", 2, False, "toy/1", policy="random")
            + make_episode("e2", 4, True, "toy/2", split="val"))


@pytest.fixture
def good_tasks() -> list[Task]:
    return [Task("toy/0", "toy", "do 0", "train"), Task("toy/1", "toy", "do 1", "train"),
            Task("toy/2", "toy", "do 2", "val"), Task("toy/3", "toy", "do 3", "test")]



@pytest.fixture(autouse=True)
def _env_registry_restored():
    """Envs a test registers (toy plug-ins) are gone after it, so no test sees another's registrations."""
    from dreamgym.envs.registry import ENVS

    before = dict(ENVS._items)
    yield
    for name in set(ENVS._items) - set(before) - set(ENVS._builtins):  # a built-in registers once, on first use
        del ENVS._items[name]
    ENVS._items.update(before)


@pytest.fixture(scope="session")
def babyai_rows():
    """(steps, tasks): 12 babyai seed episodes + one manual episode starting with an invalid action."""
    from envutil import collect_rows

    return collect_rows("babyai", 12)


@pytest.fixture(scope="session")
def textcraft_rows():
    """(steps, tasks): 16 textcraft seed episodes + one manual episode starting with an invalid action (collected
    once per session for the env's own tests and the experience tests)."""
    from envutil import collect_rows

    return collect_rows("textcraft", 16)
