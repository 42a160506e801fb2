"""SFT examples from real rows (babyai and textcraft as data): determinism, splits, ablations, annotator forms,
budgets, retrieval queries, the context rule's inputs and truncation dones. Each env's own annotator and context
rule are tested in tests/envs/<name>/."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from dreamgym.envs import EnvSpec, get_spec
from dreamgym.errors import DreamGymError, UnknownNameError
from dreamgym.experience.annotators import register_annotator
from dreamgym.experience.examples import EXAMPLE_COLUMNS, build_examples, check_task_splits
from dreamgym.experience.format import Prediction, parse_target
from dreamgym.experience.prompt import PromptSpec, RetrievalQuery


def _spec(env: str | EnvSpec = "babyai", **kw) -> PromptSpec:
    args = dict(env=get_spec(env) if isinstance(env, str) else env, history_window=2, k=0, budget=3072,
                state_budget=600, with_reasoning=True, max_steps=None) | kw
    return PromptSpec(**args)


def _check_examples(ex: pd.DataFrame, steps: pd.DataFrame, spec: PromptSpec):
    assert list(ex.columns) == list(EXAMPLE_COLUMNS) and len(ex) == len(steps)
    assert (ex["prompt"].str.len() <= spec.budget).all()
    assert ex["prompt"].str.startswith("<task>").all() and ex["prompt"].str.endswith("</act>\n").all()
    for r in ex.itertuples():
        pred = parse_target(r.completion, require_reasoning=spec.with_reasoning)
        assert isinstance(pred, Prediction), (r.completion, pred)
        assert (pred.valid, pred.next_state, pred.reward, pred.done) == (r.valid, r.next_state, r.reward, r.done)
        assert pred.reasoning == r.reasoning
        assert r.next_state == spec.abstract(r.next_state) and r.state == spec.abstract(r.state)  # abstract states
    # val examples never share a task with train ones
    assert not set(ex.loc[ex["split"] == "train", "task_id"]) & set(ex.loc[ex["split"] == "val", "task_id"])
    assert set(ex["split"]) == {"train", "val"}


@pytest.mark.parametrize("env", ["babyai", "textcraft"])
def test_build_examples_on_real_rows(fast_rows, env):
    steps, tasks = fast_rows[env]
    spec = _spec(env)
    ex = build_examples(steps, tasks, spec)
    _check_examples(ex, steps, spec)
    assert ex.equals(build_examples(steps.sample(frac=1, random_state=1), tasks, spec))
    assert ex["reasoning"].str.len().gt(0).all() and ex["determined"].dtype == bool
    assert ex.loc[ex["t"] == 0, "prompt"].str.contains("<hist>").sum() == 0
    n_obs = ex.loc[ex["t"] >= 2, "prompt"].str.count("<obs>")  # 2 history steps + current (no refs) ...
    assert n_obs.le(3).all() and n_obs.eq(3).mean() > 0.9  # ... unless a long task block fills the budget
    instr = dict(zip(tasks["task_id"], tasks["instruction"], strict=True))
    firsts = steps[steps["t"] == 0].set_index("episode_id")
    for ep_id, ep in ex.groupby("episode_id"):
        blocks = set(ep["prompt"].str.split("</task>").str[0])
        assert len(blocks) == 1, "one task block per episode"
        first = firsts.loc[ep_id]  # the task block is the spec's task text of the first observation
        assert blocks.pop() == "<task>" + spec.task_text(instr[first["task_id"]], first["state"])


def test_ablations_and_annotator_forms(fast_rows):
    steps, tasks = fast_rows["textcraft"]

    def refuse(**kw):
        raise AssertionError("the annotator must not run without reasoning")

    bare_spec = _spec("textcraft", with_reasoning=False, history_window=0)
    bare = build_examples(steps, tasks, bare_spec, annotator=refuse)
    _check_examples(bare, steps, bare_spec)
    assert not bare["completion"].str.contains("<think>").any() and not bare["prompt"].str.contains("<hist>").any()
    assert (bare["reasoning"] == "").all()
    spec = _spec("textcraft", history_window=0)
    full = build_examples(steps, tasks, spec)
    assert full["prompt"].equals(bare["prompt"]) and full["completion"].str.startswith("<think>").all()
    assert build_examples(steps, tasks, spec, annotator="rule").equals(full)
    assert build_examples(steps, tasks, spec, annotator=spec.env.annotate).equals(full)  # None: the env's own
    calls = []

    def note(state, action, next_state, reward, done, valid_action, info=None):
        calls.append(info["instruction"])
        return f"{'ok' if valid_action else 'bad'} {action}"

    custom = build_examples(steps, tasks, spec, annotator=note)
    assert len(calls) == len(steps) and set(calls) <= set(tasks["instruction"])
    assert custom["reasoning"].tolist() == [f"{'ok' if v else 'bad'} {a}" for v, a in zip(custom["valid"],
                                                                                         custom["action"], strict=True)]
    register_annotator("test-examples-note")(note)
    assert build_examples(steps, tasks, spec, annotator="test-examples-note").equals(custom)  # a plug-in by name
    with pytest.raises(UnknownNameError, match="unknown annotator 'nope'"):
        build_examples(steps, tasks, spec, annotator="nope")

    class Many:  # an object with annotate_many is called once with every row (batched)
        def __call__(self, **kw):
            raise AssertionError("annotate_many is preferred")

        def annotate_many(self, rows):
            return [f"row {r['action']}" for r in rows]

    assert build_examples(steps, tasks, spec, annotator=Many())["reasoning"].tolist() == \
        [f"row {a}" for a in custom["action"]]
    small_spec = _spec("textcraft", budget=400, state_budget=120)
    _check_examples(build_examples(steps, tasks, small_spec), steps, small_spec)


def test_retrieval_queries_and_reference_budget(fast_rows):
    steps, tasks = fast_rows["babyai"]
    pool = steps[steps["split"] == "train"].to_dict("records")
    seen = []

    def retriever(query):  # a plain callable: called once per query
        seen.append(query)
        return [r for r in pool if r["task_id"] != query.task_id][:6]

    spec = _spec(k=2, budget=4000)
    ex = build_examples(steps, tasks, spec, retriever=retriever)
    _check_examples(ex, steps, spec)
    assert len(seen) == len(steps) and all(isinstance(q, RetrievalQuery) for q in seen)
    assert {(q.episode_id, q.task_id, q.split) for q in seen} == set(zip(ex["episode_id"], ex["task_id"], ex["split"],
                                                                         strict=True))
    assert all(q.state == spec.abstract(q.state) for q in seen), "queries are abstract states"
    assert sorted((q.state, q.action) for q in seen) == sorted(zip(ex["state"], ex["action"], strict=True))
    assert ex["prompt"].str.count("<ref>").eq(2).all()  # the first k of six
    tight_spec = _spec(k=2, budget=700)
    tight = build_examples(steps, tasks, tight_spec, retriever=retriever)
    _check_examples(tight, steps, tight_spec)
    assert tight["prompt"].str.count("<ref>").lt(2).any()  # references go first when the budget is tight
    seen.clear()
    none = build_examples(steps, tasks, _spec(k=0), retriever=retriever)
    assert not none["prompt"].str.contains("<ref>").any() and not seen  # k = 0: the retriever is not asked


def test_context_rule_gets_the_task_block_and_the_history_window(fast_rows):
    steps, tasks = fast_rows["babyai"]
    calls = []

    def rule(context, state, action, next_state, valid):
        calls.append((list(context), state, action, next_state, valid))
        return valid

    spec = _spec(env=dataclasses.replace(get_spec("babyai"), determined=rule))
    ex = build_examples(steps, tasks, spec)
    assert ex["determined"].tolist() == ex["valid"].tolist() and len(calls) == len(ex)
    for (context, state, action, next_state, valid), r in zip(calls, ex.itertuples(), strict=True):
        assert (state, action, next_state, valid) == (r.state, r.action, r.next_state, r.valid)
        assert len(context) == 1 + min(r.t, spec.history_window)
        assert r.prompt.startswith(f"<task>{context[0]}</task>")
        assert all(f"<obs>{s}</obs>" in r.prompt for s in context[1:])


def test_split_and_input_errors(fast_rows):
    steps, tasks = fast_rows["babyai"]
    spec = _spec()
    leak = steps.copy()
    val_task = leak.loc[leak["split"] == "val", "task_id"].iloc[0]
    leak.loc[leak.index[0], "task_id"] = val_task  # a train row on a val task
    with pytest.raises(DreamGymError, match=f"task '{val_task}' has steps in splits \\['train', 'val'\\]"):
        build_examples(leak, tasks, spec)
    wrong = tasks.copy()
    wrong.loc[wrong["task_id"] == val_task, "split"] = "train"
    with pytest.raises(DreamGymError, match="in split 'val' in the steps but 'train' in the task list"):
        check_task_splits(steps, wrong)
    with pytest.raises(DreamGymError, match="not in the task list"):
        build_examples(steps, tasks[tasks["task_id"] != val_task], spec)
    with pytest.raises(DreamGymError, match="no steps of env 'textcraft'"):
        build_examples(steps, tasks, _spec("textcraft"))
    with pytest.raises(DreamGymError, match=r"lack column\(s\) \['split'\]"):
        build_examples(steps.drop(columns="split"), tasks, spec)
    with pytest.raises(DreamGymError, match="tasks need columns task_id and instruction"):
        build_examples(steps, tasks.drop(columns="instruction"), spec)


def test_done_at_the_step_limit_is_truncation_not_a_target(fast_rows):
    steps, tasks = fast_rows["textcraft"]
    ep = steps[~steps["success"]].groupby("episode_id")["t"].max()
    assert len(ep), "the fixture needs a failed episode"
    ep_id, last_t = ep.index[0], int(ep.iloc[0])
    steps = steps.copy()
    steps.loc[(steps["episode_id"] == ep_id) & (steps["t"] == last_t), "done"] = True  # as if the limit ended it
    row = lambda ex: ex[(ex["episode_id"] == ep_id) & (ex["t"] == last_t)].iloc[0]  # noqa: E731
    plain = row(build_examples(steps, tasks, _spec("textcraft")))
    assert plain["done"] and "<done>1</done>" in plain["completion"]
    cut = row(build_examples(steps, tasks, _spec("textcraft", max_steps=last_t + 1)))
    assert not cut["done"] and "<done>0</done>" in cut["completion"]
    assert row(build_examples(steps, tasks, _spec("textcraft", max_steps=last_t + 5)))["done"]  # not at the limit
