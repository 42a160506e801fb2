"""Adding an env is one folder and one registration: a toy env registered here, inside the test, goes through
the whole library with no other edit: seed collection, SFT examples, a few steps of experience-model training,
and a score-mode policy rolled out in its SyntheticEnv (which lists actions exactly as the real env does)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from dreamgym.config import ExperienceConfig, PolicyConfig, SeedDataConfig
from dreamgym.data.io import steps_table
from dreamgym.data.schema import Task
from dreamgym.data.seed import collect_seed
from dreamgym.envs import EnvSpec, TextEnv, get_spec, make_env, register_env
from dreamgym.envs.base import check_split
from dreamgym.experience.examples import build_examples
from dreamgym.experience.prompt import PromptSpec
from dreamgym.experience.synthetic import SyntheticEnv
from dreamgym.experience.train import train_experience_model
from dreamgym.policy.bc import policy_texts
from dreamgym.policy.checkpoint import make_agent
from dreamgym.policy.rollout import rollout

NAME = "toy-dial"
_COUNT = re.compile(r"dial at (\d+)")


class DialEnv(TextEnv):
    """Turn a dial from 0 to `goal`: "up" adds one, "down" takes one away (not below 0), anything else is invalid.
    The reply is chatty ("Click. The dial is at 2 now."); the abstract state is "dial at 2"."""

    name = NAME

    def __init__(self, max_steps: int = 8, goal: int = 3):
        super().__init__(max_steps)
        self.goal, self.count = goal, 0

    def list_tasks(self, split, n=None, start=0):
        check_split(split)
        return [Task(f"{NAME}/{split}/{i}", NAME, f"turn the dial to {self.goal}", split)
                for i in range(start, start + (n if n is not None else 20))]

    def _reset(self, task):
        self.count = 0
        return "You face a dial. The dial is at 0 now."

    def _step(self, action):
        if action not in self.available_actions():
            return f"Nothing happens. The dial is at {self.count} now.", False, False, 0.0, {}
        self.count += 1 if action == "up" else -1
        return f"Click. The dial is at {self.count} now.", self.count >= self.goal, True, float(self.count), {}

    def available_actions(self):
        return dial_actions("", f"dial at {self.count}", {}) if not self.done else []

    def expert_action(self):
        return "up"


def dial_abstraction(text: str, budget: int) -> str:
    m = re.search(r"(?:dial is at|dial at) (\d+)", text)
    return f"dial at {m.group(1)}" if m else " ".join(text.split())[:budget]


def dial_actions(task_text: str, state: str, env_kwargs, history=()) -> list[str] | None:
    m = _COUNT.search(state)
    if m is None:
        return None
    return ["down", "up"] if int(m.group(1)) > 0 else ["up"]


def dial_annotate(state, action, next_state, reward, done, valid_action, info=None) -> str:
    return f"{'Valid' if valid_action else 'Invalid'} {action}: {next_state}; reward {reward:g}."


def dial_determined(context, state, action, next_state, valid) -> bool:
    m, n = _COUNT.search(state), _COUNT.search(next_state)
    if not (m and n):
        return False
    return int(n.group(1)) == int(m.group(1)) + {"up": 1, "down": -1}.get(action, 0) * bool(valid)


@pytest.fixture(scope="module")
def spec():
    return EnvSpec(NAME, DialEnv, abstract=dial_abstraction, actions=dial_actions, annotate=dial_annotate,
                   determined=dial_determined, description="a toy dial")


@pytest.fixture(autouse=True)
def _registered(spec):
    """The one registration, made for each test (the test-wide fixture drops plug-in envs after every test)."""
    assert register_env(spec) is spec


@pytest.fixture(scope="module")
def data(spec):
    register_env(spec)  # module fixtures come before the per-test registration
    cfg = SeedDataConfig(envs=[NAME], episodes={NAME: 24}, test_episodes={NAME: 4}, n_test_tasks=0,
                         episodes_per_task={NAME: 1})
    with make_env(NAME) as env:
        steps, tasks = collect_seed(env, 24, cfg, seed=0)
    return steps_table(steps).to_pandas(), pd.DataFrame([t.to_row() for t in tasks]), tasks


def test_one_registration_reaches_every_part(spec, data):
    assert get_spec(NAME) is spec and make_env(NAME).spec is spec
    steps, tasks_df, _ = data
    ex = build_examples(steps, tasks_df, PromptSpec(spec, history_window=1, k=0, budget=512, state_budget=64,
                                                    with_reasoning=True, max_steps=8))
    assert len(ex) == len(steps) and ex["prompt"].str.contains("<obs>dial at 0</obs>").any()
    assert ex["completion"].str.contains("<think>Valid up: dial at 1; reward 0.</think>").any()
    assert ex["determined"].all()  # the toy rule determines every transition
    assert not ex["state"].str.contains("Click").any()  # states are the spec's abstract states


def test_experience_model_trains_and_a_score_policy_plays_its_synthetic_env(spec, data, tmp_path):
    steps, tasks_df, tasks = data
    cfg = ExperienceConfig(model={"hidden_size": 32, "num_layers": 1, "num_heads": 2, "vocab_size": 300,
                                  "max_positions": 512},
                           sft={"max_steps": 30, "batch_size": 8, "max_length": 256, "eval_every": 0,
                                "eval_examples": 16, "logging_steps": 5, "learning_rate": 3e-3},
                           history_window=0, prompt_budget=512, state_budget=64, max_new_tokens=40,
                           eval_examples=16, open_loop_episodes=0)
    run = train_experience_model(steps, tasks_df, NAME, cfg, cache_dir=tmp_path / "cache",
                                 scratch_dir=tmp_path / "scratch", max_steps=8)
    assert run.sft.val_loss_after < run.sft.val_loss_before  # it learned
    first = {t.task_id: "You face a dial. The dial is at 0 now." for t in tasks}
    syn = SyntheticEnv(run.experience_model, tasks, initial_state=lambda t: first[t.task_id], max_steps=4)
    real = make_env(NAME, max_steps=4)
    texts = policy_texts(steps, tasks_df, real)
    pcfg = PolicyConfig(env=NAME, mode="score", model={"hidden_size": 32, "num_layers": 1, "num_heads": 2,
                                                       "vocab_size": 300, "max_positions": 256})
    agent = make_agent(pcfg, tmp_path / "cache", texts=texts)
    task = [t for t in tasks if t.split == "train"][0]
    for env in (real, syn):  # the same policy, unchanged, in both
        [ep] = rollout(agent, [env], [task], horizon=3)
        assert ep.steps >= 1
        assert ep.turns[0].observation == "dial at 0"
        assert ep.turns[0].decision.candidates == ["up"]  # the list the real env gives at 0
        assert all(t.decision.action in t.decision.candidates for t in ep.turns)
