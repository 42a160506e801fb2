"""Fixtures of the experience tests: real Step rows of the fast envs (babyai, textcraft), collected once."""

from __future__ import annotations

import pytest
from exputil import collect_rows


@pytest.fixture(scope="session")
def babyai_rows():
    """(steps, tasks): 12 babyai seed episodes + one manual episode starting with an invalid action."""
    return collect_rows("babyai", 12)


@pytest.fixture(scope="session")
def textcraft_rows():
    """(steps, tasks): 16 textcraft seed episodes + one manual episode starting with an invalid action."""
    return collect_rows("textcraft", 16)


@pytest.fixture(scope="session")
def fast_rows(babyai_rows, textcraft_rows):
    return {"babyai": babyai_rows, "textcraft": textcraft_rows}
