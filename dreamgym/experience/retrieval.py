"""Retrieval for the experience model: the replay buffer's nearest transitions, from training data only.

    retrieve = buffer_retriever(buf.checkout("seed-0a81ef055f31"), env="babyai", k=4)
    retrieve(state, action, exclude_episode, split)  -> up to k transitions, most similar first
    retrieve.many([(state, action, exclude_episode, split), ...])  -> one list per query (one embedding batch)

The retriever searches one env's rows of the `train` split (so val/test examples never see their own or
each other's transitions), leaves out the querying episode, and reads only the columns a prompt shows.
`many` embeds all queries in one batch before the per-query index searches: building the examples of a seed
set (thousands of queries) costs one embedding pass instead of thousands of single-text ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dreamgym.buffer import ReplayBuffer
from dreamgym.buffer.embedders import transition_text

#: the columns a prompt's reference block shows
RETRIEVED_COLUMNS = ["episode_id", "state", "action", "next_state", "reward", "done", "valid_action", "source"]

#: (state, action, exclude_episode, split): one retrieval query
RetrievalQuery = tuple[str, str, str | None, str]


class BufferRetriever:
    """A Retriever (see experience.synthetic) over `buf` for `env`, restricted to `splits`; `many` batches."""

    def __init__(self, buf: ReplayBuffer, env: str, k: int, splits: tuple[str, ...] = ("train",)):
        self.buf, self.env, self.k = buf, env, int(k)
        self.where = "split IN (" + ", ".join("'" + s.replace("'", "''") + "'" for s in splits) + ")"

    def __call__(self, state: str, action: str, exclude_episode: str | None, split: str) -> list[dict[str, Any]]:
        return self.many([(state, action, exclude_episode, split)])[0]

    def many(self, queries: Sequence[RetrievalQuery]) -> list[list[dict[str, Any]]]:
        """Up to k transitions per query, best first (one embedding batch, then one index search per query)."""
        if self.k <= 0 or not queries:
            return [[] for _ in queries]
        vecs = self.buf.embedder.embed([transition_text(s, a) for s, a, _, _ in queries])
        return [self.buf.search_vector(v, self.k, env=self.env, exclude_episode=ep, where=self.where,
                                       columns=RETRIEVED_COLUMNS)
                for v, (_, _, ep, _) in zip(vecs, queries, strict=True)]


def buffer_retriever(buf: ReplayBuffer, env: str, k: int, splits: tuple[str, ...] = ("train",)) -> BufferRetriever:
    """A Retriever (see experience.synthetic) over `buf` for `env`, restricted to `splits`."""
    return BufferRetriever(buf, env, k, splits)

