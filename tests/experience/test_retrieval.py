"""BufferRetriever on a real LanceDB table: train-split rows of one env only, the querying episode left out, and
`many` (one embedding batch) returning exactly what one call per query returns."""

from __future__ import annotations

from dreamgym.buffer import ReplayBuffer, make_embedder
from dreamgym.experience.examples import build_examples, retrieve_many
from dreamgym.experience.retrieval import RETRIEVED_COLUMNS, buffer_retriever


def _buffer(tmp_path, steps) -> ReplayBuffer:
    buf = ReplayBuffer(tmp_path / "db", "transitions", make_embedder("hashing", dim=64))
    buf.seed(steps)
    return buf


def test_retriever_filters_and_batches(tmp_path, babyai_rows, textcraft_rows):
    import pandas as pd

    steps = pd.concat([babyai_rows[0], textcraft_rows[0]], ignore_index=True)
    buf = _buffer(tmp_path, steps)
    retrieve = buffer_retriever(buf, "babyai", k=3)
    ba = babyai_rows[0]
    queries = [(str(r.state), str(r.action), str(r.episode_id), str(r.split)) for r in ba.head(12).itertuples()]
    batched = retrieve.many(queries)
    one_by_one = [retrieve(*q) for q in queries]
    assert [[r["episode_id"] + r["action"] for r in rs] for rs in batched] == \
        [[r["episode_id"] + r["action"] for r in rs] for rs in one_by_one]
    train_eps = set(ba.loc[ba["split"] == "train", "episode_id"])
    for (_, _, ep, _), rows in zip(queries, batched, strict=True):
        assert 0 < len(rows) <= 3
        assert all(r["episode_id"] != ep for r in rows), "the querying episode must be left out"
        assert all(r["episode_id"] in train_eps for r in rows), "only train-split babyai rows may be retrieved"
        assert set(RETRIEVED_COLUMNS) <= set(rows[0])
    assert retrieve_many(retrieve, queries, k=2) == [rs[:2] for rs in batched]
    assert retrieve_many(None, queries, k=2) == [[]] * len(queries)


def test_examples_use_the_batched_retriever(tmp_path, babyai_rows):
    steps, tasks = babyai_rows
    buf = _buffer(tmp_path, steps)
    retrieve = buffer_retriever(buf, "babyai", k=2)
    calls = []

    class Counting:
        def many(self, queries):
            calls.append(len(queries))
            return retrieve.many(queries)

    ex = build_examples(steps, tasks, env="babyai", retriever=Counting(), k=2, budget=4000)
    assert calls == [len(steps)], "one batched call for the whole example set"
    assert ex["prompt"].str.contains("<ref>").any()
