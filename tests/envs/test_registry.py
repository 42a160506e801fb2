"""The env registry, the spec an env package's layout makes (EnvSpec.from_package) and the TextEnv contract that
the base class enforces (pure logic, toy envs)."""

import sys
import textwrap

import pytest

from dreamgym.data.schema import Task
from dreamgym.envs import TextEnv, env_names, make_env, register_env
from dreamgym.envs.base import EnvNotResetError, EnvSpec, check_split
from dreamgym.envs.registry import get_spec
from dreamgym.envs.text import generic_abstraction, plain_task_context
from dreamgym.errors import DreamGymError, UnknownNameError


class Counter(TextEnv):
    """Reach `goal` by typing "inc"; anything else is invalid (registered as "toy-counter" for each test)."""

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


@pytest.fixture(autouse=True)
def _counter_registered():
    register_env("toy-counter")(Counter)  # the test-wide fixture drops it again after the test


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


# ---- EnvSpec.from_package: the spec from the package layout ----------------------------------------------------
LAYOUT = {
    "__init__.py": "",
    "env.py": """
        from dreamgym.envs.base import TextEnv

        class ToyEnv(TextEnv):
            pass
        """,
    "config.py": """
        from pydantic import BaseModel

        from dreamgym.envs.babyai.config import BabyAIEnvConfig  # imported, not defined here: not the config

        class Helper(BaseModel):
            pass

        class ToyEnvConfig(BaseModel):
            max_steps: int = 5
        """,
    "observation.py": """
        def task_context(instruction, first_observation=None):
            return "task: " + instruction
        """,
    "rules.py": """
        from dreamgym.envs.text import generic_annotate as annotate

        def augment(rng):
            return str.upper
        """,
}


@pytest.fixture
def toy_package(tmp_path, monkeypatch):
    """A package `toy_layout_pkg` with the env layout (its files: LAYOUT, overridable per test), on sys.path."""

    def make(**files: str) -> str:
        root = tmp_path / "toy_layout_pkg"
        root.mkdir()
        for name, text in {**LAYOUT, **files}.items():
            (root / name).write_text(textwrap.dedent(text))
        return "toy_layout_pkg"

    monkeypatch.syspath_prepend(str(tmp_path))
    yield make
    for name in [m for m in sys.modules if m.split(".")[0] == "toy_layout_pkg"]:
        del sys.modules[name]


def test_from_package_reads_the_layout_and_imports_the_env_on_use(toy_package):
    package = toy_package()
    spec = EnvSpec.from_package(package, "ToyEnv", "a toy")
    observation, rules = sys.modules[f"{package}.observation"], sys.modules[f"{package}.rules"]
    assert (spec.name, spec.env_class, spec.description) == ("toy_layout_pkg", "toy_layout_pkg.env:ToyEnv", "a toy")
    assert spec.config is sys.modules[f"{package}.config"].ToyEnvConfig
    assert spec.task_context is observation.task_context and spec.task_text("go") == "task: go"
    assert spec.annotate is rules.annotate and spec.augment is rules.augment
    defaults = EnvSpec("defaults", Counter)
    assert (spec.abstract, spec.actions, spec.determined) == (generic_abstraction, None, defaults.determined)
    assert f"{package}.env" not in sys.modules
    assert spec.resolve_class() is sys.modules[f"{package}.env"].ToyEnv


def test_from_package_overrides_replace_the_layout(toy_package):
    spec = EnvSpec.from_package(toy_package(), "ToyEnv", "a toy", name="toy2", task_context=plain_task_context)
    assert spec.name == "toy2" and spec.task_context is plain_task_context
    assert spec.env_class == "toy_layout_pkg.env:ToyEnv"


@pytest.mark.parametrize("config", [
    "from pydantic import BaseModel\n",
    "from pydantic import BaseModel\nclass AEnvConfig(BaseModel):\n    pass\nclass BEnvConfig(BaseModel):\n    pass\n",
])
def test_from_package_needs_exactly_one_env_config(toy_package, config):
    with pytest.raises(TypeError, match="toy_layout_pkg.config must define exactly one pydantic model"):
        EnvSpec.from_package(toy_package(**{"config.py": config}), "ToyEnv", "a toy")


@pytest.mark.parametrize("name", ["babyai", "textcraft", "textworld", "scienceworld"])
def test_builtin_specs_follow_the_layout(name):
    spec = get_spec(name)
    assert EnvSpec.from_package(f"dreamgym.envs.{name}", spec.env_class.rpartition(":")[2], spec.description) == spec
