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

An environment is one package, `dreamgym/envs/<name>/`, registered once with an `EnvSpec`: the real env class,
its typed config, and everything else the project knows about it (its observation, admissible actions,
annotator, context rule, consistency check, augmentation). Code outside `dreamgym/envs/` reaches an env only
through its spec.

Package layout: an env package has the modules `env` (the real env class), `config` (one pydantic model named
`<Something>EnvConfig`), `observation` (`abstract`, `task_context`, `actions`), `rules` (`annotate`,
`determined`, `consistent`, `augment`) and, optionally, `tasks` (`task_from_text`, `task_variants`: the task grammar
the curriculum's generated tasks are checked against); a name a module leaves out takes the EnvSpec default. The layout makes the
spec, so the package's `__init__` registers it in one line (the env module is imported on first use only):

    SPEC = register_env(EnvSpec.from_package(__name__, "BabyAIEnv", "BabyAI grid-world levels as text"))
"""

from __future__ import annotations

import importlib
import importlib.util
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel

from dreamgym.data.schema import SPLITS, Task
from dreamgym.envs.text import (
    DEFAULT_STATE_BUDGET,
    check_budget,
    generic_abstraction,
    generic_annotate,
    plain_task_context,
    truncate,
)
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
    #: char budget of the observation handed to the policy and the experience model (see `observe`)
    observation_budget: int = DEFAULT_STATE_BUDGET

    def __init__(self, max_steps: int = 50):
        if max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1, got {max_steps}")
        self.max_steps = max_steps
        self.task: Task | None = None
        self.t = 0
        self.done = True
        #: the task block of the running episode (the spec's task_context of the instruction and first observation)
        self.task_text = ""

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
        first = self._reset(task)
        self.task_text = self._task_text(task, first)
        return first

    def _task_text(self, task: Task, first: str) -> str:
        """The task block of an episode that starts with observation `first` (the spec's task context)."""
        return self.spec.task_text(task.instruction, first)

    # ---- what the policy reads --------------------------------------------------------------------------------
    @property
    def spec(self) -> EnvSpec:
        """This env's registered EnvSpec (a generic one for an unregistered TextEnv subclass)."""
        from dreamgym.envs.registry import ENVS

        if self.name in ENVS.names():
            return ENVS.get(self.name)
        return EnvSpec(self.name, type(self))

    def observe(self, text: str) -> str:
        """The observation the policy and the experience model read for an env reply: its abstract state (the
        spec's, within `observation_budget`). A real env and a SyntheticEnv give the same text for the same
        situation, so a policy cannot tell them apart."""
        return self.spec.observe(text, self.observation_budget)

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

    def invalid_action(self, rng) -> str | None:
        """An action of the env's grammar that is not valid now (a `random.Random` drives the choice), so seed data
        can teach that an invalid action changes nothing and earns 0; None where the env offers none (the
        default; an env whose random actions are already often invalid needs none)."""
        return None

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


# ---- the spec: everything the project knows about one env ------------------------------------------------------
#: annotate(state, action, next_state, reward, done, valid_action, info=None) -> a short rationale
Annotator = Callable[..., str]
#: determined(context, state, action, next_state, valid) -> whether the real next state follows from the context;
#: context: the task block and the history window's states; every text abstract
ContextRule = Callable[[Sequence[str], str, str, str, bool], bool]
#: consistent(context, state, action, predicted_next_state, predicted_valid) -> whether a prediction contradicts
#: nothing the context shows (None: cannot judge); context as for a ContextRule
ConsistencyRule = Callable[[Sequence[str], str, str, str, bool], "bool | None"]
#: actions(task_text, state, env_kwargs, history) -> the admissible actions of an abstract state, or None (no list);
#: history: the episode's earlier abstract states, oldest first (what was seen may still be there)
ActionLister = Callable[[str, str, Mapping[str, Any], Sequence[str]], "list[str] | None"]
#: augment(rng) -> one consistent renaming text -> text (a symmetry of the dynamics)
Augmenter = Callable[[random.Random], Callable[[str], str]]


def _never(context: Sequence[str], state: str, action: str, next_state: str, valid: bool) -> bool:
    return False


#: task_from_text(parent, text) -> a new Task of the env's task grammar in the parent's world (same level and seed,
#: same game ...) for a generated instruction `text`, or the reason (a str) it is not one; its `split` is the split
#: the env's own rule puts it in (a task a held-out split holds must not be trained on)
TaskParser = Callable[[Task, str], "Task | str"]
#: task_variants(instruction, first_observation, rng, n) -> up to n instructions of other feasible tasks of the same
#: first observation's world, written by the env's rules from what that observation shows (task generation's SFT
#: targets: the experience model learns to write variants from them)
TaskVariants = Callable[[str, str, random.Random, int], list[str]]

#: an env package's modules and the spec fields each gives by name (see `EnvSpec.from_package`); a module of
#: OPTIONAL_MODULES may be absent
PACKAGE_FIELDS: dict[str, tuple[str, ...]] = {"observation": ("abstract", "task_context", "actions"),
                                              "rules": ("annotate", "annotators", "determined", "consistent",
                                                        "augment"),
                                              "tasks": ("task_from_text", "task_variants")}
OPTIONAL_MODULES = frozenset({"tasks"})


def config_model(module: ModuleType) -> type[BaseModel]:
    """The one pydantic model defined in `module` whose name ends in "EnvConfig" (an env package's typed config);
    a TypeError naming the module when it defines none or several."""
    found = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, BaseModel)
             and v.__module__ == module.__name__ and v.__name__.endswith("EnvConfig")]
    if len(found) != 1:
        names = ", ".join(sorted(c.__name__ for c in found)) or "none"
        raise TypeError(f"{module.__name__} must define exactly one pydantic model named '*EnvConfig'; found: {names}")
    return found[0]


@dataclass(frozen=True)
class EnvSpec:
    """One env behind one registration (`register_env(EnvSpec.from_package(...))` for an env package,
    `register_env(EnvSpec(...))` field by field); see the module docstring.

    Only `name` and `env_class` are required: a plug-in env gets the generic observation (whitespace squeezed,
    lines budgeted), no action list derived from states, the generic annotator and no context-determined
    transitions.
    """

    #: registry name (Task.env, params.yaml `envs.<name>`)
    name: str
    #: the real env: a TextEnv subclass, or "module:Class" imported on first use (third-party packages are heavy)
    env_class: type[TextEnv] | str
    #: the pydantic model of the env's kwargs (params.yaml `envs.<name>`); None: checked against the constructor
    config: type | None = None
    #: abstract(text, budget_chars) -> the abstract state, the observation policy and experience model read;
    #: idempotent, so raw and abstract input give the same text
    abstract: Callable[[str, int], str] = generic_abstraction
    #: task_context(instruction, first_observation) -> the task block: the instruction plus what the env shows
    #: once that the dynamics need all episode
    task_context: Callable[[str, str | None], str] = plain_task_context
    #: the admissible actions of an abstract state (what a synthetic env lists); None: derived from nothing
    actions: ActionLister | None = None
    #: the rule-based annotator: rationales of real transitions for the experience model's SFT targets
    annotate: Annotator = generic_annotate
    #: other annotators the env offers by name (experience.annotator: NAME), e.g. {"hindsight": ...}
    annotators: Mapping[str, Annotator] = field(default_factory=dict)
    #: which real transitions the context determines (only those can be predicted exactly)
    determined: ContextRule = _never
    #: whether a predicted transition contradicts nothing the context shows (None: no rule, the metric is NaN)
    consistent: ConsistencyRule | None = None
    #: a symmetry of the dynamics for SFT augmentation (None: no augmentation)
    augment: Augmenter | None = None
    #: the env's task grammar for generated tasks (None: the curriculum generates no tasks for this env)
    task_from_text: TaskParser | None = None
    #: the rules' variants of a task, the SFT targets of task generation (None: no task-generation examples)
    task_variants: TaskVariants | None = None
    #: one line for `dreamgym envs`
    description: str = ""

    @classmethod
    def from_package(cls, package: str, env_class: str, description: str, **overrides: Any) -> EnvSpec:
        """The spec of env package `package` (a dotted module name, e.g. `__name__` in its `__init__`) by the
        package layout: name = the package's last component; env_class = "<package>.env:<env_class>" (imported on
        first use); config = the one "*EnvConfig" pydantic model defined in `<package>.config` (a TypeError naming
        the module otherwise); abstract, task_context, actions = those names of `<package>.observation`, and
        annotate, annotators, determined, consistent, augment = those of `<package>.rules`, each where the module
        has it (else the EnvSpec default). `overrides` (any EnvSpec field, `name` included) replace what the layout
        gives."""
        fields: dict[str, Any] = {"name": package.rpartition(".")[2], "env_class": f"{package}.env:{env_class}",
                                  "config": config_model(importlib.import_module(f"{package}.config")),
                                  "description": description}
        for module, names in PACKAGE_FIELDS.items():
            if module in OPTIONAL_MODULES and importlib.util.find_spec(f"{package}.{module}") is None:
                continue
            defined = vars(importlib.import_module(f"{package}.{module}"))
            fields.update({n: defined[n] for n in names if n in defined})
        return cls(**{**fields, **overrides})

    def resolve_class(self) -> type[TextEnv]:
        """The real env's class (imported now when given as "module:Class")."""
        if isinstance(self.env_class, str):
            module, _, attr = self.env_class.partition(":")
            return getattr(importlib.import_module(module), attr)
        return self.env_class

    def make(self, **kwargs: Any) -> TextEnv:
        """The real env built with its config kwargs."""
        return self.resolve_class()(**kwargs)

    def observe(self, text: str, budget_chars: int = DEFAULT_STATE_BUDGET) -> str:
        """The abstract state of a raw (or already abstract) observation, at most `budget_chars` chars."""
        out = self.abstract(str(text), check_budget(budget_chars))
        return truncate(out, int(budget_chars))

    def task_text(self, instruction: str, first_observation: str | None = None) -> str:
        """The task block's text for `instruction` (see `task_context`)."""
        return self.task_context(str(instruction), first_observation)

    def admissible(self, task_text: str, state: str, env_kwargs: Mapping[str, Any] | None = None,
                   history: Sequence[str] = ()) -> list[str] | None:
        """The admissible actions of abstract `state` derived by the spec (after the episode's earlier states
        `history`, oldest first), or None where it derives none."""
        if self.actions is None:
            return None
        return self.actions(task_text, state, dict(env_kwargs or {}), tuple(history))
