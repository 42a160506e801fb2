"""Fixtures of the policy tests: real BabyAI (GoToRedBallNoDists) seed rows, collected once."""

from __future__ import annotations

import pytest
from polutil import seed_rows


@pytest.fixture(scope="session")
def rows():
    return seed_rows(16)
