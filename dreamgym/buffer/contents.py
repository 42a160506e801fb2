"""What one version of the buffer holds: row counts, the content digest, its rows, and seed verification.

Plain functions of a ReplayBuffer that only read the version it reads; ReplayBuffer binds them as its methods
(`buf.stats()`, `buf.digest()`, ...), and they can be called as `contents.stats(buf)` alike.

Simplifications: every summary scans the columns it needs (no cached counts); the digest sorts all row keys.

    s = buf.stats()                                # BufferStats: rows by env x source x iteration, index coverage
    info = buf.info()                              # SnapshotInfo: version, rows by source, digest
    problems = buf.verify_seed(real_steps_df)      # [] when the real rows are exactly those rows
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from dreamgym.buffer.query import where_clause
from dreamgym.buffer.schema import ROW_KEY, VECTOR, StepsLike, repeated_step_keys, row_keys, to_step_table
from dreamgym.data.schema import STEP_COLUMNS

if TYPE_CHECKING:
    from dreamgym.buffer.replay import ReplayBuffer


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


def fragment_count(buf: ReplayBuffer) -> int:
    """The number of Lance fragments (data files) of the version `buf` reads."""
    return int(buf._table.stats()["fragment_stats"]["num_fragments"])


def stats(buf: ReplayBuffer) -> BufferStats:
    """Rows by env x source x iteration, totals, index coverage and fragment count of this version."""
    t = buf._scan(["env", "source", "iteration"])
    g = t.group_by(["env", "source", "iteration"]).aggregate([("env", "count")]).to_pandas()
    g = g.rename(columns={"env_count": "rows"}).sort_values(["env", "source", "iteration"]).reset_index(drop=True)
    indexed = unindexed = 0
    for ix in buf._table.list_indices():
        if VECTOR in ix.columns:
            indexed, unindexed = int(ix.num_indexed_rows or 0), int(ix.num_unindexed_rows or 0)
    return BufferStats(rows=t.num_rows, version=buf.version, indexed_rows=indexed, unindexed_rows=unindexed,
                       fragments=fragment_count(buf),
                       by_source={str(k): int(v) for k, v in g.groupby("source")["rows"].sum().items()},
                       by_env={str(k): int(v) for k, v in g.groupby("env")["rows"].sum().items()},
                       table=g[["env", "source", "iteration", "rows"]])


def digest(buf: ReplayBuffer) -> str:
    """sha256 over the sorted content keys of this version's rows (see SnapshotInfo)."""
    keys = sorted(buf._scan([ROW_KEY]).column(ROW_KEY).to_pylist())
    h = hashlib.sha256()
    for k in keys:
        h.update(k.encode())
        h.update(b"\n")
    return h.hexdigest()


def steps_frame(buf: ReplayBuffer, source: str | None = None) -> pd.DataFrame:
    """Every row of this version (optionally of one source) as a DataFrame of the Step columns (e.g. to gate
    the table itself)."""
    return buf._scan(list(STEP_COLUMNS), where_clause(None, source, None, None)).to_pandas()


def duplicate_keys(buf: ReplayBuffer) -> list[tuple[str, int]]:
    """The (episode_id, t) pairs held by more than one row of this version (none in a healthy buffer)."""
    return repeated_step_keys(buf._scan(["episode_id", "t"]))


def verify_seed(buf: ReplayBuffer, steps: StepsLike) -> list[str]:
    """What is wrong with this version as the seed of `steps` (empty: nothing): its real rows must be
    exactly those rows (same count, same content keys) and no (episode_id, t) may repeat in the table."""
    table = to_step_table(steps)
    problems = []
    real = buf._scan([ROW_KEY], "source = 'real'").column(ROW_KEY).to_pylist()
    if len(real) != table.num_rows:
        problems.append(f"{len(real)} real rows, the data has {table.num_rows}")
    elif sorted(real) != sorted(row_keys(table)):
        problems.append("its real rows differ from the data's rows")
    dups = duplicate_keys(buf)
    if dups:
        problems.append(f"{len(dups)} (episode_id, t) key(s) held by several rows, e.g. {dups[:3]}")
    return problems


def info(buf: ReplayBuffer, tag: str | None = None) -> SnapshotInfo:
    """SnapshotInfo of the version this handle reads."""
    by_source = buf._scan(["source"]).group_by("source").aggregate([("source", "count")]).to_pylist()
    counts = {r["source"]: int(r["source_count"]) for r in by_source}
    return SnapshotInfo(uri=buf.uri, table=buf.table_name, version=buf.version, tag=tag,
                        rows=sum(counts.values()), rows_by_source=dict(sorted(counts.items())),
                        digest=digest(buf))
