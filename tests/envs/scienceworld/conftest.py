"""Fixtures of the ScienceWorld package tests: real transitions of the real env (one JVM), played once per session."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from dreamgym.envs.registry import make_env


@dataclass(frozen=True)
class Transition:
    """One real step with what was listed before it: the state, the real action list, the expert's action, the
    action taken and its reply."""

    episode: str
    instruction: str
    policy: str
    state: str
    listed: tuple[str, ...]
    expert: str | None
    action: str
    next_state: str
    reward: float
    done: bool
    valid_action: bool
    info: dict


@pytest.fixture(scope="session")
def sw_transitions() -> list[Transition]:
    """The gold path of the first val task of find-animal and chemistry-mix, then 8 random steps (and one invalid
    action) on the first (~25 s with the JVM's start)."""
    pytest.importorskip("scienceworld")
    out: list[Transition] = []
    rng = random.Random(0)
    with make_env("scienceworld", task_names=["find-animal", "chemistry-mix"]) as env:
        tasks = env.list_tasks("val", n=2)
        for task, policy, steps in ((tasks[0], "gold", 40), (tasks[1], "gold", 40), (tasks[0], "random", 9)):
            state = env.reset(task)
            for t in range(steps):
                listed, expert = tuple(env.available_actions()), env.expert_action()
                if policy == "gold" and expert is None:
                    break
                action = expert if policy == "gold" else ("fly to the moon" if t == 0 else rng.choice(listed))
                nxt, reward, done, info = env.step(action)
                out.append(Transition(f"{task.task_id}/{policy}", task.instruction, policy, state, listed, expert, action, nxt, reward, done,
                                      bool(info["valid_action"]), info))
                state = nxt
                if done:
                    break
    return out
