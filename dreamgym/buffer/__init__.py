"""DreamGym's experience replay buffer: Step rows + embeddings in a versioned LanceDB table.

`ReplayBuffer` (replay.py) stores, retrieves, samples and snapshots transitions; its table schema and row
validation are in schema.py, the query path in query.py, the writer lock in lock.py, the summaries of a version
in contents.py, and tags, indices and retention in versions.py. `make_embedder` (embedders.py) builds the text
embedder it uses (minilm, or hashing for tests and cheap runs).

Names resolve lazily (PEP 562): importing the package (e.g. for its `config` module) loads none of its modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dreamgym.registry import lazy_exports

if TYPE_CHECKING:
    from dreamgym.buffer.contents import BufferStats, SnapshotInfo
    from dreamgym.buffer.embedders import Embedder, embedder_names, make_embedder, register_embedder, transition_text
    from dreamgym.buffer.replay import ReplayBuffer
    from dreamgym.buffer.schema import buffer_schema, to_step_table
    from dreamgym.buffer.versions import RetentionReport

_WHERE = {
    "BufferStats": "contents",
    "SnapshotInfo": "contents",
    "Embedder": "embedders",
    "embedder_names": "embedders",
    "make_embedder": "embedders",
    "register_embedder": "embedders",
    "transition_text": "embedders",
    "ReplayBuffer": "replay",
    "buffer_schema": "schema",
    "to_step_table": "schema",
    "RetentionReport": "versions",
}

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

__getattr__ = lazy_exports(__name__, _WHERE)
