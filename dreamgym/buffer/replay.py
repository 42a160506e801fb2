"""The experience replay buffer: Step rows + their embeddings in one LanceDB table, versioned by Lance.

    buf = ReplayBuffer("artifacts/buffer", "transitions", make_embedder("minilm"))
    buf.seed(real_steps_df)                        # the offline real trajectories: one commit (replace=True reseeds)
    buf.add(synthetic_steps)                       # batches of batch_size rows, one atomic Lance commit each
    buf.search(state, action, k=4, env="babyai", exclude_episode=ep)   # most similar past transitions
    buf.sample(256, seed=0, source="synthetic")    # uniform, reproducible training rows
    info = buf.snapshot("iter-3")                  # pin this version (a Lance tag); info.digest names the content
    old = buf.checkout("iter-3")                   # read-only view; stays readable while the head moves
    with buf.writer(): ...                         # several writes as one turn under the table's writer lock

Rows hold the STEP_SCHEMA columns, `row_key` (a content key: blake2b of the Step fields, equal for equal
transitions; it is what digests and sampling order are computed from), `batch_id` (one id per commit, so a
reader can check that batches are whole) and `vector` (fixed-size float32 list: the embedding of
transition_text(state, action), unit norm). The table records the embedder signature in its schema metadata
and refuses an embedder of another vector space.

Search is by cosine similarity, filters are Lance prefilters. It is exact (flat) until the table holds
`index.threshold_rows` rows; then add() builds the ANN index (`index.type`: IVF-PQ or IVF-HNSW-SQ, cosine) and
searches probe `nprobes` partitions and re-rank `k * refine_factor` candidates exactly; bitmap/btree indices on
env, source and episode_id make the filters cheap. Rows added after the build are searched exactly until
apply_retention() folds them into the indices. Queries run through LanceDB's async API on a private event loop
of the calling thread (the sync API hops to a background thread several times per query, which costs more than
the search itself at 100k rows); inside a running event loop they fall back to the sync API.

Writers take turns: every write (seed, add, snapshot, index, retention) holds the table's writer lock, an
OS-level exclusive lock (fcntl.flock on <uri>/.<table>.writer.lock, local tables only) that the kernel releases
when its holder dies, SIGKILL included, so a dead writer never leaves a stale lock. `with buf.writer():` holds it
across several writes (check, seed, verify, tag: nobody writes in between). A second writer waits for it up to
`lock_timeout_s`, then raises a DreamGymError naming the holder's pid and command. Tables on object storage
(s3://, gs://, ...) have no such lock; there Lance's optimistic commits are the only guard (appends never
conflict).

Crash safety: each add() batch is one atomic Lance commit, so no reader sees part of a batch (a writer killed
mid-batch leaves only unreferenced files, which cleanup removes once they are 7 days old). seed(replace=True)
embeds every row first and then replaces the real rows in ONE commit (a merge_insert that inserts the new rows
and deletes the old real rows), so a seed killed at any moment leaves either the old rows or the new ones, never
a mix that a rerun would duplicate. Readers see other processes' commits on their next call
(read_consistency_interval=0 by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import hashlib
import json
import math
import os
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dreamgym.buffer.embedders import TRANSITION_TEXT_VERSION, Embedder, make_embedder, transition_text
from dreamgym.config import BufferConfig, BufferIndexConfig, BufferRetentionConfig
from dreamgym.data.schema import STEP_COLUMNS, STEP_SCHEMA, STEP_SOURCES, Step
from dreamgym.errors import DreamGymError

VECTOR = "vector"
ROW_KEY = "row_key"
BATCH_ID = "batch_id"
#: columns returned by search() / sample(): the Step fields and the content key
RESULT_COLUMNS = [*STEP_COLUMNS, ROW_KEY]
_META_EMBEDDER = b"dreamgym.embedder"
_META_TEXT = b"dreamgym.transition_text"
#: PQ codebooks have 2**8 centroids: fewer rows cannot train an IVF-PQ index
MIN_INDEX_ROWS = 256
#: Lance file format of new tables: 2.1's structural encoding reads the k result rows of a search with fewer
#: I/Os than 2.0 (measured ~25% lower query latency at 100k rows); existing tables keep their format
DATA_STORAGE_VERSION = "2.1"
#: scalar indices built with the ANN index: column -> Lance index kind (filters on them use the index)
SCALAR_INDICES = {"env": "bitmap", "source": "bitmap", "episode_id": "btree"}
_LOOPS = threading.local()  # one private asyncio loop per thread for the query path


def _run_sync(make_coro):
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
#: optimize() always runs a cleanup pass; this age prunes nothing (used for compaction-only passes)
_NO_PRUNE = timedelta(days=365 * 100)
#: prune only below a gap of at least this much between consecutive versions (Lance prunes by commit time, and
#: its clock reading happens a little after ours)
_PRUNE_GAP = timedelta(milliseconds=100)
_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

StepsLike = pd.DataFrame | pa.Table | Sequence[Step] | Sequence[Mapping[str, Any]]
#: progress(done_rows, total_rows), called after each embedded batch of seed() / add()
Progress = Callable[[int, int], None]
#: how often a waiting writer retries the lock
_LOCK_POLL_S = 0.05


def local_path(uri: str) -> Path | None:
    """The directory of a local LanceDB URI (a path or file://...), None for object storage / remote URIs."""
    if uri.startswith("file://"):
        return Path(uri.removeprefix("file://"))
    return None if "://" in uri else Path(uri)


class WriterLock:
    """The exclusive writer lock of one buffer table: fcntl.flock on `path` (see the module docstring).

    Reentrant for its owner (nested writes of one handle take it once) and serialising its owner's threads.
    While held, the file names the holder (pid, host, since, cmd as JSON), which a writer that waits in vain
    reports. The kernel drops the lock when the holder's file descriptor closes, i.e. when it dies by any
    signal; the descriptor is not inherited by subprocesses (close-on-exec).
    """

    def __init__(self, path: Path, timeout_s: float, what: str):
        self.path = Path(path)
        self.timeout_s = float(timeout_s)
        self.what = what
        self._fd: int | None = None
        self._depth = 0
        self._mutex = threading.RLock()

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def holder(self) -> dict[str, Any]:
        """What the lock file says about its current holder ({} if it names none)."""
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def _give_up(self, waited: float) -> DreamGymError:
        h = self.holder()
        who = (f"pid {h.get('pid')} on {h.get('host')}, since {h.get('since')}: {h.get('cmd')}" if h.get("pid")
               else "a process that has not written its pid yet")
        return DreamGymError(f"{self.what} is being written by another writer ({who}); gave up after {waited:.1f} s "
                             f"waiting for its lock {self.path} (buffer.lock_timeout_s): let it finish or stop it")

    def acquire(self) -> None:
        """Take the lock, waiting up to timeout_s; raises DreamGymError naming the holder when it stays taken."""
        t0 = time.monotonic()
        got = self._mutex.acquire(timeout=self.timeout_s) if self.timeout_s > 0 else self._mutex.acquire(False)
        if not got:
            raise DreamGymError(f"{self.what}: another thread of this process holds its writer lock; gave up after "
                                f"{self.timeout_s:.0f} s (buffer.lock_timeout_s)")
        try:
            if self._depth == 0:
                self._lock_file(t0)
            self._depth += 1
        except BaseException:
            self._mutex.release()
            raise

    def _lock_file(self, t0: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    waited = time.monotonic() - t0
                    if waited >= self.timeout_s:
                        raise self._give_up(waited) from None
                    time.sleep(min(_LOCK_POLL_S, max(self.timeout_s - waited, 0.001)))
            me = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.now(UTC).isoformat(timespec="seconds"), "cmd": " ".join(sys.argv)[:300]}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
        except BaseException:
            os.close(fd)  # closing drops the lock if we got it
            raise
        self._fd = fd

    def release(self) -> None:
        """Release one level; the last release unlocks the file (and clears the holder's record)."""
        try:
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                try:
                    os.ftruncate(fd, 0)
                finally:
                    os.close(fd)
        finally:
            self._mutex.release()

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _writes(method):
    """Decorator of ReplayBuffer write methods: refuse on a read-only view, hold the writer lock during the call."""

    @functools.wraps(method)
    def wrapper(self: ReplayBuffer, *args: Any, **kwargs: Any):
        self._writable()
        with self.writer():
            return method(self, *args, **kwargs)

    return wrapper


def buffer_schema(dim: int, signature: str = "") -> pa.Schema:
    """Arrow schema of the buffer table: STEP_SCHEMA + row_key + batch_id + vector (fixed_size_list<float32>[dim])."""
    fields = [*STEP_SCHEMA, pa.field(ROW_KEY, pa.string()), pa.field(BATCH_ID, pa.string()),
              pa.field(VECTOR, pa.list_(pa.float32(), dim))]
    meta = {_META_EMBEDDER: signature.encode(), _META_TEXT: TRANSITION_TEXT_VERSION.encode()} if signature else None
    return pa.schema(fields, metadata=meta)


# ---------------------------------------------------------------------------------------------------------------
# validation: anything Step-like -> a pa.Table with exactly STEP_SCHEMA, or a DreamGymError naming the column
def _type_ok(actual: pa.DataType, target: pa.DataType) -> bool:
    t = pa.types
    if t.is_null(actual):
        return True  # an all-null column: reported as nulls below
    if t.is_string(target):
        return t.is_string(actual) or t.is_large_string(actual) or t.is_string_view(actual)
    if t.is_integer(target):
        return t.is_integer(actual)
    if t.is_floating(target):
        return t.is_floating(actual) or t.is_integer(actual)
    if t.is_boolean(target):
        return t.is_boolean(actual)
    return actual == target


def _column_array(name: str, values: Any) -> pa.Array:
    try:
        if isinstance(values, pd.Series):
            return pa.Array.from_pandas(values)
        if isinstance(values, pa.ChunkedArray):
            return values.combine_chunks()
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
        raise DreamGymError(f"column '{name}': values of mixed or unsupported types ({e})") from None


def to_step_table(steps: StepsLike) -> pa.Table:
    """Validate Step rows and return them as a pa.Table with exactly STEP_SCHEMA (n rows, extra columns dropped).

    Accepts a DataFrame, a pa.Table, a list of Step, or a list of dicts. Raises DreamGymError naming the first
    missing column, the first column of a wrong type, nulls (with their row positions), or an unknown `source`.
    """
    if isinstance(steps, pd.DataFrame):
        columns = {c: steps[c] for c in steps.columns}
    elif isinstance(steps, pa.Table):
        columns = {c: steps.column(c) for c in steps.column_names}
    else:
        rows = list(steps)
        if rows and isinstance(rows[0], Step):
            if not all(isinstance(r, Step) for r in rows):
                raise DreamGymError("steps: a list mixing Step objects and other values")
            rows = [r.to_row() for r in rows]
        for i, r in enumerate(rows):
            if not isinstance(r, Mapping):
                raise DreamGymError(f"steps[{i}] is a {type(r).__name__}; expected a Step or a dict of Step fields")
            missing = [c for c in STEP_COLUMNS if c not in r]
            if missing:
                raise DreamGymError(f"steps[{i}] has no column(s) {missing}; a Step row needs {list(STEP_COLUMNS)}")
        columns = {c: [r[c] for r in rows] for c in STEP_COLUMNS} if rows else {c: [] for c in STEP_COLUMNS}
    missing = [c for c in STEP_COLUMNS if c not in columns]
    if missing:
        raise DreamGymError(f"missing column(s) {missing}; a Step row needs {list(STEP_COLUMNS)}")
    arrays = []
    for f in STEP_SCHEMA:
        arr = _column_array(f.name, columns[f.name])
        if len(arr) and not _type_ok(arr.type, f.type):
            raise DreamGymError(f"column '{f.name}' has type {arr.type}; expected {f.type}")
        if arr.null_count:
            bad = np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[:5].tolist()
            raise DreamGymError(f"column '{f.name}' has {arr.null_count} null value(s), first at row(s) {bad}")
        arrays.append(arr.cast(f.type) if arr.type != f.type else arr)
    table = pa.Table.from_arrays(arrays, schema=STEP_SCHEMA)
    bad_src = sorted(set(table.column("source").to_pylist()) - set(STEP_SOURCES))
    if bad_src:
        raise DreamGymError(f"column 'source' holds {bad_src}; allowed: {list(STEP_SOURCES)}")
    return table


def row_keys(table: pa.Table) -> list[str]:
    """Content key of each Step row of `table` (STEP_SCHEMA): blake2b-128 hex over its fields, in column order."""
    cols = [table.column(c).to_pylist() for c in STEP_COLUMNS]
    return [hashlib.blake2b("\x1f".join(map(repr, vals)).encode("utf-8"), digest_size=16).hexdigest()
            for vals in zip(*cols, strict=True)]


def _duplicate_keys(table: pa.Table) -> list[tuple[str, int]]:
    """The (episode_id, t) pairs that occur more than once in `table`, sorted."""
    if table.num_rows == 0:
        return []
    g = table.select(["episode_id", "t"]).group_by(["episode_id", "t"]).aggregate([("t", "count")])
    g = g.filter(pc.greater(g.column("t_count"), 1))
    return sorted(zip(g.column("episode_id").to_pylist(), g.column("t").to_pylist(), strict=True))


def _sql(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _in_or_eq(column: str, value: str | Sequence[str]) -> str:
    if isinstance(value, str):
        return f"{column} = {_sql(value)}"
    values = list(value)
    if not values:
        return "false"
    return f"{column} IN ({', '.join(_sql(v) for v in values)})"


# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SnapshotInfo:
    """A pinned version of the buffer: where it is, its Lance version and tag, its size and content digest.

    `digest` is sha256 over the sorted row keys (content keys, with multiplicity): equal for equal content,
    whatever the physical layout, commit order or compaction.
    """

    uri: str
    table: str
    version: int
    tag: str | None
    rows: int
    rows_by_source: dict[str, int]
    digest: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON / tracker artifacts)."""
        return asdict(self)


@dataclass
class BufferStats:
    """Row counts of one buffer version.

    `table` is a DataFrame with columns env, source, iteration, rows (one row per combination present).
    """

    rows: int
    version: int
    indexed_rows: int
    unindexed_rows: int
    fragments: int
    by_source: dict[str, int]
    by_env: dict[str, int]
    table: pd.DataFrame = field(repr=False)

    def nested(self) -> dict[str, dict[str, dict[int, int]]]:
        """{env: {source: {iteration: rows}}}."""
        out: dict[str, dict[str, dict[int, int]]] = {}
        for r in self.table.itertuples(index=False):
            out.setdefault(r.env, {}).setdefault(r.source, {})[int(r.iteration)] = int(r.rows)
        return out

    def metrics(self) -> dict[str, float]:
        """Tracker metrics: buffer/rows, buffer/rows/<source>, buffer/rows/<env>/<source>, buffer/fragments."""
        m: dict[str, float] = {"buffer/rows": self.rows, "buffer/fragments": self.fragments,
                               "buffer/indexed_rows": self.indexed_rows}
        m.update({f"buffer/rows/{s}": n for s, n in self.by_source.items()})
        for env, by_src in self.nested().items():
            for src, by_it in by_src.items():
                m[f"buffer/rows/{env}/{src}"] = sum(by_it.values())
        return m


@dataclass(frozen=True)
class RetentionReport:
    """What apply_retention() did: versions before/after, versions pruned, fragments before/after."""

    versions_before: int
    versions_after: int
    pruned: int
    fragments_before: int
    fragments_after: int
    kept_tags: dict[str, int]


# ---------------------------------------------------------------------------------------------------------------
class ReplayBuffer:
    """The replay buffer over one LanceDB table (see the module docstring).

    `uri`: a local directory or any LanceDB URI; `table`: the table name (created if absent);
    `embedder`: an Embedder (its signature must match the table's); `index_cfg`, `retention`: the
    params.yaml knobs; `batch_size`: rows per add() commit (and per embedding call); `read_consistency_interval`:
    seconds after which a read re-checks for other processes' commits (0: every read; None: never, i.e. this
    handle's view only); `lock_timeout_s`: how long a write waits for another writer's lock before it raises.
    Takes objects only (never reads env vars or params files); `from_config` builds one from BufferConfig.
    """

    def __init__(self, uri: str | Path, table: str = "transitions", embedder: Embedder | None = None, *,
                 index_cfg: BufferIndexConfig | None = None, retention: BufferRetentionConfig | None = None,
                 batch_size: int = 1024, read_consistency_interval: float | None = 0.0, lock_timeout_s: float = 60.0):
        import lancedb

        if embedder is None:
            raise DreamGymError("ReplayBuffer needs an embedder (make_embedder('minilm') or make_embedder('hashing'))")
        if batch_size < 1:
            raise DreamGymError(f"batch_size must be >= 1, got {batch_size}")
        if lock_timeout_s < 0:
            raise DreamGymError(f"lock_timeout_s must be >= 0, got {lock_timeout_s}")
        self.uri = str(uri)
        self.table_name = table
        self.embedder = embedder
        self.index_cfg = index_cfg or BufferIndexConfig()
        self.retention = retention or BufferRetentionConfig()
        self.batch_size = int(batch_size)
        self._read_only = False
        self._batches_since_compact = 0
        rci = None if read_consistency_interval is None else timedelta(seconds=read_consistency_interval)
        self._rci = rci
        self._db = lancedb.connect(self.uri, read_consistency_interval=rci)
        self._table = self._open_or_create()
        self._check_schema(self._table.schema)
        self._atable = None  # the async handle of the query path, opened on first search
        self._atable_version: int | None = None  # the version it was last pinned to (views / rci=None)
        self._pinned: int | None = None  # a checkout() view's version
        local = local_path(self.uri)
        self._lock = (WriterLock(local / f".{table}.writer.lock", lock_timeout_s, f"buffer table '{table}' at {self.uri}")
                      if local is not None else None)

    @classmethod
    def from_config(cls, cfg: BufferConfig, root: Path | str | None = None) -> ReplayBuffer:
        """Build from params.yaml's `buffer:` section; a relative local `uri` is taken relative to `root`."""
        uri = cfg.uri
        if root is not None and "://" not in uri and not Path(uri).is_absolute():
            uri = str(Path(root) / uri)
        return cls(uri, cfg.table, make_embedder(cfg.embedder, **cfg.embedder_kwargs), index_cfg=cfg.index,
                   retention=cfg.retention, batch_size=cfg.batch_size, lock_timeout_s=cfg.lock_timeout_s)

    # -- opening -------------------------------------------------------------------------------------------------
    def _open_or_create(self):
        try:
            return self._db.open_table(self.table_name)
        except (FileNotFoundError, ValueError):
            pass
        schema = buffer_schema(self.embedder.dim, self.embedder.signature)
        try:  # another process may create it between our open and create: exist_ok opens theirs
            return self._db.create_table(self.table_name, schema=schema, exist_ok=True,
                                         data_storage_version=DATA_STORAGE_VERSION)
        except Exception:
            return self._db.open_table(self.table_name)

    def _check_schema(self, schema: pa.Schema) -> None:
        missing = [f for f in buffer_schema(1).names if f not in schema.names]
        if missing:
            raise DreamGymError(f"table '{self.table_name}' at {self.uri} is not a replay buffer table "
                                f"(no column(s) {missing})")
        dim = schema.field(VECTOR).type.list_size
        meta = schema.metadata or {}
        sig = meta.get(_META_EMBEDDER, b"").decode()
        if dim != self.embedder.dim or (sig and sig != self.embedder.signature):
            raise DreamGymError(f"table '{self.table_name}' at {self.uri} holds {sig or '?'} vectors ({dim}-d); "
                                f"the embedder is {self.embedder.signature} ({self.embedder.dim}-d): use the "
                                f"same embedder or another table")
        text_v = meta.get(_META_TEXT, b"").decode()
        if text_v and text_v != TRANSITION_TEXT_VERSION:
            raise DreamGymError(f"table '{self.table_name}' was embedded with transition_text v{text_v}; this "
                                f"code writes v{TRANSITION_TEXT_VERSION}: re-embed into a new table")

    # -- properties ----------------------------------------------------------------------------------------------
    @property
    def read_only(self) -> bool:
        """True for a checkout() view: reads see its version, writes raise."""
        return self._read_only

    @property
    def version(self) -> int:
        """The Lance version this handle reads (the latest one for a writable buffer)."""
        return int(self._table.version)

    @property
    def indexed(self) -> bool:
        """True if the vector column has an ANN index."""
        return any(VECTOR in ix.columns for ix in self._table.list_indices())

    def __len__(self) -> int:
        return int(self._table.count_rows())

    def count(self, env: str | Sequence[str] | None = None, source: str | None = None) -> int:
        """Rows matching the filters."""
        flt = self._filter(env, source, None, None)
        return int(self._table.count_rows(flt) if flt else self._table.count_rows())

    def __repr__(self) -> str:
        ro = ", read_only" if self._read_only else ""
        return f"ReplayBuffer({self.uri!r}, {self.table_name!r}, version={self.version}{ro})"

    def _writable(self) -> None:
        if self._read_only:
            raise DreamGymError(f"this buffer is a read-only view of version {self.version}; write through the "
                                f"ReplayBuffer it was checked out from")

    @property
    def lock_path(self) -> Path | None:
        """The writer lock file (None for a table on object storage, which has no writer lock)."""
        return self._lock.path if self._lock is not None else None

    @contextlib.contextmanager
    def writer(self) -> Iterator[ReplayBuffer]:
        """Hold the writer lock for the enclosed writes (reentrant), so no other writer commits in between.

        Waits up to lock_timeout_s for another writer; then raises DreamGymError naming its pid and command.
        Every write method takes the lock by itself; use this to make a sequence of reads and writes one turn
        (e.g. check a tag, seed, verify, tag)."""
        self._writable()
        if self._lock is None:
            yield self
            return
        with self._lock:
            self._table.checkout_latest()  # see every commit made before we got the lock
            yield self

    # -- writing -------------------------------------------------------------------------------------------------
    def seed(self, steps: StepsLike, replace: bool = False, progress: Progress | None = None) -> int:
        """Load the real (offline) Step rows; returns the number of rows written.

        Every row must have source 'real', their (episode_id, t) must be unique and must not be a synthetic
        row's. Refuses if the table already holds real rows, unless `replace=True`. Embeds every row first
        (`progress(done, total)` after each batch of batch_size rows), then writes them in ONE Lance commit that
        inserts the new rows and deletes every real row the table held (a merge_insert keyed on the new rows'
        fresh batch_id, which no stored row has, so nothing matches: insert all, delete the unmatched real rows).
        So a seed killed at any moment leaves the old real rows or the new ones, never both, and seeding the same
        rows again gives the same content (same digest). Synthetic rows are kept. Holds the writer lock from
        the check to the commit.
        """
        self._writable()
        table = to_step_table(steps)
        sources = set(table.column("source").to_pylist())
        if sources - {"real"}:
            raise DreamGymError(f"seed() takes real rows only; got source(s) {sorted(sources - {'real'})} "
                                f"(use add() for synthetic rows)")
        dups = _duplicate_keys(table)
        if dups:
            raise DreamGymError(f"seed rows repeat (episode_id, t): {dups[:5]}{' ...' if len(dups) > 5 else ''} "
                                f"({len(dups)} key(s)); each transition must appear once")
        n = table.num_rows
        with self.writer():
            existing = self.count(source="real")
            if existing and not replace:
                raise DreamGymError(f"table '{self.table_name}' at {self.uri} already holds {existing} real rows; "
                                    f"pass replace=True to replace them")
            if self.count(source="synthetic"):
                synth = self._scan(["episode_id", "t"], "source = 'synthetic'")
                clash = _duplicate_keys(pa.concat_tables([synth, table.select(["episode_id", "t"])]))
                if clash:
                    raise DreamGymError(f"seed rows have the (episode_id, t) of synthetic rows already in the "
                                        f"buffer: {clash[:5]} ({len(clash)} key(s)); nothing was written")
            if n == 0:
                if existing:
                    self._table.delete("source = 'real'")
                return 0
            vecs = np.concatenate([self._embed(table.slice(s, self.batch_size), progress, s, n)
                                   for s in range(0, n, self.batch_size)])
            data = self._rows(table, vecs, uuid.uuid4().hex)
            (self._table.merge_insert(BATCH_ID).when_not_matched_insert_all()
             .when_not_matched_by_source_delete("source = 'real'").execute(data))
            self._batches_since_compact += 1
            if len(self) >= self.index_cfg.threshold_rows and not self.indexed:
                self.build_index()
        return n

    def add(self, steps: StepsLike, vectors: np.ndarray | None = None, progress: Progress | None = None) -> int:
        """Append Step rows in batches of batch_size, each batch one atomic Lance commit; returns rows added.

        Everything is validated before anything is written. Each batch's embeddings are computed before its
        commit (or taken from `vectors`, shape (n, dim), e.g. precomputed with the same embedder; rows are
        L2-normalised); `progress(done, total)` is called after each committed batch. After every
        `retention.compact_every` batches of this handle, apply_retention() runs; once the table holds
        `index.threshold_rows` rows and has no index, build_index() runs. Holds the writer lock throughout.
        """
        self._writable()
        table = to_step_table(steps)
        n = table.num_rows
        if vectors is not None:
            vectors = np.asarray(vectors, dtype=np.float32)
            if vectors.shape != (n, self.embedder.dim):
                raise DreamGymError(f"vectors have shape {vectors.shape}; expected ({n}, {self.embedder.dim})")
            if not np.isfinite(vectors).all():
                raise DreamGymError("vectors hold NaN or inf")
        if n == 0:
            return 0
        with self.writer():
            for start in range(0, n, self.batch_size):
                chunk = table.slice(start, self.batch_size)
                if vectors is None:
                    vecs = self._embed(chunk)
                else:
                    vecs = vectors[start:start + chunk.num_rows]
                self._table.add(self._rows(chunk, vecs, uuid.uuid4().hex))
                if progress is not None:
                    progress(start + chunk.num_rows, n)
                self._batches_since_compact += 1
                if self._batches_since_compact >= self.retention.compact_every:
                    self.apply_retention()
            if len(self) >= self.index_cfg.threshold_rows and not self.indexed:
                self.build_index()
        return n

    def _embed(self, chunk: pa.Table, progress: Progress | None = None, start: int = 0, total: int = 0) -> np.ndarray:
        texts = [transition_text(s, a) for s, a in zip(chunk.column("state").to_pylist(),
                                                       chunk.column("action").to_pylist(), strict=True)]
        vecs = np.asarray(self.embedder.embed(texts), dtype=np.float32)
        if progress is not None:
            progress(start + chunk.num_rows, total)
        return vecs

    def _rows(self, chunk: pa.Table, vecs: np.ndarray, batch_id: str) -> pa.Table:
        """The table rows of Step rows `chunk`: + row_key, batch_id and the L2-normalised vectors."""
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        vecs = vecs / np.where(norms > 0, norms, 1.0)
        dim = self.embedder.dim
        vec_arr = pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1), type=pa.float32()), dim)
        data = chunk.append_column(ROW_KEY, pa.array(row_keys(chunk), type=pa.string()))
        data = data.append_column(BATCH_ID, pa.array([batch_id] * chunk.num_rows, type=pa.string()))
        return data.append_column(pa.field(VECTOR, pa.list_(pa.float32(), dim)), vec_arr)

    # -- reading -------------------------------------------------------------------------------------------------
    def _filter(self, env: str | Sequence[str] | None, source: str | None, exclude_episode: str | None,
                where: str | None) -> str | None:
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

    def _tune(self, q: Any, k: int, flt: str | None, exact: bool, columns: list[str], with_row_id: bool,
              is_async: bool) -> Any:
        """Apply the shared query settings to a sync or async LanceDB vector query."""
        q = q.distance_type("cosine").select([*columns, "_distance"]).limit(k)
        if with_row_id:
            q = q.with_row_id() if is_async else q.with_row_id(True)
        if flt:
            q = q.where(flt)  # a prefilter (the default of both APIs)
        if exact:
            return q.bypass_vector_index()
        q = q.nprobes(self.index_cfg.nprobes)
        return q.refine_factor(self.index_cfg.refine_factor) if self.index_cfg.refine_factor else q

    async def _async_query(self, vec: np.ndarray, k: int, flt: str | None, exact: bool, columns: list[str],
                           with_row_id: bool) -> pa.Table:
        import lancedb

        if self._atable is None:
            db = await lancedb.connect_async(self.uri, read_consistency_interval=self._rci)
            self._atable = await db.open_table(self.table_name)
        # a view reads its pinned version (fixed at checkout); an rci=None handle its own latest write
        want = self._pinned if self._read_only else (self.version if self._rci is None else None)
        if want is not None and want != self._atable_version:
            await self._atable.checkout(want)
            self._atable_version = want
        q = self._tune(self._atable.query().nearest_to(vec).column(VECTOR), k, flt, exact, columns, with_row_id,
                       is_async=True)
        return await q.to_arrow()

    def _vector_query(self, vector: np.ndarray, k: int, flt: str | None, exact: bool, columns: list[str],
                      with_row_id: bool = False) -> pa.Table:
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vec.shape[0] != self.embedder.dim:
            raise DreamGymError(f"query vector has {vec.shape[0]} dims; the buffer's are {self.embedder.dim}")
        try:
            got = _run_sync(lambda: self._async_query(vec, k, flt, exact, columns, with_row_id))
            if got is None:  # called inside a running event loop: the sync API runs it on LanceDB's own loop
                got = self._tune(self._table.search(vec, vector_column_name=VECTOR), k, flt, exact, columns,
                                 with_row_id, is_async=False).to_arrow()
            return got
        except (ValueError, RuntimeError, OSError) as e:
            raise DreamGymError(f"buffer search failed (filter: {flt!r}): {e}") from None

    def search_vector(self, vector: np.ndarray, k: int = 4, env: str | Sequence[str] | None = None,
                      source: str | None = None, exclude_episode: str | None = None, where: str | None = None,
                      exact: bool = False, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The k rows nearest to `vector` (shape (dim,)) by cosine similarity, best first.

        Each result is a dict of `columns` (default: the Step fields and `row_key`; fewer columns read less)
        and `similarity` (1 - cosine distance). Filters are prefilters: `env` (a name or a list), `source`
        ('real' / 'synthetic'), `exclude_episode` (an episode_id to leave out, e.g. the querying one), `where`
        (any extra Lance SQL predicate). `exact=True` bypasses the ANN index (flat search).
        """
        if k <= 0:
            return []
        cols = RESULT_COLUMNS if columns is None else list(columns)
        unknown = [c for c in cols if c not in RESULT_COLUMNS]
        if unknown:
            raise DreamGymError(f"unknown result column(s) {unknown}; choose from {RESULT_COLUMNS}")
        flt = self._filter(env, source, exclude_episode, where)
        rows = self._vector_query(vector, k, flt, exact, cols).to_pylist()
        for r in rows:
            r["similarity"] = 1.0 - float(r.pop("_distance"))
        return rows

    def search(self, state: str, action: str, k: int = 4, env: str | Sequence[str] | None = None,
               source: str | None = None, exclude_episode: str | None = None, where: str | None = None,
               exact: bool = False, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The k past transitions most similar to (state, action): embeds transition_text(state, action) and
        calls search_vector (same filters, columns and result dicts)."""
        vec = self.embedder.embed([transition_text(state, action)])[0]
        return self.search_vector(vec, k, env=env, source=source, exclude_episode=exclude_episode, where=where,
                                  exact=exact, columns=columns)

    def _scan(self, columns: list[str], flt: str | None = None, with_row_id: bool = False) -> pa.Table:
        q = self._table.search().select(columns)
        if flt:
            q = q.where(flt)
        if with_row_id:
            q = q.with_row_id(True)
        return q.limit(None).to_arrow()

    def sample(self, n: int, seed: int, env: str | Sequence[str] | None = None,
               source: str | None = None) -> pd.DataFrame:
        """n rows drawn uniformly without replacement (all matching rows if fewer), as a DataFrame of the
        Step columns + row_key, in draw order.

        Reproducible: the same content and seed give the same rows in the same order, whatever the physical
        layout (candidates are ordered by content key before drawing).
        """
        flt = self._filter(env, source, None, None)
        keys = self._scan([ROW_KEY], flt, with_row_id=True)
        if keys.num_rows == 0 or n <= 0:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in RESULT_COLUMNS})
        key_arr = np.asarray(keys.column(ROW_KEY).to_pylist(), dtype=object)
        row_ids = keys.column("_rowid").to_numpy()
        order = np.argsort(key_arr, kind="stable")
        rng = np.random.default_rng(seed)
        picked = row_ids[order[rng.choice(len(order), size=min(n, len(order)), replace=False)]]
        got = self._table.take_row_ids(picked.tolist()).select(RESULT_COLUMNS).with_row_id().to_arrow()
        pos = {int(r): i for i, r in enumerate(got.column("_rowid").to_pylist())}
        got = got.take(pa.array([pos[int(r)] for r in picked])).drop_columns(["_rowid"])
        return got.to_pandas()

    def stats(self) -> BufferStats:
        """Rows by env x source x iteration, totals, index coverage and fragment count of this version."""
        t = self._scan(["env", "source", "iteration"])
        g = t.group_by(["env", "source", "iteration"]).aggregate([("env", "count")]).to_pandas()
        g = g.rename(columns={"env_count": "rows"}).sort_values(["env", "source", "iteration"]).reset_index(drop=True)
        indexed = unindexed = 0
        for ix in self._table.list_indices():
            if VECTOR in ix.columns:
                indexed, unindexed = int(ix.num_indexed_rows or 0), int(ix.num_unindexed_rows or 0)
        frags = int(self._table.stats()["fragment_stats"]["num_fragments"])
        return BufferStats(rows=t.num_rows, version=self.version, indexed_rows=indexed, unindexed_rows=unindexed,
                           fragments=frags,
                           by_source={str(k): int(v) for k, v in g.groupby("source")["rows"].sum().items()},
                           by_env={str(k): int(v) for k, v in g.groupby("env")["rows"].sum().items()},
                           table=g[["env", "source", "iteration", "rows"]])

    def digest(self) -> str:
        """sha256 over the sorted content keys of this version's rows (see SnapshotInfo)."""
        keys = sorted(self._scan([ROW_KEY]).column(ROW_KEY).to_pylist())
        h = hashlib.sha256()
        for k in keys:
            h.update(k.encode())
            h.update(b"\n")
        return h.hexdigest()

    def steps_frame(self, source: str | None = None) -> pd.DataFrame:
        """Every row of this version (optionally of one source) as a DataFrame of the Step columns (e.g. to gate
        the table itself)."""
        return self._scan(list(STEP_COLUMNS), self._filter(None, source, None, None)).to_pandas()

    def duplicate_keys(self) -> list[tuple[str, int]]:
        """The (episode_id, t) pairs held by more than one row of this version (none in a healthy buffer)."""
        return _duplicate_keys(self._scan(["episode_id", "t"]))

    def verify_seed(self, steps: StepsLike) -> list[str]:
        """What is wrong with this version as the seed of `steps` (empty: nothing): its real rows must be
        exactly those rows (same count, same content keys) and no (episode_id, t) may repeat in the table."""
        table = to_step_table(steps)
        problems = []
        real = self._scan([ROW_KEY], "source = 'real'").column(ROW_KEY).to_pylist()
        if len(real) != table.num_rows:
            problems.append(f"{len(real)} real rows, the data has {table.num_rows}")
        elif sorted(real) != sorted(row_keys(table)):
            problems.append("its real rows differ from the data's rows")
        dups = self.duplicate_keys()
        if dups:
            problems.append(f"{len(dups)} (episode_id, t) key(s) held by several rows, e.g. {dups[:3]}")
        return problems

    def info(self, tag: str | None = None) -> SnapshotInfo:
        """SnapshotInfo of the version this handle reads."""
        by_source = self._scan(["source"]).group_by("source").aggregate([("source", "count")]).to_pylist()
        counts = {r["source"]: int(r["source_count"]) for r in by_source}
        return SnapshotInfo(uri=self.uri, table=self.table_name, version=self.version, tag=tag,
                            rows=sum(counts.values()), rows_by_source=dict(sorted(counts.items())),
                            digest=self.digest())

    # -- versions and snapshots ----------------------------------------------------------------------------------
    @_writes
    def snapshot(self, tag: str) -> SnapshotInfo:
        """Pin the current version with Lance tag `tag` and describe it. Tagged versions survive retention."""
        self._writable()
        if not _TAG_RE.match(tag or ""):
            raise DreamGymError(f"snapshot tag '{tag}' must match {_TAG_RE.pattern}")
        existing = self.tags()
        if tag in existing:
            raise DreamGymError(f"snapshot tag '{tag}' already pins version {existing[tag]}; pick another tag "
                                f"or delete_snapshot('{tag}') first")
        self._table.checkout_latest()
        version = self.version
        self._table.tags.create(tag, version)
        return self.checkout(tag).info(tag)

    @_writes
    def delete_snapshot(self, tag: str) -> None:
        """Remove tag `tag` (its version becomes prunable by retention)."""
        self._writable()
        if tag not in self.tags():
            raise DreamGymError(f"no snapshot tag '{tag}'; tags: {sorted(self.tags())}")
        self._table.tags.delete(tag)

    def tags(self) -> dict[str, int]:
        """{tag: version} of the table's snapshots."""
        return {t: int(v["version"]) for t, v in sorted(self._table.tags.list().items())}

    def versions(self) -> list[dict[str, Any]]:
        """The table's retained versions, oldest first: {version, timestamp (UTC), rows, tags}."""
        by_version: dict[int, list[str]] = {}
        for t, v in self.tags().items():
            by_version.setdefault(v, []).append(t)
        out = []
        for v in sorted(self._table.list_versions(), key=lambda v: v["version"]):
            meta = v.get("metadata") or {}
            ts = v["timestamp"]  # lancedb gives naive local time
            ts = ts.astimezone(UTC) if isinstance(ts, datetime) else ts
            out.append({"version": int(v["version"]), "timestamp": ts,
                        "rows": int(meta["total_rows"]) if "total_rows" in meta else None,
                        "tags": by_version.get(int(v["version"]), [])})
        return out

    def checkout(self, ref: str | int) -> ReplayBuffer:
        """A read-only view at a tag or a version number: its search/sample/stats read that version's rows."""
        if isinstance(ref, str):
            tags = self.tags()
            if ref not in tags:
                raise DreamGymError(f"no snapshot tag '{ref}'; tags: {sorted(tags)}")
        else:
            known = [v["version"] for v in self.versions()]
            if int(ref) not in known:
                raise DreamGymError(f"version {ref} is not retained; versions: {known[:3]}...{known[-3:]}")
        view = object.__new__(ReplayBuffer)
        view.__dict__.update(self.__dict__)
        view._table = self._db.open_table(self.table_name)
        view._table.checkout(ref)
        view._read_only = True
        view._batches_since_compact = 0
        view._atable, view._atable_version = None, None  # its own async handle, pinned on first search
        view._pinned = int(view._table.version)
        return view

    # -- index ---------------------------------------------------------------------------------------------------
    @_writes
    def build_index(self, num_partitions: int | None = None, num_sub_vectors: int | None = None,
                    sample_rate: int = 256, max_iterations: int = 50) -> dict[str, Any]:
        """Build (or rebuild) the ANN index (`index.type`, cosine) on the vector column, and the scalar indices
        on env/source/episode_id (`index.scalar_indices`); returns what was built.

        Partitions: the argument, else index.num_partitions, else about sqrt(rows) for ivf_pq and rows / 4096
        for ivf_hnsw_sq (each partition holds one HNSW graph). Sub-vectors (ivf_pq): the argument, else
        index.num_sub_vectors, else dim / 8 (must divide dim). `sample_rate` (training vectors per partition)
        and `max_iterations` (k-means) trade build time for index quality (Lance's defaults).
        """
        from lancedb.index import HnswSq, IvfPq

        self._writable()
        rows = len(self)
        if rows < MIN_INDEX_ROWS:
            raise DreamGymError(f"an ANN index needs >= {MIN_INDEX_ROWS} rows; the table has {rows}")
        dim, kind = self.embedder.dim, self.index_cfg.type
        default_parts = round(math.sqrt(rows)) if kind == "ivf_pq" else math.ceil(rows / 4096)
        parts = num_partitions or self.index_cfg.num_partitions or max(1, default_parts)
        parts = min(parts, rows // 4 or 1)
        built: dict[str, Any] = {"type": kind, "rows": rows, "num_partitions": parts}
        if kind == "ivf_pq":
            subv = num_sub_vectors or self.index_cfg.num_sub_vectors or max(1, dim // 8)
            if dim % subv:
                raise DreamGymError(f"num_sub_vectors={subv} must divide the vector dim {dim}")
            config = IvfPq(distance_type="cosine", num_partitions=parts, num_sub_vectors=subv,
                           sample_rate=sample_rate, max_iterations=max_iterations)
            built["num_sub_vectors"] = subv
        else:
            config = HnswSq(distance_type="cosine", num_partitions=parts, sample_rate=sample_rate,
                            max_iterations=max_iterations)
        self._table.create_index(VECTOR, config=config, replace=True)
        if self.index_cfg.scalar_indices:
            self.build_scalar_indices()
        built["scalar_indices"] = sorted(SCALAR_INDICES) if self.index_cfg.scalar_indices else []
        built["version"] = self.version
        return built

    @_writes
    def build_scalar_indices(self) -> None:
        """(Re)build the bitmap/btree indices of SCALAR_INDICES, so filtered searches read an index, not columns."""
        from lancedb.index import Bitmap, BTree

        self._writable()
        for column, kind in SCALAR_INDICES.items():
            self._table.create_index(column, config=Bitmap() if kind == "bitmap" else BTree(), replace=True)

    def recall_at_k(self, queries: Sequence[tuple[str, str]] | np.ndarray, k: int = 10, **filters: Any) -> float:
        """Mean recall of the indexed search against exact (flat) search over `queries`.

        `queries`: (state, action) pairs, or query vectors of shape (n, dim). Filters as in search_vector().
        1.0 when the table has no index (search is exact).
        """
        if isinstance(queries, np.ndarray):
            vecs = np.asarray(queries, dtype=np.float32).reshape(-1, self.embedder.dim)
        else:
            vecs = self.embedder.embed([transition_text(s, a) for s, a in queries])
        if len(vecs) == 0:
            raise DreamGymError("recall_at_k needs at least one query")
        flt = self._filter(filters.get("env"), filters.get("source"), filters.get("exclude_episode"),
                           filters.get("where"))
        recalls = []
        for v in vecs:
            exact = set(self._vector_query(v, k, flt, True, [ROW_KEY], True).column("_rowid").to_pylist())
            if not exact:
                continue
            approx = set(self._vector_query(v, k, flt, False, [ROW_KEY], True).column("_rowid").to_pylist())
            recalls.append(len(exact & approx) / len(exact))
        return float(np.mean(recalls)) if recalls else 1.0

    # -- retention -----------------------------------------------------------------------------------------------
    @_writes
    def apply_retention(self) -> RetentionReport:
        """Compact small fragments (folding new rows into the index), then prune old versions.

        Kept: every tagged version, the newest `retention.keep_versions` versions, and every version newer than
        the oldest tag (Lance's cleanup prunes by commit time and refuses to pass over a tagged version, so
        untagged versions between two tags stay until the older tag is deleted). Pruning also stops at a gap
        shorter than 100 ms between consecutive commits (clock safety), so a burst of commits is pruned on a
        later call. Pruned versions' files are deleted unless a kept version still uses them.
        """
        self._writable()
        before = self.versions()
        frags_before = int(self._table.stats()["fragment_stats"]["num_fragments"])
        self._table.optimize(cleanup_older_than=_NO_PRUNE)  # compaction + index update; prunes nothing
        self._batches_since_compact = 0
        vs = self.versions()
        tags = self.tags()
        keep = self.retention.keep_versions
        limit = vs[-keep]["version"] if len(vs) > keep else vs[0]["version"]
        if tags:
            limit = min(limit, min(tags.values()))
        older = [v for v in vs if v["version"] <= limit]  # candidates + the first kept one
        last_pruned = None
        for prev, nxt in zip(older[:-1], older[1:], strict=True):
            if nxt["timestamp"] - prev["timestamp"] >= _PRUNE_GAP:
                last_pruned = prev
        if last_pruned is not None:
            now = datetime.now(UTC)
            age_ms = int((now - last_pruned["timestamp"]).total_seconds() * 1000) - 1
            if age_ms > 0:
                try:
                    self._table.optimize(cleanup_older_than=timedelta(milliseconds=age_ms))
                except RuntimeError as e:  # a tag landed in the pruned range meanwhile: prune nothing this time
                    if "tagged" not in str(e):
                        raise
        after = self.versions()
        return RetentionReport(versions_before=len(before), versions_after=len(after),
                               pruned=len({v["version"] for v in before} - {v["version"] for v in after}),
                               fragments_before=frags_before,
                               fragments_after=int(self._table.stats()["fragment_stats"]["num_fragments"]),
                               kept_tags=tags)

