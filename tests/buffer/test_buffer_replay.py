"""ReplayBuffer on real LanceDB tables in tmp dirs: seeding, retrieval and filters, sampling, stats,
snapshots, validation, the index and recall, retention."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from bufutil import toy_rows

from dreamgym.buffer import ReplayBuffer, transition_text
from dreamgym.config import BufferConfig
from dreamgym.errors import DreamGymError

WORDS = [f"w{i}" for i in range(40)]


def random_rows(n: int, seed: int, **kw) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = toy_rows(n, **kw)
    for r in rows:
        r["state"] = " ".join(rng.choice(WORDS, 8))
        r["action"] = " ".join(rng.choice(WORDS, 2))
    return rows


def brute_force(buf: ReplayBuffer, rows: list[dict], state: str, action: str, k: int) -> np.ndarray:
    """Top-k cosine similarities of the query against `rows`, computed with numpy."""
    vecs = buf.embedder.embed([transition_text(r["state"], r["action"]) for r in rows])
    q = buf.embedder.embed([transition_text(state, action)])[0]
    return np.sort(vecs @ q)[::-1][:k]


# -- seeding --------------------------------------------------------------------------------------------------------
def test_seed_real_rows_gives_exactly_their_count(make_buffer, real_steps):
    buf = make_buffer(batch_size=1024)
    assert buf.seed(real_steps) == len(real_steps)
    assert len(buf) == len(real_steps) > 1000
    s = buf.stats()
    assert s.by_source == {"real": len(real_steps)} and s.by_env == {"textcraft": len(real_steps)}
    with pytest.raises(DreamGymError, match="already holds .* real rows; pass replace=True"):
        buf.seed(real_steps)
    assert buf.seed(real_steps.head(100), replace=True) == 100 and len(buf) == 100
    synthetic = real_steps.head(3).assign(source="synthetic")
    with pytest.raises(DreamGymError, match="real rows only"):
        buf.seed(synthetic, replace=True)


# -- retrieval ------------------------------------------------------------------------------------------------------
def test_search_returns_true_nearest_neighbours(make_buffer):
    buf = make_buffer()
    rows = random_rows(200, seed=1)
    buf.add(rows)
    for qi in range(5):
        q = random_rows(1, seed=100 + qi)[0]
        got = buf.search(q["state"], q["action"], k=5)
        assert [r["similarity"] for r in got] == pytest.approx(list(brute_force(buf, rows, q["state"], q["action"], 5)),
                                                               abs=1e-5)
        assert set(got[0]) >= {"episode_id", "t", "state", "action", "next_state", "reward", "similarity"}
    exact = rows[17]
    top = buf.search(exact["state"], exact["action"], k=1)[0]
    assert (top["state"], top["action"], top["t"]) == (exact["state"], exact["action"], 17)
    assert top["similarity"] == pytest.approx(1.0, abs=1e-5)
    assert buf.search("x", "y", k=0) == []


def test_search_filters_env_source_episode(make_buffer):
    buf = make_buffer()
    keys = [(env, src, ep) for env in ("a", "b") for src in ("real", "synthetic") for ep in ("e0", "e1")]
    groups = {(env, src, ep): random_rows(30, seed=i, env=env, source=src, episode=ep)
              for i, (env, src, ep) in enumerate(keys)}
    all_rows = [r for g in groups.values() for r in g]
    buf.add(all_rows)
    q = groups[("a", "real", "e0")][3]
    got = buf.search(q["state"], q["action"], k=10, env="a", source="real", exclude_episode="e0")
    assert len(got) == 10
    assert all(r["env"] == "a" and r["source"] == "real" and r["episode_id"] != "e0" for r in got)
    allowed = groups[("a", "real", "e1")]
    assert [r["similarity"] for r in got] == pytest.approx(list(brute_force(buf, allowed, q["state"], q["action"], 10)),
                                                           abs=1e-5)
    assert {r["env"] for r in buf.search(q["state"], q["action"], k=50, env=["b"])} == {"b"}
    assert all(r["t"] < 5 for r in buf.search(q["state"], q["action"], k=50, where="t < 5"))
    unfiltered = buf.search(q["state"], q["action"], k=1)[0]
    assert unfiltered["episode_id"] == "e0" and unfiltered["similarity"] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(DreamGymError, match="source must be one of"):
        buf.search("s", "a", source="fake")


# -- sampling and stats ---------------------------------------------------------------------------------------------
def test_sample_uniform_reproducible_layout_independent(make_buffer):
    rows = random_rows(300, seed=3) + random_rows(100, seed=4, source="real", env="other", episode="r")
    a = make_buffer("a", batch_size=64)
    a.add(rows)
    b = make_buffer("b", batch_size=1000)
    b.add(list(reversed(rows)))  # same content, other order and commits
    s1, s2 = a.sample(50, seed=7), a.sample(50, seed=7)
    pd.testing.assert_frame_equal(s1, s2)
    pd.testing.assert_frame_equal(s1, b.sample(50, seed=7))
    assert not s1.equals(a.sample(50, seed=8))
    assert len(s1) == 50 and s1["row_key"].is_unique
    assert set(a.sample(500, seed=0, source="real")["env"]) == {"other"}
    assert len(a.sample(500, seed=0, source="real")) == 100  # fewer rows than asked: all of them
    assert len(a.sample(5, seed=0, env="nothing")) == 0


def test_stats_by_env_source_iteration(make_buffer):
    buf = make_buffer()
    buf.add(toy_rows(10, env="a", source="real", iteration=0))
    buf.add(toy_rows(7, env="a", source="synthetic", iteration=1) + toy_rows(5, env="b", iteration=2))
    s = buf.stats()
    assert s.rows == 22 and s.by_source == {"real": 10, "synthetic": 12} and s.by_env == {"a": 17, "b": 5}
    assert s.nested() == {"a": {"real": {0: 10}, "synthetic": {1: 7}}, "b": {"synthetic": {2: 5}}}
    assert list(s.table.columns) == ["env", "source", "iteration", "rows"]
    assert s.metrics()["buffer/rows/a/synthetic"] == 7 and s.metrics()["buffer/rows"] == 22


# -- snapshots ------------------------------------------------------------------------------------------------------
def test_snapshot_reads_old_rows_after_further_writes(make_buffer):
    buf = make_buffer()
    old = random_rows(100, seed=5, source="real")
    buf.add(old)
    info = buf.snapshot("iter-0")
    assert (info.tag, info.rows, info.rows_by_source, info.version) == ("iter-0", 100, {"real": 100}, buf.version)
    new = random_rows(50, seed=6, episode="new")
    buf.add(new)
    view = buf.checkout("iter-0")
    assert view.read_only and len(view) == 100 and len(buf) == 150
    assert view.stats().by_source == {"real": 100}
    assert set(view.sample(1000, seed=0)["episode_id"]) == {"ep"}
    q = new[0]
    assert buf.search(q["state"], q["action"], k=1)[0]["episode_id"] == "new"
    assert all(r["episode_id"] == "ep" for r in view.search(q["state"], q["action"], k=20))
    assert view.info().digest == info.digest != buf.info().digest
    assert len(buf.checkout(info.version)) == 100
    with pytest.raises(DreamGymError, match="read-only view"):
        view.add(new)
    with pytest.raises(DreamGymError, match="already pins"):
        buf.snapshot("iter-0")
    with pytest.raises(DreamGymError, match="no snapshot tag 'nope'"):
        buf.checkout("nope")
    assert buf.tags() == {"iter-0": info.version}
    assert [v["tags"] for v in buf.versions() if v["version"] == info.version] == [["iter-0"]]


def test_digest_stable_for_identical_content(make_buffer):
    rows = random_rows(120, seed=9)
    a, b = make_buffer("a", batch_size=16), make_buffer("b", batch_size=500)
    a.add(rows)
    b.add(rows[60:])
    b.add(rows[:60])
    assert a.snapshot("x").digest == b.snapshot("x").digest
    b.add(rows[:1])
    assert b.info().digest != a.info().digest


# -- validation -----------------------------------------------------------------------------------------------------
def _tail(df: pd.DataFrame, column: str, values) -> pd.DataFrame:
    """df with `column` replaced from row 150 on (the last batches): validation must still run first."""
    col = list(df[column].astype(object))
    col[150:] = values if isinstance(values, list) else [values] * (len(df) - 150)
    return df.assign(**{column: pd.Series(col, dtype=object)})


@pytest.mark.parametrize("mutate, message", [
    (lambda df: df.drop(columns=["reward"]), r"missing column\(s\) \['reward'\]"),
    (lambda df: _tail(df, "t", "3"), "column 't': values of mixed|column 't' has type"),
    (lambda df: df.assign(t=df["t"].astype(str)), "column 't' has type (large_)?string; expected int64"),
    (lambda df: df.assign(t=df["t"] + 0.5), "column 't' has type double"),
    (lambda df: df.assign(reward=["high"] * len(df)), "column 'reward' has type"),
    (lambda df: df.assign(done=df["done"].astype(int)), "column 'done' has type int64"),
    (lambda df: _tail(df, "state", [None] + ["s"] * 49), r"column 'state' has 1 null value\(s\), first at row\(s\) \[150\]"),
    (lambda df: _tail(df, "source", "fake"), r"column 'source' holds \['fake'\]"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(make_buffer, mutate, message):
    buf = make_buffer(batch_size=16)
    buf.add(toy_rows(5))
    before = (buf.version, len(buf))
    with pytest.raises(DreamGymError, match=message):
        buf.add(mutate(pd.DataFrame(toy_rows(200))))
    assert (buf.version, len(buf)) == before


def test_bad_list_inputs_and_vectors(make_buffer):
    buf = make_buffer()
    rows = toy_rows(3)
    del rows[2]["action"]
    with pytest.raises(DreamGymError, match=r"steps\[2\] has no column\(s\) \['action'\]"):
        buf.add(rows)
    with pytest.raises(DreamGymError, match="expected a Step or a dict"):
        buf.add(["not a step"])
    with pytest.raises(DreamGymError, match="vectors have shape"):
        buf.add(toy_rows(3), vectors=np.zeros((2, 64)))
    assert len(buf) == 0 and buf.version == 1


def test_from_config_and_embedder_mismatch(tmp_path):
    cfg = BufferConfig(uri="buf", table="tr", embedder="hashing", embedder_kwargs={"dim": 32}, batch_size=8)
    buf = ReplayBuffer.from_config(cfg, root=tmp_path)
    buf.add(toy_rows(20))
    assert (tmp_path / "buf" / "tr.lance").is_dir() and buf.batch_size == 8 and len(buf) == 20
    with pytest.raises(DreamGymError, match="holds hashing\\(dim=32,ngrams=2\\) vectors"):
        ReplayBuffer.from_config(cfg.model_copy(update={"embedder_kwargs": {"dim": 64}}), root=tmp_path)


# -- index ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("index_type, extra", [("ivf_pq", {"num_sub_vectors": 8, "refine_factor": 10}),
                                               ("ivf_hnsw_sq", {"refine_factor": None})])
def test_index_built_past_threshold_and_recall_reported(make_buffer, capsys, index_type, extra):
    buf = make_buffer(batch_size=256, threshold_rows=700, num_partitions=8, nprobes=8, type=index_type, **extra)
    first, more = random_rows(600, seed=11), random_rows(200, seed=12, episode="more", source="real")
    buf.add(first)
    assert not buf.indexed  # below the threshold: flat search
    buf.add(more)
    assert buf.indexed and buf.stats().indexed_rows == 800
    kinds = {ix.columns[0]: ix.index_type for ix in buf._table.list_indices()}
    assert kinds == {"vector": {"ivf_pq": "IvfPq", "ivf_hnsw_sq": "IvfHnswSq"}[index_type],
                     "env": "Bitmap", "source": "Bitmap", "episode_id": "BTree"}
    queries = [(r["state"], r["action"]) for r in random_rows(20, seed=13)]
    recall = buf.recall_at_k(queries, k=10)
    with capsys.disabled():
        print(f"\n[buffer] {index_type} recall@10 = {recall:.3f} (800 rows, 8 partitions, nprobes 8, {extra})")
    assert recall >= 0.9
    q = random_rows(1, seed=14, episode="more")[0]
    # filters answered by the scalar indices keep exactly the rows a flat scan keeps
    for flt, n_match in (({"source": "real"}, 200), ({"exclude_episode": "more"}, 600), ({"env": ["toy"]}, 800),
                         ({"source": "synthetic", "exclude_episode": "ep"}, 0)):
        want = {r["row_key"] for r in buf.search(q["state"], q["action"], k=1000, exact=True, **flt)}
        got = {r["row_key"] for r in buf.search(q["state"], q["action"], k=10, **flt)}
        assert len(want) == n_match and got <= want and len(got) == min(10, n_match)
    with pytest.raises(DreamGymError, match="needs >= 256 rows"):
        make_buffer("tiny").build_index()


def test_search_columns_threads_and_running_event_loop(make_buffer):
    """The query path works from any thread, inside a running asyncio loop (sync fallback), and returns only
    the asked-for columns."""
    import asyncio
    import threading

    buf = make_buffer()
    rows = random_rows(100, seed=21)
    buf.add(rows)
    q = rows[7]
    base = buf.search(q["state"], q["action"], k=5)

    async def inside_loop():
        return buf.search(q["state"], q["action"], k=5)

    assert asyncio.run(inside_loop()) == base
    got: list = []
    th = threading.Thread(target=lambda: got.append(buf.search(q["state"], q["action"], k=5)))
    th.start()
    th.join()
    assert got == [base]
    slim = buf.search(q["state"], q["action"], k=3, columns=["state", "row_key"])
    assert [set(r) for r in slim] == [{"state", "row_key", "similarity"}] * 3
    assert [r["row_key"] for r in slim] == [r["row_key"] for r in base[:3]]
    with pytest.raises(DreamGymError, match="unknown result column"):
        buf.search(q["state"], q["action"], columns=["vector"])


def test_handle_without_read_consistency_sees_its_own_writes(tmp_path, hashing):
    buf = ReplayBuffer(tmp_path / "db", "t", hashing, read_consistency_interval=None)
    buf.add(random_rows(50, seed=31))
    q = random_rows(1, seed=32, episode="late")[0]
    assert buf.search(q["state"], q["action"], k=1)[0]["episode_id"] == "ep"
    buf.add([q])
    assert buf.search(q["state"], q["action"], k=1)[0]["episode_id"] == "late"


# -- retention ------------------------------------------------------------------------------------------------------
def test_retention_prunes_untagged_versions_keeps_snapshots(make_buffer):
    buf = make_buffer(batch_size=10, keep_versions=2)
    for i in range(5):
        buf.add(toy_rows(10, episode=f"e{i}"))
        time.sleep(0.15)  # Lance prunes by commit time: leave gaps between commits
    tagged = buf.snapshot("keep")
    for i in range(3):
        buf.add(toy_rows(10, episode=f"f{i}"))
        time.sleep(0.15)
    first_versions = [v["version"] for v in buf.versions()]
    report = buf.apply_retention()
    left = [v["version"] for v in buf.versions()]
    assert report.pruned >= 5 and report.fragments_before == 8 and report.fragments_after == 1
    assert min(left) == tagged.version and all(v not in left for v in first_versions if v < tagged.version)
    assert buf.checkout("keep").info().digest == tagged.digest  # the snapshot stays readable
    with pytest.raises(DreamGymError, match="not retained"):
        buf.checkout(first_versions[1])
    buf.delete_snapshot("keep")
    time.sleep(0.15)
    buf.add(toy_rows(10, episode="g"))
    time.sleep(0.15)
    buf.add(toy_rows(10, episode="h"))
    buf.apply_retention()
    assert len(buf.versions()) <= 2 + 2 and len(buf) == 100  # keep_versions + the compaction commits


def test_add_compacts_every_n_batches(make_buffer):
    buf = make_buffer(batch_size=5, compact_every=4)
    buf.add(toy_rows(50))  # 10 batches: compaction after the 4th and 8th
    s = buf.stats()
    assert s.rows == 50 and s.fragments <= 3


def test_atomic_add_delete_where_and_copy_from(make_buffer, tmp_path, hashing):
    """add(atomic=True) is one commit whatever batch_size; delete_where drops a killed iteration's rows in one
    commit; copy_from fills an empty buffer with another's rows and vectors, and refuses a non-empty one."""
    buf = make_buffer(batch_size=4)
    v0 = buf.version
    assert buf.add(toy_rows(10, episode="a", iteration=1), atomic=True) == 10 and buf.version == v0 + 1
    buf.snapshot("iter-1")
    buf.add(toy_rows(6, episode="b", iteration=2), atomic=True)
    assert buf.delete_where("source = 'synthetic' AND iteration > 1") == 6 and len(buf) == 10
    assert buf.delete_where("iteration > 1") == 0
    other = ReplayBuffer(tmp_path / "other", "transitions", hashing)
    assert other.copy_from(buf.checkout("iter-1")) == 10 and buf.digest() == other.digest()
    got = other.search("state 3", "act 3", k=1)[0]
    assert got["state"] == "state 3" and got["episode_id"] == "a"  # the vectors came along
    with pytest.raises(DreamGymError, match="not empty"):
        other.copy_from(buf)


def test_add_embeds_each_distinct_transition_once(make_buffer, monkeypatch):
    buf = make_buffer(batch_size=64)
    # a loop's group of episodes repeats its states and actions: 3 episodes of the same 10 transitions
    rows = [dict(r, t=i % 10, episode_id=f"ep{i // 10}") for i, r in enumerate(random_rows(10, seed=3) * 3)]
    seen: list[list[str]] = []
    embed = buf.embedder.embed
    monkeypatch.setattr(buf.embedder, "embed", lambda texts: seen.append(list(texts)) or embed(texts))
    assert buf.add(rows, atomic=True) == 30
    assert len(seen) == 1 and len(seen[0]) == len(set(seen[0])) == 10
    assert seen[0] == [transition_text(r["state"], r["action"]) for r in rows[:10]]  # first occurrences, in order
    for r in rows[:10]:  # every copy holds its own text's vector: found at similarity 1 by its own text
        got = buf.search(r["state"], r["action"], k=3)
        assert sorted(g["episode_id"] for g in got) == ["ep0", "ep1", "ep2"] and all(g["t"] == r["t"] for g in got)
        assert [g["similarity"] for g in got] == pytest.approx([1.0] * 3, abs=1e-5)
