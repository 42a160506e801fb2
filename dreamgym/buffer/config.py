"""The buffer section of params.yaml: the LanceDB replay buffer's location, embedder, ANN index and retention.

Simplifications: one table per buffer; the index settings apply once the table is large enough.
Use: `ReplayBuffer.from_config(cfg.buffer)`; `from dreamgym.config import BufferConfig` also works.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from dreamgym.configbase import StrictConfig


class BufferIndexConfig(StrictConfig):
    threshold_rows: int = Field(50_000, ge=1, description="build an ANN index once the table holds this many rows (flat search below)")
    type: Literal["ivf_pq", "ivf_hnsw_sq"] = Field("ivf_hnsw_sq", description="ANN index: ivf_pq (IVF + product quantisation) or ivf_hnsw_sq (HNSW graphs inside IVF partitions, 8-bit scalar quantisation)")
    scalar_indices: bool = Field(True, description="with the ANN index, index env/source (bitmap) and episode_id (btree) so filtered searches skip a column scan")
    num_partitions: int | None = Field(None, ge=1, description="IVF partitions; None: about sqrt(rows)")
    num_sub_vectors: int | None = Field(None, ge=1, description="PQ sub-vectors (ivf_pq only); None: dim / 8")
    nprobes: int = Field(10, ge=1, description="IVF partitions searched per query")
    refine_factor: int | None = Field(None, ge=1, description="re-rank k * refine_factor quantised candidates with exact distances (reads their full vectors); None: no re-ranking")


class BufferRetentionConfig(StrictConfig):
    keep_versions: int = Field(5, ge=1, description="untagged table versions kept by cleanup (tagged ones are always kept)")
    compact_every: int = Field(20, ge=1, description="compact small fragments after this many add() batches")


class BufferConfig(StrictConfig):
    uri: str = Field("artifacts/buffer", description="LanceDB URI: a local dir (default) or any LanceDB URI (s3://, db://)")
    table: str = Field("transitions", description="table name inside the database")
    embedder: str = Field("minilm", description="embedder registry name (minilm: all-MiniLM-L6-v2, 384-d, offline; hashing: fast n-gram hashing)")
    embedder_kwargs: dict[str, Any] = Field(default_factory=dict, description="constructor kwargs of the embedder")
    batch_size: int = Field(1024, ge=1, description="rows per add() commit and per embedding call; seed() writes all its rows in one commit")
    k: int = Field(4, ge=0, description="transitions retrieved per (state, action) query")
    lock_timeout_s: float = Field(60.0, ge=0, description="seconds a write waits for another process's writer lock on the table before it fails naming that process (0: fail at once)")
    index: BufferIndexConfig = Field(default_factory=BufferIndexConfig)
    retention: BufferRetentionConfig = Field(default_factory=BufferRetentionConfig)
