"""Fixtures of the experience tests: real Step rows of the fast envs (babyai_rows and textcraft_rows come from
tests/conftest.py), collected once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def fast_rows(babyai_rows, textcraft_rows):
    return {"babyai": babyai_rows, "textcraft": textcraft_rows}
