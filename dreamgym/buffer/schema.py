"""The buffer table's schema, and what turns Step rows into table rows: validation, content keys, vectors.

A table row holds the STEP_SCHEMA columns, `row_key` (a content key: blake2b of the Step fields, equal for equal
transitions; digests and the sampling order are computed from it), `batch_id` (one id per commit, so a reader can
check that batches are whole) and `vector` (fixed-size float32 list: the unit-norm embedding of
transition_text(state, action)). The schema metadata records the embedder signature and the transition_text
version, so a table refuses vectors of another space.

A table made before a Step column of ADDED_STEP_COLUMNS existed gets it on open (ReplayBuffer adds it at its
default in one commit); its versions from before that commit read it as the default (`fill_added_columns`). Row
keys leave out an added column that holds its default, so a row keeps the key it had before the column existed
(and a buffer its digest).

Simplifications: pure functions of Arrow tables and numpy arrays; nothing here opens a table.

    table = to_step_table(steps)                   # any Step-like rows -> STEP_SCHEMA, or a DreamGymError
    rows = table_rows(table, vecs, batch_id, dim)  # + row_key, batch_id, vector: ready for a Lance write
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dreamgym.buffer.embedders import TRANSITION_TEXT_VERSION, Embedder
from dreamgym.data.schema import ADDED_STEP_COLUMNS, STEP_COLUMNS, STEP_SCHEMA, STEP_SOURCES, Step
from dreamgym.errors import DreamGymError

VECTOR = "vector"
ROW_KEY = "row_key"
BATCH_ID = "batch_id"
#: columns returned by search() / sample(): the Step fields and the content key
RESULT_COLUMNS = [*STEP_COLUMNS, ROW_KEY]
_META_EMBEDDER = b"dreamgym.embedder"
_META_TEXT = b"dreamgym.transition_text"

StepsLike = pd.DataFrame | pa.Table | Sequence[Step] | Sequence[Mapping[str, Any]]


def buffer_schema(dim: int, signature: str = "") -> pa.Schema:
    """Arrow schema of the buffer table: STEP_SCHEMA + row_key + batch_id + vector (fixed_size_list<float32>[dim])."""
    fields = [*STEP_SCHEMA, pa.field(ROW_KEY, pa.string()), pa.field(BATCH_ID, pa.string()),
              pa.field(VECTOR, pa.list_(pa.float32(), dim))]
    meta = {_META_EMBEDDER: signature.encode(), _META_TEXT: TRANSITION_TEXT_VERSION.encode()} if signature else None
    return pa.schema(fields, metadata=meta)


def check_table_schema(schema: pa.Schema, embedder: Embedder, table: str, uri: str) -> None:
    """Raise DreamGymError unless `schema` (of table `table` at `uri`) is a buffer table of `embedder`'s vector
    space: it has the buffer columns (but perhaps not those of ADDED_STEP_COLUMNS: it may predate them), the
    embedder's dim and signature, and this code's transition_text version."""
    missing = [f for f in buffer_schema(1).names if f not in schema.names and f not in ADDED_STEP_COLUMNS]
    if missing:
        raise DreamGymError(f"table '{table}' at {uri} is not a replay buffer table (no column(s) {missing})")
    dim = schema.field(VECTOR).type.list_size
    meta = schema.metadata or {}
    sig = meta.get(_META_EMBEDDER, b"").decode()
    if dim != embedder.dim or (sig and sig != embedder.signature):
        raise DreamGymError(f"table '{table}' at {uri} holds {sig or '?'} vectors ({dim}-d); the embedder is "
                            f"{embedder.signature} ({embedder.dim}-d): use the same embedder or another table")
    text_v = meta.get(_META_TEXT, b"").decode()
    if text_v and text_v != TRANSITION_TEXT_VERSION:
        raise DreamGymError(f"table '{table}' was embedded with transition_text v{text_v}; this code writes "
                            f"v{TRANSITION_TEXT_VERSION}: re-embed into a new table")


def missing_added_columns(schema: pa.Schema) -> list[str]:
    """The columns of ADDED_STEP_COLUMNS that a buffer table (version) of `schema` lacks: it predates them."""
    return [c for c in ADDED_STEP_COLUMNS if c not in schema.names]


def added_columns_sql(columns: Sequence[str]) -> dict[str, str]:
    """{column: SQL literal of its default} for `columns` of ADDED_STEP_COLUMNS (a Lance add_columns argument)."""
    return {c: "'" + str(ADDED_STEP_COLUMNS[c]).replace("'", "''") + "'" for c in columns}


def fill_added_columns(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    """`table`, read from a version without some of ADDED_STEP_COLUMNS, with those of `columns` it lacks at
    their default: `columns` first, in their order, then its other columns (e.g. _distance, _rowid) as read."""
    for c in columns:
        if c not in table.column_names:
            f = STEP_SCHEMA.field(c)
            table = table.append_column(f, pa.repeat(pa.scalar(ADDED_STEP_COLUMNS[c], f.type), table.num_rows))
    return table.select([*columns, *(c for c in table.column_names if c not in columns)])


def _type_ok(actual: pa.DataType, target: pa.DataType) -> bool:
    """True if a column of type `actual` may be cast to the Step field type `target` without losing meaning."""
    t = pa.types
    if t.is_null(actual):
        return True  # an all-null column: reported as nulls by to_step_table
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
    """`values` (a Series, a ChunkedArray or a list) as one Arrow array; DreamGymError naming `name` if mixed."""
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

    Accepts a DataFrame, a pa.Table, a list of Step, or a list of dicts. A missing column of ADDED_STEP_COLUMNS
    is filled with its default (rows made before it existed). Raises DreamGymError naming the first other
    missing column, the first column of a wrong type, nulls (with their row positions), or an unknown `source`.
    """
    if isinstance(steps, pd.DataFrame):
        n, columns = len(steps), {c: steps[c] for c in steps.columns}
    elif isinstance(steps, pa.Table):
        n, columns = steps.num_rows, {c: steps.column(c) for c in steps.column_names}
    else:
        rows = list(steps)
        if rows and isinstance(rows[0], Step):
            if not all(isinstance(r, Step) for r in rows):
                raise DreamGymError("steps: a list mixing Step objects and other values")
            rows = [r.to_row() for r in rows]
        for i, r in enumerate(rows):
            if not isinstance(r, Mapping):
                raise DreamGymError(f"steps[{i}] is a {type(r).__name__}; expected a Step or a dict of Step fields")
            missing = [c for c in STEP_COLUMNS if c not in r and c not in ADDED_STEP_COLUMNS]
            if missing:
                raise DreamGymError(f"steps[{i}] has no column(s) {missing}; a Step row needs {list(STEP_COLUMNS)}")
        rows = [{**ADDED_STEP_COLUMNS, **r} for r in rows]
        n, columns = len(rows), {c: [r[c] for r in rows] for c in STEP_COLUMNS}
    columns = {**{c: [v] * n for c, v in ADDED_STEP_COLUMNS.items()}, **columns}  # rows made before they existed
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


def check_vectors(vectors: Any, n: int, dim: int) -> np.ndarray:
    """`vectors` as float32 of shape (n, dim); DreamGymError if the shape differs or a value is NaN or inf."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.shape != (n, dim):
        raise DreamGymError(f"vectors have shape {vectors.shape}; expected ({n}, {dim})")
    if not np.isfinite(vectors).all():
        raise DreamGymError("vectors hold NaN or inf")
    return vectors


def row_keys(table: pa.Table) -> list[str]:
    """Content key of each Step row of `table` (STEP_SCHEMA): blake2b-128 hex over its fields, in column order;
    a column of ADDED_STEP_COLUMNS counts (as name=value) only where it differs from its default, so a row has
    the key it had before that column existed."""
    cols = [table.column(c).to_pylist() for c in STEP_COLUMNS if c not in ADDED_STEP_COLUMNS]
    added = [(c, d, table.column(c).to_pylist()) for c, d in ADDED_STEP_COLUMNS.items()]
    keys = []
    for i, vals in enumerate(zip(*cols, strict=True)):
        parts = [*map(repr, vals), *(f"{c}={col[i]!r}" for c, d, col in added if col[i] != d)]
        keys.append(hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=16).hexdigest())
    return keys


def repeated_step_keys(table: pa.Table) -> list[tuple[str, int]]:
    """The (episode_id, t) pairs that occur more than once in `table`, sorted."""
    if table.num_rows == 0:
        return []
    g = table.select(["episode_id", "t"]).group_by(["episode_id", "t"]).aggregate([("t", "count")])
    g = g.filter(pc.greater(g.column("t_count"), 1))
    return sorted(zip(g.column("episode_id").to_pylist(), g.column("t").to_pylist(), strict=True))


def table_rows(chunk: pa.Table, vecs: np.ndarray, batch_id: str, dim: int) -> pa.Table:
    """The table rows of Step rows `chunk`: + row_key, batch_id and `vecs` (n, dim) L2-normalised as `vector`."""
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    vecs = vecs / np.where(norms > 0, norms, 1.0)
    vec_arr = pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1), type=pa.float32()), dim)
    data = chunk.append_column(ROW_KEY, pa.array(row_keys(chunk), type=pa.string()))
    data = data.append_column(BATCH_ID, pa.array([batch_id] * chunk.num_rows, type=pa.string()))
    return data.append_column(pa.field(VECTOR, pa.list_(pa.float32(), dim)), vec_arr)
