"""The one interface every environment speaks, real or synthetic.

    env = make_env("babyai", max_steps=64)
    task = env.list_tasks("val", n=1)[0]
    obs = env.reset(task)                      # deterministic: the task carries its seed
    obs, reward, done, info = env.step("move forward")

Conventions (DESIGN.md "Environment conventions"):
- reward is outcome-only: 1.0 on the step that completes the task, else 0.0; the env's own score stays in
  `info["score"]`.
- `info` always has `valid_action` (bool), `success` (bool), `score` (float), `truncated` (bool).
- an invalid action is an observation (valid_action=False, reward 0), never an exception.
- every env imposes `max_steps`; reaching it ends the episode with `truncated=True`.
- `expert_action()` is the env's oracle for the *current* state (it replans after off-policy actions where
  the env allows it), used to collect seed trajectories.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, NamedTuple

from dreamgym.data.schema import SPLITS, Task
from dreamgym.errors import ConfigError, DreamGymError, UnknownNameError


class StepResult(NamedTuple):
    observation: str
    reward: float
    done: bool
    info: dict[str, Any]


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise UnknownNameError(f"unknown split '{split}'; choose one of: {', '.join(SPLITS)}")
    return split


class EnvNotResetError(DreamGymError, RuntimeError):
    """step() or expert_action() before reset(), or after the episode ended."""


class TextEnv(ABC):
    """Base class of all environments. Subclasses implement the `_`-prefixed hooks; this class keeps the
    step counter, the step limit, outcome-only reward and the info contract in one place."""

    name: ClassVar[str] = "base"
    #: whether `available_actions()` returns the env's list of valid actions
    has_action_list: ClassVar[bool] = True

    def __init__(self, max_steps: int = 50):
        if max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1, got {max_steps}")
        self.max_steps = max_steps
        self.task: Task | None = None
        self.t = 0
        self.done = True

    # ---- task listing -------------------------------------------------------------------------------
    @abstractmethod
    def list_tasks(self, split: str, n: int | None = None, start: int = 0) -> list[Task]:
        """Tasks of `split` (train/val/test), deterministically ordered; `n` from index `start`."""

    # ---- episode ------------------------------------------------------------------------------------
    def reset(self, task: Task) -> str:
        if task.env != self.name:
            raise DreamGymError(f"task '{task.task_id}' belongs to env '{task.env}', not '{self.name}'")
        self.task = task
        self.t = 0
        self.done = False
        return self._reset(task)

    def step(self, action: str) -> StepResult:
        if self.task is None or self.done:
            raise EnvNotResetError(f"{self.name}: call reset(task) before step() (episode over or not started)")
        action = (action or "").strip()
        obs, success, valid, score, extra = self._step(action)
        self.t += 1
        truncated = not success and self.t >= self.max_steps
        done = bool(success or truncated or extra.pop("terminal", False))
        self.done = done
        info = {"valid_action": bool(valid), "success": bool(success), "score": float(score),
                "truncated": bool(truncated), **extra}
        return StepResult(obs, 1.0 if success else 0.0, done, info)

    @abstractmethod
    def _reset(self, task: Task) -> str:
        """Reset the underlying env to `task`; return the first observation."""

    @abstractmethod
    def _step(self, action: str) -> tuple[str, bool, bool, float, dict[str, Any]]:
        """Apply `action`: return (observation, success, valid_action, env_score, extra_info).
        Put `terminal=True` in extra_info if the env ended the episode without success (e.g. the agent died)."""

    def available_actions(self) -> list[str] | None:
        """The valid actions in the current state, or None where the env has no list."""
        return None

    def accepts(self, task: Task) -> bool:
        """Whether `task` is one of this env's configuration (e.g. a BabyAI level it was built with); tasks of other
        configurations may still reset. Used to pick matching demonstrations."""
        return task.env == self.name

    def random_action(self, rng) -> str:
        """A uniformly random action (a `random.Random` drives it); from the valid list where there is one."""
        acts = self.available_actions()
        if not acts:
            raise NotImplementedError(f"{self.name}: no action list; override random_action()")
        return rng.choice(acts)

    def expert_action(self) -> str | None:
        """The oracle's next action for the current state, or None if it has none."""
        return None

    def close(self) -> None:
        """Release external resources (JVM, game files). Safe to call twice."""
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
