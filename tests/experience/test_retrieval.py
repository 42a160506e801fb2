"""BufferRetriever on a real LanceDB table: one query (abstract state, action) and one exclusion rule (train rows
of one env, not the querying episode, not its task) in training and synthesis; `many` (one embedding batch)
returns exactly what one call per query returns."""

from __future__ import annotations

import pandas as pd

from dreamgym.buffer import ReplayBuffer, make_embedder
from dreamgym.envs import get_spec
from dreamgym.experience.examples import build_examples
from dreamgym.experience.prompt import PromptSpec
from dreamgym.experience.retrieval import RETRIEVED_COLUMNS, buffer_retriever, exclusion, retrieve_many


def _buffer(tmp_path, steps) -> ReplayBuffer:
    buf = ReplayBuffer(tmp_path / "db", "transitions", make_embedder("hashing", dim=64))
    buf.seed(steps)
    return buf


def _spec(k: int, budget: int = 4000) -> PromptSpec:
    return PromptSpec(get_spec("babyai"), history_window=0, k=k, budget=budget, state_budget=600,
                      with_reasoning=True, max_steps=64)


def test_exclusion_rule_is_one_sql_filter():
    spec = _spec(2)
    q = spec.query("x", "move forward", "ep'1", "task-1", "val")
    assert exclusion(q) == "split IN ('train') AND task_id != 'task-1' AND episode_id != 'ep''1'"
    assert q.state == spec.abstract("x")


def test_retriever_filters_and_batches(tmp_path, babyai_rows, textcraft_rows):
    steps = pd.concat([babyai_rows[0], textcraft_rows[0]], ignore_index=True)
    buf = _buffer(tmp_path, steps)
    retrieve = buffer_retriever(buf, "babyai", k=3)
    ba = babyai_rows[0]
    spec = _spec(3)
    queries = [spec.query(str(r.state), str(r.action), str(r.episode_id), str(r.task_id), str(r.split))
               for r in ba.head(12).itertuples()]
    batched = retrieve.many(queries)
    one_by_one = [retrieve(q) for q in queries]
    assert [[r["episode_id"] + r["action"] for r in rs] for rs in batched] == \
        [[r["episode_id"] + r["action"] for r in rs] for rs in one_by_one]
    train_eps = set(ba.loc[ba["split"] == "train", "episode_id"])
    for q, rows in zip(queries, batched, strict=True):
        assert len(rows) <= 3
        assert all(r["episode_id"] != q.episode_id for r in rows), "the querying episode must be left out"
        assert all(r["task_id"] != q.task_id for r in rows), "episodes of the same task must be left out"
        assert all(r["episode_id"] in train_eps for r in rows), "only train-split babyai rows may be retrieved"
        assert not rows or set(RETRIEVED_COLUMNS) <= set(rows[0])
    assert any(batched)
    assert retrieve_many(retrieve, queries, k=2) == [rs[:2] for rs in batched]
    assert retrieve_many(None, queries, k=2) == [[]] * len(queries)


def test_examples_use_the_batched_retriever_with_abstract_queries(tmp_path, babyai_rows):
    steps, tasks = babyai_rows
    buf = _buffer(tmp_path, steps)
    retrieve = buffer_retriever(buf, "babyai", k=2)
    calls = []

    class Counting:
        def many(self, queries):
            calls.append(list(queries))
            return retrieve.many(queries)

    spec = _spec(2)
    ex = build_examples(steps, tasks, spec, retriever=Counting())
    assert [len(c) for c in calls] == [len(steps)], "one batched call for the whole example set"
    assert all(q.state == spec.abstract(q.state) for q in calls[0]), "queries are abstract states"
    assert ex["prompt"].str.contains("<ref>").any()
    none = build_examples(steps, tasks, _spec(0), retriever=Counting())
    assert not none["prompt"].str.contains("<ref>").any() and len(calls) == 1
