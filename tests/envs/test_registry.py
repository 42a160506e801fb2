"""The env registry and the TextEnv contract that the base class enforces (pure logic, a toy env)."""

import pytest

from dreamgym.data.schema import Task
from dreamgym.envs import TextEnv, env_names, make_env, register_env
from dreamgym.envs.base import EnvNotResetError, check_split
from dreamgym.errors import DreamGymError, UnknownNameError


@register_env("toy-counter")
class Counter(TextEnv):
    """Reach `goal` by typing "inc"; anything else is invalid."""

    def __init__(self, max_steps: int = 5, goal: int = 3):
        super().__init__(max_steps)
        self.goal = goal

    def list_tasks(self, split, n=None, start=0):
        check_split(split)
        return [Task(f"toy-{split}-{i}", self.name, f"count to {self.goal}", split) for i in range(start, start + (n or 3))]

    def _reset(self, task):
        self.count = 0
        return "count=0"

    def _step(self, action):
        if action != "inc":
            return f"count={self.count} (invalid: {action!r})", False, False, self.count, {}
        self.count += 1
        return f"count={self.count}", self.count >= self.goal, True, self.count, {}

    def available_actions(self):
        return ["inc"]


def test_builtin_and_plugin_names():
    assert {"babyai", "textcraft", "textworld", "scienceworld", "toy-counter"} <= set(env_names())


def test_unknown_env_and_split_are_clear():
    with pytest.raises(UnknownNameError, match="unknown env 'atari'; available: babyai"):
        make_env("atari")
    with pytest.raises(UnknownNameError, match="unknown split 'dev'"):
        make_env("toy-counter").list_tasks("dev")


def test_outcome_reward_info_contract_and_step_limit():
    env = make_env("toy-counter", max_steps=5, goal=3)
    task = env.list_tasks("train", n=1)[0]
    with pytest.raises(EnvNotResetError):
        env.step("inc")
    env.reset(task)
    obs, r, done, info = env.step("dance")
    assert (r, done, info["valid_action"], info["success"]) == (0.0, False, False, False)
    env.step("inc")
    env.step("inc")
    obs, r, done, info = env.step("inc")
    assert (r, done, info["success"], info["score"], info["truncated"]) == (1.0, True, True, 3.0, False)
    env.reset(task)
    for _ in range(5):
        obs, r, done, info = env.step("nope")
    assert done and info["truncated"] and r == 0.0
    with pytest.raises(EnvNotResetError):
        env.step("inc")


def test_task_of_another_env_is_refused():
    env = make_env("toy-counter")
    with pytest.raises(DreamGymError, match="belongs to env 'babyai'"):
        env.reset(Task("x", "babyai", "go", "train"))
