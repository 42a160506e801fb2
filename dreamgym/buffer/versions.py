"""Versions of the buffer table: tags (snapshots), the retained versions, the indices, retention and compaction.

Every commit makes a Lance version; a snapshot pins one with a Lance tag, and `buf.checkout(tag)` reads it while
the head moves on. The ANN index (`index.type`: IVF-PQ or IVF-HNSW-SQ, cosine) is built once the table holds
`index.threshold_rows` rows, with bitmap/btree indices on env, source and episode_id that make the filters cheap.
apply_retention() compacts small fragments (folding new rows into the indices) and prunes old untagged versions.

Plain functions of a ReplayBuffer, bound as its methods in replay.py (`buf.snapshot("iter-3")`, ...); the writing
ones refuse on a read-only view and hold the writer lock (`writes`).

Simplifications: index parameters default to Lance's rules of thumb; pruning goes by commit time, as Lance does.

    info = buf.snapshot("iter-3")                  # pin this version; info.digest names the content
    buf.build_index()                              # (re)build the ANN + scalar indices
    report = buf.apply_retention()                 # compact, then prune versions beyond retention.keep_versions
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from dreamgym.buffer.contents import SnapshotInfo, fragment_count
from dreamgym.buffer.embedders import transition_text
from dreamgym.buffer.lock import writes
from dreamgym.buffer.query import vector_query, where_clause
from dreamgym.buffer.schema import ROW_KEY, VECTOR
from dreamgym.errors import DreamGymError

if TYPE_CHECKING:
    from dreamgym.buffer.replay import ReplayBuffer

#: PQ codebooks have 2**8 centroids: fewer rows cannot train an IVF-PQ index
MIN_INDEX_ROWS = 256
#: scalar indices built with the ANN index: column -> Lance index kind (filters on them use the index)
SCALAR_INDICES = {"env": "bitmap", "source": "bitmap", "episode_id": "btree"}
#: optimize() always runs a cleanup pass; this age prunes nothing (used for compaction-only passes)
_NO_PRUNE = timedelta(days=365 * 100)
#: prune only below a gap of at least this much between consecutive versions (Lance prunes by commit time, and
#: its clock reading happens a little after ours)
_PRUNE_GAP = timedelta(milliseconds=100)
_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class RetentionReport:
    """What apply_retention() did: versions before/after, versions pruned, fragments before/after."""

    versions_before: int
    versions_after: int
    pruned: int
    fragments_before: int
    fragments_after: int
    kept_tags: dict[str, int]


# -- versions and snapshots ------------------------------------------------------------------------------------------
def tags(buf: ReplayBuffer) -> dict[str, int]:
    """{tag: version} of the table's snapshots."""
    return {t: int(v["version"]) for t, v in sorted(buf._table.tags.list().items())}


def versions(buf: ReplayBuffer) -> list[dict[str, Any]]:
    """The table's retained versions, oldest first: {version, timestamp (UTC), rows, tags}."""
    by_version: dict[int, list[str]] = {}
    for t, v in tags(buf).items():
        by_version.setdefault(v, []).append(t)
    out = []
    for v in sorted(buf._table.list_versions(), key=lambda v: v["version"]):
        meta = v.get("metadata") or {}
        ts = v["timestamp"]  # lancedb gives naive local time
        ts = ts.astimezone(UTC) if isinstance(ts, datetime) else ts
        out.append({"version": int(v["version"]), "timestamp": ts,
                    "rows": int(meta["total_rows"]) if "total_rows" in meta else None,
                    "tags": by_version.get(int(v["version"]), [])})
    return out


def check_ref(buf: ReplayBuffer, ref: str | int) -> None:
    """Raise DreamGymError unless `ref` is a tag of the table or the number of a retained version."""
    if isinstance(ref, str):
        known_tags = tags(buf)
        if ref not in known_tags:
            raise DreamGymError(f"no snapshot tag '{ref}'; tags: {sorted(known_tags)}")
    else:
        known = [v["version"] for v in versions(buf)]
        if int(ref) not in known:
            raise DreamGymError(f"version {ref} is not retained; versions: {known[:3]}...{known[-3:]}")


@writes
def snapshot(buf: ReplayBuffer, tag: str) -> SnapshotInfo:
    """Pin the current version with Lance tag `tag` and describe it. Tagged versions survive retention."""
    if not _TAG_RE.match(tag or ""):
        raise DreamGymError(f"snapshot tag '{tag}' must match {_TAG_RE.pattern}")
    existing = tags(buf)
    if tag in existing:
        raise DreamGymError(f"snapshot tag '{tag}' already pins version {existing[tag]}; pick another tag "
                            f"or delete_snapshot('{tag}') first")
    buf._table.checkout_latest()
    buf._table.tags.create(tag, buf.version)
    return buf.checkout(tag).info(tag)


@writes
def delete_snapshot(buf: ReplayBuffer, tag: str) -> None:
    """Remove tag `tag` (its version becomes prunable by retention)."""
    if tag not in tags(buf):
        raise DreamGymError(f"no snapshot tag '{tag}'; tags: {sorted(tags(buf))}")
    buf._table.tags.delete(tag)


# -- index -----------------------------------------------------------------------------------------------------------
@writes
def build_index(buf: ReplayBuffer, num_partitions: int | None = None, num_sub_vectors: int | None = None,
                sample_rate: int = 256, max_iterations: int = 50) -> dict[str, Any]:
    """Build (or rebuild) the ANN index (`index.type`, cosine) on the vector column, and the scalar indices
    on env/source/episode_id (`index.scalar_indices`); returns what was built.

    Partitions: the argument, else index.num_partitions, else about sqrt(rows) for ivf_pq and rows / 4096
    for ivf_hnsw_sq (each partition holds one HNSW graph). Sub-vectors (ivf_pq): the argument, else
    index.num_sub_vectors, else dim / 8 (must divide dim). `sample_rate` (training vectors per partition)
    and `max_iterations` (k-means) trade build time for index quality (Lance's defaults).
    """
    from lancedb.index import HnswSq, IvfPq

    rows = len(buf)
    if rows < MIN_INDEX_ROWS:
        raise DreamGymError(f"an ANN index needs >= {MIN_INDEX_ROWS} rows; the table has {rows}")
    dim, kind = buf.embedder.dim, buf.index_cfg.type
    default_parts = round(math.sqrt(rows)) if kind == "ivf_pq" else math.ceil(rows / 4096)
    parts = num_partitions or buf.index_cfg.num_partitions or max(1, default_parts)
    parts = min(parts, rows // 4 or 1)
    built: dict[str, Any] = {"type": kind, "rows": rows, "num_partitions": parts}
    if kind == "ivf_pq":
        subv = num_sub_vectors or buf.index_cfg.num_sub_vectors or max(1, dim // 8)
        if dim % subv:
            raise DreamGymError(f"num_sub_vectors={subv} must divide the vector dim {dim}")
        config = IvfPq(distance_type="cosine", num_partitions=parts, num_sub_vectors=subv,
                       sample_rate=sample_rate, max_iterations=max_iterations)
        built["num_sub_vectors"] = subv
    else:
        config = HnswSq(distance_type="cosine", num_partitions=parts, sample_rate=sample_rate,
                        max_iterations=max_iterations)
    buf._table.create_index(VECTOR, config=config, replace=True)
    if buf.index_cfg.scalar_indices:
        build_scalar_indices(buf)
    built["scalar_indices"] = sorted(SCALAR_INDICES) if buf.index_cfg.scalar_indices else []
    built["version"] = buf.version
    return built


@writes
def build_scalar_indices(buf: ReplayBuffer) -> None:
    """(Re)build the bitmap/btree indices of SCALAR_INDICES, so filtered searches read an index, not columns."""
    from lancedb.index import Bitmap, BTree

    for column, kind in SCALAR_INDICES.items():
        buf._table.create_index(column, config=Bitmap() if kind == "bitmap" else BTree(), replace=True)


def recall_at_k(buf: ReplayBuffer, queries: Sequence[tuple[str, str]] | np.ndarray, k: int = 10,
                **filters: Any) -> float:
    """Mean recall of the indexed search against exact (flat) search over `queries`.

    `queries`: (state, action) pairs, or query vectors of shape (n, dim). Filters as in search_vector().
    1.0 when the table has no index (search is exact).
    """
    if isinstance(queries, np.ndarray):
        vecs = np.asarray(queries, dtype=np.float32).reshape(-1, buf.embedder.dim)
    else:
        vecs = buf.embedder.embed([transition_text(s, a) for s, a in queries])
    if len(vecs) == 0:
        raise DreamGymError("recall_at_k needs at least one query")
    flt = where_clause(filters.get("env"), filters.get("source"), filters.get("exclude_episode"),
                       filters.get("where"))
    recalls = []
    for v in vecs:
        exact = set(vector_query(buf, v, k, flt, True, [ROW_KEY], True).column("_rowid").to_pylist())
        if not exact:
            continue
        approx = set(vector_query(buf, v, k, flt, False, [ROW_KEY], True).column("_rowid").to_pylist())
        recalls.append(len(exact & approx) / len(exact))
    return float(np.mean(recalls)) if recalls else 1.0


# -- retention -------------------------------------------------------------------------------------------------------
def prune_limit(vs: list[dict[str, Any]], tag_versions: Sequence[int], keep: int) -> int:
    """The newest version that retention may consider: before the newest `keep` versions and not past the
    oldest tagged one (Lance's cleanup refuses to pass over a tagged version)."""
    limit = vs[-keep]["version"] if len(vs) > keep else vs[0]["version"]
    return min(limit, min(tag_versions)) if tag_versions else limit


def last_prunable(older: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest of `older` (candidates + the first kept version, oldest first) followed by a gap of at least
    _PRUNE_GAP to the next version: pruning up to it cannot reach a version committed in the same instant."""
    last = None
    for prev, nxt in zip(older[:-1], older[1:], strict=True):
        if nxt["timestamp"] - prev["timestamp"] >= _PRUNE_GAP:
            last = prev
    return last


@writes
def apply_retention(buf: ReplayBuffer) -> RetentionReport:
    """Compact small fragments (folding new rows into the index), then prune old versions.

    Kept: every tagged version, the newest `retention.keep_versions` versions, and every version newer than
    the oldest tag (Lance's cleanup prunes by commit time and refuses to pass over a tagged version, so
    untagged versions between two tags stay until the older tag is deleted). Pruning also stops at a gap
    shorter than 100 ms between consecutive commits (clock safety), so a burst of commits is pruned on a
    later call. Pruned versions' files are deleted unless a kept version still uses them.
    """
    before = versions(buf)
    frags_before = fragment_count(buf)
    buf._table.optimize(cleanup_older_than=_NO_PRUNE)  # compaction + index update; prunes nothing
    buf._batches_since_compact = 0
    vs = versions(buf)
    kept_tags = tags(buf)
    limit = prune_limit(vs, list(kept_tags.values()), buf.retention.keep_versions)
    last_pruned = last_prunable([v for v in vs if v["version"] <= limit])
    if last_pruned is not None:
        age_ms = int((datetime.now(UTC) - last_pruned["timestamp"]).total_seconds() * 1000) - 1
        if age_ms > 0:
            try:
                buf._table.optimize(cleanup_older_than=timedelta(milliseconds=age_ms))
            except RuntimeError as e:  # a tag landed in the pruned range meanwhile: prune nothing this time
                if "tagged" not in str(e):
                    raise
    after = versions(buf)
    return RetentionReport(versions_before=len(before), versions_after=len(after),
                           pruned=len({v["version"] for v in before} - {v["version"] for v in after}),
                           fragments_before=frags_before, fragments_after=fragment_count(buf), kept_tags=kept_tags)
