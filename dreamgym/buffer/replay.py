"""The experience replay buffer: Step rows + their embeddings in one LanceDB table, versioned by Lance.

    buf = ReplayBuffer("artifacts/buffer", "transitions", make_embedder("minilm"))
    buf.seed(real_steps_df)                        # the offline real trajectories: one commit (replace=True reseeds)
    buf.add(synthetic_steps)                       # batches of batch_size rows, one atomic Lance commit each
    buf.search(state, action, k=4, env="myenv", exclude_episode=ep)    # most similar past transitions
    buf.sample(256, seed=0, source="synthetic")    # uniform, reproducible training rows
    info = buf.snapshot("iter-3")                  # pin this version (a Lance tag); info.digest names the content
    old = buf.checkout("iter-3")                   # read-only view; stays readable while the head moves
    with buf.writer(): ...                         # several writes as one turn under the table's writer lock

The table's rows and schema are in schema.py, the query path (filters, ANN settings, the async loop) in query.py,
the writer lock in lock.py, the summaries of a version (stats, digest, seed verification) in contents.py, and
tags, checkouts, the indices and retention in versions.py; ReplayBuffer binds the functions of the last two as
its methods. The table records the embedder signature in its schema metadata and refuses an embedder of another
vector space. Once the table holds `index.threshold_rows` rows, add() and seed() build the ANN index. A table
made before a Step column of ADDED_STEP_COLUMNS existed gets that column on open, at its default, in one Lance
commit under the writer lock; views of its older versions read the column as the default.

Crash safety: each add() batch is one atomic Lance commit, so no reader sees part of a batch (a writer killed
mid-batch leaves only unreferenced files, which cleanup removes once they are 7 days old). seed(replace=True)
embeds every row first and then replaces the real rows in ONE commit (a merge_insert that inserts the new rows
and deletes the old real rows), so a seed killed at any moment leaves either the old rows or the new ones, never
a mix that a rerun would duplicate. Readers see other processes' commits on their next call
(read_consistency_interval=0 by default).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from dreamgym.buffer import contents
from dreamgym.buffer import versions as versioning
from dreamgym.buffer.config import BufferConfig, BufferIndexConfig, BufferRetentionConfig
from dreamgym.buffer.embedders import Embedder, make_embedder, transition_text
from dreamgym.buffer.lock import WriterLock, local_path
from dreamgym.buffer.query import vector_query, where_clause
from dreamgym.buffer.schema import (
    BATCH_ID,
    RESULT_COLUMNS,
    ROW_KEY,
    VECTOR,
    StepsLike,
    added_columns_sql,
    buffer_schema,
    check_table_schema,
    check_vectors,
    fill_added_columns,
    missing_added_columns,
    repeated_step_keys,
    table_rows,
    to_step_table,
)
from dreamgym.errors import DreamGymError

#: Lance file format of new tables: 2.1's structural encoding reads the k result rows of a search with fewer
#: I/Os than 2.0 (measured ~25% lower query latency at 100k rows); existing tables keep their format
DATA_STORAGE_VERSION = "2.1"
#: progress(done_rows, total_rows), called after each embedded batch of seed() / add()
Progress = Callable[[int, int], None]


class ReplayBuffer:
    """The replay buffer over one LanceDB table (see the module docstring).

    `uri`: a local directory or any LanceDB URI; `table`: the table name (created if absent);
    `embedder`: an Embedder (its signature must match the table's); `index_cfg`, `retention`: the
    params.yaml knobs; `batch_size`: rows per add() commit (and per embedding call); `read_consistency_interval`:
    seconds after which a read re-checks for other processes' commits (0: every read; None: never, i.e. this
    handle's view only); `lock_timeout_s`: how long a write waits for another writer's lock before it raises;
    `state_key(env, state)`: the state text embedded for a row (e.g. the env's abstract state, so rows are keyed
    like the experience model's retrieval queries; None: the state as stored). Takes objects only (never reads env vars or params files); `from_config` builds one from BufferConfig.
    """

    def __init__(self, uri: str | Path, table: str = "transitions", embedder: Embedder | None = None, *,
                 index_cfg: BufferIndexConfig | None = None, retention: BufferRetentionConfig | None = None,
                 batch_size: int = 1024, read_consistency_interval: float | None = 0.0, lock_timeout_s: float = 60.0,
                 state_key: Callable[[str, str], str] | None = None):
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
        self.state_key = state_key
        self._read_only = False
        self._batches_since_compact = 0
        self._rci = None if read_consistency_interval is None else timedelta(seconds=read_consistency_interval)
        self._db = lancedb.connect(self.uri, read_consistency_interval=self._rci)
        self._table = self._open_or_create()
        check_table_schema(self._table.schema, self.embedder, self.table_name, self.uri)
        self._atable = None  # the async handle of the query path, opened on first search
        self._atable_version: int | None = None  # the version it was last pinned to (views / rci=None)
        self._pinned: int | None = None  # a checkout() view's version
        local = local_path(self.uri)
        self._lock = (WriterLock(local / f".{table}.writer.lock", lock_timeout_s, f"buffer table '{table}' at {self.uri}")
                      if local is not None else None)
        self._absent: list[str] = []  # the added Step columns the version this handle reads lacks (old views)
        self._add_missing_columns()

    @classmethod
    def from_config(cls, cfg: BufferConfig, root: Path | str | None = None,
                    state_key: Callable[[str, str], str] | None = None) -> ReplayBuffer:
        """Build from params.yaml's `buffer:` section; a relative local `uri` is taken relative to `root`;
        `state_key(env, state)`: the state text embedded for a row (see the class docstring)."""
        uri = cfg.uri
        if root is not None and "://" not in uri and not Path(uri).is_absolute():
            uri = str(Path(root) / uri)
        return cls(uri, cfg.table, make_embedder(cfg.embedder, **cfg.embedder_kwargs), index_cfg=cfg.index,
                   retention=cfg.retention, batch_size=cfg.batch_size, lock_timeout_s=cfg.lock_timeout_s,
                   state_key=state_key)

    def _open_or_create(self):
        """The table, created (empty, with this embedder's schema) if it does not exist."""
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

    def _add_missing_columns(self) -> None:
        """Give a table made before a column of ADDED_STEP_COLUMNS existed that column, at its default, in one Lance
        commit under the writer lock; a DreamGymError (one actionable line) if that fails."""
        if not missing_added_columns(self._table.schema):
            return
        with self.writer():  # another process may be adding them too: look again under the lock
            missing = missing_added_columns(self._table.schema)
            if not missing:
                return
            try:
                self._table.add_columns(added_columns_sql(missing))
            except Exception as e:
                self._table.checkout_latest()
                if missing_added_columns(self._table.schema):  # nobody else added them meanwhile
                    raise DreamGymError(
                        f"buffer table '{self.table_name}' at {self.uri} predates the Step column(s) {missing} and "
                        f"adding them failed ({(str(e).splitlines() or [type(e).__name__])[0]}): delete the "
                        f"table (or set another buffer.table) and rerun the seed_buffer stage "
                        f"(python -m flows.buffer)") from None

    def _readable(self, columns: Sequence[str]) -> list[str]:
        """`columns` less those the version this handle reads lacks (added later; fill_added_columns fills them)."""
        return [c for c in columns if c not in self._absent]

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
        flt = where_clause(env, source, None, None)
        return int(self._table.count_rows(flt) if flt else self._table.count_rows())

    def __repr__(self) -> str:
        ro = ", read_only" if self._read_only else ""
        return f"ReplayBuffer({self.uri!r}, {self.table_name!r}, version={self.version}{ro})"

    def _writable(self) -> None:
        """Raise DreamGymError on a read-only view."""
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
        dups = repeated_step_keys(table)
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
                clash = repeated_step_keys(pa.concat_tables([synth, table.select(["episode_id", "t"])]))
                if clash:
                    raise DreamGymError(f"seed rows have the (episode_id, t) of synthetic rows already in the "
                                        f"buffer: {clash[:5]} ({len(clash)} key(s)); nothing was written")
            if n == 0:
                if existing:
                    self._table.delete("source = 'real'")
                return 0
            vecs = np.concatenate([self._embed(table.slice(s, self.batch_size), progress, s, n)
                                   for s in range(0, n, self.batch_size)])
            data = table_rows(table, vecs, uuid.uuid4().hex, self.embedder.dim)
            (self._table.merge_insert(BATCH_ID).when_not_matched_insert_all()
             .when_not_matched_by_source_delete("source = 'real'").execute(data))
            self._batches_since_compact += 1
            self._index_when_due()
        return n

    def add(self, steps: StepsLike, vectors: np.ndarray | None = None, progress: Progress | None = None,
            atomic: bool = False) -> int:
        """Append Step rows in batches of batch_size, each batch one atomic Lance commit; returns rows added.
        `atomic=True` embeds every batch first and writes all rows in ONE commit (e.g. one loop iteration's rows).

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
            vectors = check_vectors(vectors, n, self.embedder.dim)
        if n == 0:
            return 0
        with self.writer():
            if atomic:
                vecs = vectors if vectors is not None else np.concatenate(
                    [self._embed(table.slice(s, self.batch_size), progress, s, n) for s in range(0, n, self.batch_size)])
                self._table.add(table_rows(table, vecs, uuid.uuid4().hex, self.embedder.dim))
                self._batches_since_compact += 1
                self._index_when_due()
                return n
            for start in range(0, n, self.batch_size):
                chunk = table.slice(start, self.batch_size)
                vecs = self._embed(chunk) if vectors is None else vectors[start:start + chunk.num_rows]
                self._table.add(table_rows(chunk, vecs, uuid.uuid4().hex, self.embedder.dim))
                if progress is not None:
                    progress(start + chunk.num_rows, n)
                self._batches_since_compact += 1
                if self._batches_since_compact >= self.retention.compact_every:
                    self.apply_retention()
            self._index_when_due()
        return n

    def delete_where(self, where: str) -> int:
        """Delete the rows matching the SQL filter `where` in one commit (none match: no commit); returns how many.
        E.g. a resumed loop drops what a killed iteration wrote: "source = 'synthetic' AND iteration > 3"."""
        self._writable()
        with self.writer():
            n = int(self._table.count_rows(where))
            if n:
                self._table.delete(where)
        return n

    def copy_from(self, other: ReplayBuffer) -> int:
        """Write every row of `other` (a buffer or a checkout view with the same embedder), vectors included, into
        this empty buffer in one commit; returns the rows copied. A non-empty target raises."""
        self._writable()
        if other.embedder.signature != self.embedder.signature:
            raise DreamGymError(f"copy_from: {other!r} was embedded by another embedder than {self!r}")
        with self.writer():
            if len(self):
                raise DreamGymError(f"copy_from: {self!r} is not empty ({len(self)} rows)")
            data = other._table.to_arrow()
            if data.num_rows:
                self._table.add(data.select(self._table.schema.names))
            return int(data.num_rows)

    def _embed(self, chunk: pa.Table, progress: Progress | None = None, start: int = 0, total: int = 0) -> np.ndarray:
        """The embeddings of the Step rows `chunk` (each distinct transition text embedded once); then
        progress(start + rows, total) if given."""
        states = chunk.column("state").to_pylist()
        if self.state_key is not None:
            states = [self.state_key(e, s) for e, s in zip(chunk.column("env").to_pylist(), states, strict=True)]
        texts = [transition_text(s, a) for s, a in zip(states, chunk.column("action").to_pylist(), strict=True)]
        first: dict[str, int] = {}  # a loop's group of episodes repeats about half its transitions
        where = [first.setdefault(t, len(first)) for t in texts]
        vecs = np.asarray(self.embedder.embed(list(first)), dtype=np.float32)[where]
        if progress is not None:
            progress(start + chunk.num_rows, total)
        return vecs

    def _index_when_due(self) -> None:
        """Build the ANN index once the table holds index.threshold_rows rows and has none."""
        if len(self) >= self.index_cfg.threshold_rows and not self.indexed:
            self.build_index()

    # -- reading -------------------------------------------------------------------------------------------------
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
        flt = where_clause(env, source, exclude_episode, where)
        rows = fill_added_columns(vector_query(self, vector, k, flt, exact, self._readable(cols)), cols).to_pylist()
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
        """`columns` of every row of this version that matches `flt` (+ `_rowid`), in storage order."""
        q = self._table.search().select(self._readable(columns))
        if flt:
            q = q.where(flt)
        if with_row_id:
            q = q.with_row_id(True)
        return fill_added_columns(q.limit(None).to_arrow(), columns)

    def sample(self, n: int, seed: int, env: str | Sequence[str] | None = None,
               source: str | None = None) -> pd.DataFrame:
        """n rows drawn uniformly without replacement (all matching rows if fewer), as a DataFrame of the
        Step columns + row_key, in draw order.

        Reproducible: the same content and seed give the same rows in the same order, whatever the physical
        layout (candidates are ordered by content key before drawing).
        """
        keys = self._scan([ROW_KEY], where_clause(env, source, None, None), with_row_id=True)
        if keys.num_rows == 0 or n <= 0:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in RESULT_COLUMNS})
        key_arr = np.asarray(keys.column(ROW_KEY).to_pylist(), dtype=object)
        row_ids = keys.column("_rowid").to_numpy()
        order = np.argsort(key_arr, kind="stable")
        rng = np.random.default_rng(seed)
        picked = row_ids[order[rng.choice(len(order), size=min(n, len(order)), replace=False)]]
        got = self._table.take_row_ids(picked.tolist()).select(self._readable(RESULT_COLUMNS)).with_row_id().to_arrow()
        pos = {int(r): i for i, r in enumerate(got.column("_rowid").to_pylist())}
        got = got.take(pa.array([pos[int(r)] for r in picked])).drop_columns(["_rowid"])
        return fill_added_columns(got, RESULT_COLUMNS).to_pandas()

    def checkout(self, ref: str | int) -> ReplayBuffer:
        """A read-only view at a tag or a version number: its search/sample/stats read that version's rows."""
        versioning.check_ref(self, ref)
        view = object.__new__(ReplayBuffer)
        view.__dict__.update(self.__dict__)
        view._table = self._db.open_table(self.table_name)
        view._table.checkout(ref)
        view._read_only = True
        view._atable, view._atable_version = None, None  # its own async handle, pinned on first search
        view._pinned = int(view._table.version)
        view._absent = missing_added_columns(view._table.schema)
        return view

    # -- what this version holds (contents.py) -------------------------------------------------------------------
    stats = contents.stats
    digest = contents.digest
    steps_frame = contents.steps_frame
    duplicate_keys = contents.duplicate_keys
    verify_seed = contents.verify_seed
    info = contents.info

    # -- versions, snapshots, indices, retention (versions.py) ---------------------------------------------------
    tags = versioning.tags
    versions = versioning.versions
    snapshot = versioning.snapshot
    delete_snapshot = versioning.delete_snapshot
    build_index = versioning.build_index
    build_scalar_indices = versioning.build_scalar_indices
    recall_at_k = versioning.recall_at_k
    apply_retention = versioning.apply_retention
