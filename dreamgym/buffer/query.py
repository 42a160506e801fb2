"""The query path of the buffer: filters as Lance SQL, and one vector query against a buffer's table.

Search is by cosine similarity, filters are Lance prefilters. It is exact (flat) until the table has an ANN index;
then a query probes `index.nprobes` partitions and re-ranks `k * index.refine_factor` candidates exactly (rows
added after the build are searched exactly until retention folds them into the index). Queries run through
LanceDB's async API on a private event loop of the calling thread (the sync API hops to a background thread
several times per query, which costs more than the search itself at 100k rows); inside a running event loop
they fall back to the sync API.

Simplifications: one query shape (nearest_to on `vector`, a prefilter, a column selection) for sync and async.

    flt = where_clause(env="myenv", source="real", exclude_episode=None, where=None)
    rows = vector_query(buf, vec, k=4, flt=flt, exact=False, columns=RESULT_COLUMNS)   # a pa.Table, best first
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from dreamgym.buffer.config import BufferIndexConfig
from dreamgym.buffer.schema import VECTOR
from dreamgym.data.schema import STEP_SOURCES
from dreamgym.errors import DreamGymError

if TYPE_CHECKING:
    from dreamgym.buffer.replay import ReplayBuffer

_LOOPS = threading.local()  # one private asyncio loop per thread for the query path


def _sql(value: str) -> str:
    """`value` as a Lance SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def _in_or_eq(column: str, value: str | Sequence[str]) -> str:
    """The predicate `column` equals `value` (a string) or is one of `value` (a list; none: false)."""
    if isinstance(value, str):
        return f"{column} = {_sql(value)}"
    values = list(value)
    if not values:
        return "false"
    return f"{column} IN ({', '.join(_sql(v) for v in values)})"


def where_clause(env: str | Sequence[str] | None, source: str | None, exclude_episode: str | None,
                 where: str | None) -> str | None:
    """The Lance SQL filter of the search/sample/count filters (None: no filter); DreamGymError on a bad source."""
    parts = []
    if env is not None:
        parts.append(_in_or_eq("env", env))
    if source is not None:
        if source not in STEP_SOURCES:
            raise DreamGymError(f"source must be one of {list(STEP_SOURCES)}, got '{source}'")
        parts.append(f"source = {_sql(source)}")
    if exclude_episode is not None:
        parts.append(f"episode_id != {_sql(exclude_episode)}")
    if where:
        parts.append(f"({where})")
    return " AND ".join(parts) or None


def _run_sync(make_coro: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run make_coro() to completion on this thread's private loop; None if a loop already runs here."""
    try:
        asyncio.get_running_loop()
        return None
    except RuntimeError:
        pass
    loop = getattr(_LOOPS, "loop", None)
    if loop is None or loop.is_closed():
        loop = _LOOPS.loop = asyncio.new_event_loop()
    return loop.run_until_complete(make_coro())


def _tune(q: Any, k: int, flt: str | None, exact: bool, columns: list[str], with_row_id: bool, is_async: bool,
          index_cfg: BufferIndexConfig) -> Any:
    """Apply the shared query settings to a sync or async LanceDB vector query."""
    q = q.distance_type("cosine").select([*columns, "_distance"]).limit(k)
    if with_row_id:
        q = q.with_row_id() if is_async else q.with_row_id(True)
    if flt:
        q = q.where(flt)  # a prefilter (the default of both APIs)
    if exact:
        return q.bypass_vector_index()
    q = q.nprobes(index_cfg.nprobes)
    return q.refine_factor(index_cfg.refine_factor) if index_cfg.refine_factor else q


async def _async_query(buf: ReplayBuffer, vec: np.ndarray, k: int, flt: str | None, exact: bool, columns: list[str],
                       with_row_id: bool) -> pa.Table:
    """The query on `buf`'s async table handle (opened on first use, checked out at the version `buf` reads)."""
    import lancedb

    if buf._atable is None:
        db = await lancedb.connect_async(buf.uri, read_consistency_interval=buf._rci)
        buf._atable = await db.open_table(buf.table_name)
    # a view reads its pinned version (fixed at checkout); an rci=None handle its own latest write
    want = buf._pinned if buf.read_only else (buf.version if buf._rci is None else None)
    if want is not None and want != buf._atable_version:
        await buf._atable.checkout(want)
        buf._atable_version = want
    q = _tune(buf._atable.query().nearest_to(vec).column(VECTOR), k, flt, exact, columns, with_row_id,
              is_async=True, index_cfg=buf.index_cfg)
    return await q.to_arrow()


def vector_query(buf: ReplayBuffer, vector: np.ndarray, k: int, flt: str | None, exact: bool, columns: list[str],
                 with_row_id: bool = False) -> pa.Table:
    """The k rows of `buf` nearest to `vector` under filter `flt`: `columns` + `_distance` (+ `_rowid`), best first.

    `exact=True` bypasses the ANN index. Raises DreamGymError on a vector of the wrong dim or a failed query."""
    vec = np.asarray(vector, dtype=np.float32).reshape(-1)
    if vec.shape[0] != buf.embedder.dim:
        raise DreamGymError(f"query vector has {vec.shape[0]} dims; the buffer's are {buf.embedder.dim}")
    try:
        got = _run_sync(lambda: _async_query(buf, vec, k, flt, exact, columns, with_row_id))
        if got is None:  # called inside a running event loop: the sync API runs it on LanceDB's own loop
            got = _tune(buf._table.search(vec, vector_column_name=VECTOR), k, flt, exact, columns, with_row_id,
                        is_async=False, index_cfg=buf.index_cfg).to_arrow()
        return got
    except (ValueError, RuntimeError, OSError) as e:
        raise DreamGymError(f"buffer search failed (filter: {flt!r}): {e}") from None
