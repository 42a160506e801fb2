"""Fixtures of the buffer tests: real LanceDB tables in tmp dirs, the hashing embedder, real Step rows."""

from __future__ import annotations

import os

os.environ.setdefault("LANCEDB_LOG", "error")  # k-means on tiny test tables warns once per iteration

from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from dreamgym.buffer import ReplayBuffer, make_embedder  # noqa: E402
from dreamgym.config import BufferIndexConfig, BufferRetentionConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hashing():
    return make_embedder("hashing", dim=64)


@pytest.fixture
def make_buffer(tmp_path, hashing):
    """make_buffer(**kw) -> a ReplayBuffer on a fresh table under tmp_path (hashing embedder, 64-d)."""

    def make(table: str = "transitions", batch_size: int = 64, threshold_rows: int = 1_000_000,
             keep_versions: int = 5, compact_every: int = 1000, **index) -> ReplayBuffer:
        return ReplayBuffer(tmp_path / "db", table, hashing, batch_size=batch_size,
                            index_cfg=BufferIndexConfig(threshold_rows=threshold_rows, **index),
                            retention=BufferRetentionConfig(keep_versions=keep_versions, compact_every=compact_every))

    return make


@pytest.fixture(scope="session")
def real_steps() -> pd.DataFrame:
    """Real textcraft Step rows, collected now (fast env; the same rows on every machine)."""
    from dreamgym.config import SeedDataConfig
    from dreamgym.data.io import steps_table
    from dreamgym.data.seed import collect_seed
    from dreamgym.envs.registry import make_env

    cfg = SeedDataConfig(envs=["textcraft"], episodes={"textcraft": 100}, n_test_tasks=0)
    with make_env("textcraft") as env:
        steps, _ = collect_seed(env, 100, cfg, seed=0)
    return steps_table(steps).to_pandas()
