"""Shared by the flow tests: one real seed-flow run in a temp git + DVC repo with a temp MLflow store."""

from __future__ import annotations

import pytest
from flowutil import cfg_for, make_repo

from flows.seed import seed_flow


@pytest.fixture(scope="session")
def seeded(tmp_path_factory):
    """One real run of the seed flow over all four envs at the tiny preset."""
    tmp = tmp_path_factory.mktemp("seed")
    repo = make_repo(tmp)
    cfg = cfg_for(repo, tmp)
    metrics = seed_flow(cfg, root=str(repo))
    return tmp, repo, cfg, metrics


