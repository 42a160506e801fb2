"""Retrieval for the experience model: the replay buffer's nearest transitions, from training data only.

    retrieve = buffer_retriever(buf.checkout("seed-0a81ef055f31"), env="babyai", k=4)
    retrieve(state, action, exclude_episode, split)  -> up to k transitions, most similar first

The retriever searches one env's rows of the `train` split (so val/test examples never see their own or
each other's transitions), leaves out the querying episode, and reads only the columns a prompt shows.
"""

from __future__ import annotations

from typing import Any

from dreamgym.buffer import ReplayBuffer

#: the columns a prompt's reference block shows
RETRIEVED_COLUMNS = ["episode_id", "state", "action", "next_state", "reward", "done", "valid_action", "source"]


def buffer_retriever(buf: ReplayBuffer, env: str, k: int, splits: tuple[str, ...] = ("train",)):
    """A Retriever (see experience.synthetic) over `buf` for `env`, restricted to `splits`."""
    where = "split IN (" + ", ".join("'" + s.replace("'", "''") + "'" for s in splits) + ")"

    def retrieve(state: str, action: str, exclude_episode: str | None, split: str) -> list[dict[str, Any]]:
        if k <= 0:
            return []
        return buf.search(state, action, k=k, env=env, exclude_episode=exclude_episode, where=where,
                          columns=RETRIEVED_COLUMNS)

    return retrieve
