"""Helpers of the babyai package tests (imported by name): real transitions played now on the real env."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

#: actions the random-invalid policy tries besides the listed ones (often not valid)
BLIND = ("move forward", "drop", "toggle", "pick up red ball 1", "go to blue key 1", "fly to the moon")


@dataclass(frozen=True)
class Transition:
    """One real step with what was listed before it: the state, its real action list, the action and its reply."""

    episode: str
    instruction: str
    state: str
    listed: tuple[str, ...]
    action: str
    next_state: str
    reward: float
    done: bool
    valid_action: bool
    info: dict


def policy(name: str, env, rng: random.Random) -> str:
    """The action of policy `name` now: "expert", "random" (from the valid list), "noisy" (expert, 30% random) or
    "blind" (half random, half from BLIND)."""
    if name == "expert" or (name == "noisy" and rng.random() >= 0.3):
        return env.expert_action() or env.random_action(rng)
    if name == "blind" and rng.random() < 0.5:
        return rng.choice(BLIND)
    return env.random_action(rng)


def play(env, tasks, policies=("expert", "random"), seed: int = 0) -> Iterator[Transition]:
    """Every transition of one episode per (task, policy), in order."""
    rng = random.Random(seed)
    for task in tasks:
        for name in policies:
            state, done = env.reset(task), False
            while not done:
                listed = tuple(env.available_actions())
                action = policy(name, env, rng)
                nxt, reward, done, info = env.step(action)
                yield Transition(f"{task.task_id}/{name}", task.instruction, state, listed, action, nxt, reward, done,
                                 bool(info["valid_action"]), info)
                state = nxt


def rows(make: Callable, n_tasks: int = 6, policies=("expert", "noisy", "blind"), **env_kwargs) -> list[Transition]:
    """The transitions of `n_tasks` train tasks under each policy (`make` builds the env: make_env)."""
    with make("babyai", max_steps=24, **env_kwargs) as env:
        return list(play(env, env.list_tasks("train", n=n_tasks), policies))
