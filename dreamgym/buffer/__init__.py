"""DreamGym's experience replay buffer: Step rows + embeddings in a versioned LanceDB table.

`ReplayBuffer` (replay.py) stores, retrieves, samples and snapshots transitions; `make_embedder` (embedders.py)
builds the text embedder it uses (minilm, or hashing for tests and cheap runs).
"""

from dreamgym.buffer.embedders import (
    Embedder,
    embedder_names,
    make_embedder,
    register_embedder,
    transition_text,
)
from dreamgym.buffer.replay import (
    BufferStats,
    ReplayBuffer,
    RetentionReport,
    SnapshotInfo,
    buffer_schema,
    to_step_table,
)

__all__ = [
    "BufferStats",
    "Embedder",
    "ReplayBuffer",
    "RetentionReport",
    "SnapshotInfo",
    "buffer_schema",
    "embedder_names",
    "make_embedder",
    "register_embedder",
    "to_step_table",
    "transition_text",
]
