"""Retrieval for the experience model: the replay buffer's nearest transitions, from training data only.

    retrieve = buffer_retriever(buf.checkout("seed-0a81ef055f31"), env="myenv", k=4)
    retrieve.many([spec.query(state, action, episode_id, task_id, split), ...])  -> one list per query

One query and one exclusion rule everywhere (SFT examples, synthesis, fidelity): the query is the abstract state
and the action (PromptSpec.query), and the buffer embeds its rows the same way (`state_key`); the search covers one env's rows of the `train` split and leaves out the
querying episode and every episode of the same task (other episodes of a task would show its answer). Only
the columns a prompt's reference shows are read. `many` embeds all queries in one batch before the per-query
index searches: building the examples of a seed set (thousands of queries) costs one embedding pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from dreamgym.experience.prompt import RetrievalQuery

if TYPE_CHECKING:  # the buffer (LanceDB) loads only when a retriever is built
    from dreamgym.buffer import ReplayBuffer

#: the columns a prompt's reference block shows (t and success: its done is relabelled like the targets')
RETRIEVED_COLUMNS = ["episode_id", "task_id", "t", "state", "action", "next_state", "reward", "done", "success",
                     "valid_action", "source"]

#: anything with `many(queries) -> [[row, ...], ...]`, or a callable query -> rows
Retriever = Callable[[RetrievalQuery], Sequence[dict[str, Any]]]


def state_key(state_budget: int) -> Callable[[str, str], str]:
    """The buffer's row key for retrieval, `key(env, state)`: the env's abstract state within `state_budget`, so
    stored rows are embedded like PromptSpec.query() embeds a query (ReplayBuffer's `state_key`)."""
    from dreamgym.envs.registry import get_spec

    def key(env: str, state: str) -> str:
        return get_spec(env).observe(state, state_budget)

    return key


def _quote(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def exclusion(query: RetrievalQuery, splits: Sequence[str] = ("train",)) -> str:
    """The Lance SQL filter of a query: rows of `splits`, not of the querying episode, not of the same task."""
    parts = [f"split IN ({', '.join(_quote(s) for s in splits)})"]
    if query.task_id:
        parts.append(f"task_id != {_quote(query.task_id)}")
    if query.episode_id:
        parts.append(f"episode_id != {_quote(query.episode_id)}")
    return " AND ".join(parts)


def retrieve_many(retriever: Retriever | None, queries: Sequence[RetrievalQuery], k: int) -> list[list[dict[str, Any]]]:
    """The first k results of `retriever` for each query: one call to its `many` method when it has one (one
    embedding batch), else one call each; no retriever or k = 0: empty lists."""
    if retriever is None or k <= 0:
        return [[] for _ in queries]
    many = getattr(retriever, "many", None)
    got = many(list(queries)) if callable(many) else [retriever(q) for q in queries]
    return [list(r)[:k] for r in got]


class BufferRetriever:
    """A Retriever over `buf` for `env`, restricted to `splits` (see the module docstring); `many` batches."""

    def __init__(self, buf: ReplayBuffer, env: str, k: int, splits: tuple[str, ...] = ("train",)):
        self.buf, self.env, self.k, self.splits = buf, env, int(k), tuple(splits)

    def __call__(self, query: RetrievalQuery) -> list[dict[str, Any]]:
        return self.many([query])[0]

    def many(self, queries: Sequence[RetrievalQuery]) -> list[list[dict[str, Any]]]:
        """Up to k transitions per query, best first (one embedding batch, then one index search per query)."""
        from dreamgym.buffer.embedders import transition_text

        if self.k <= 0 or not queries:
            return [[] for _ in queries]
        vecs = self.buf.embedder.embed([transition_text(q.state, q.action) for q in queries])
        return [self.buf.search_vector(v, self.k, env=self.env, where=exclusion(q, self.splits),
                                       columns=RETRIEVED_COLUMNS)
                for v, q in zip(vecs, queries, strict=True)]


def buffer_retriever(buf: ReplayBuffer, env: str, k: int, splits: tuple[str, ...] = ("train",)) -> BufferRetriever:
    """A Retriever over `buf` for `env`, restricted to `splits`."""
    return BufferRetriever(buf, env, k, splits)
