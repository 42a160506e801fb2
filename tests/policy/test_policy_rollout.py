"""The rollout engine against a synthetic env: lock-step episodes, one batched experience-model call per step,
episodes ending on predicted success or at the horizon, steps ready for the buffer."""

from __future__ import annotations

from dataclasses import dataclass

from polutil import tiny_agent

from dreamgym.config import ExperienceConfig
from dreamgym.data.schema import Task
from dreamgym.envs import get_spec
from dreamgym.experience.format import STOP, format_target
from dreamgym.experience.prompt import PromptSpec
from dreamgym.experience.synthetic import ExperienceModel, SyntheticEnv
from dreamgym.policy.rollout import rollout

TASKS = [Task(task_id=f"babyai/t{i}", env="babyai", instruction="go to the red ball", split="train") for i in range(3)]


@dataclass
class _Out:
    text: str


class ScriptedExperienceModel:
    """Stands in for the experience model's Generator (pure logic): from its second call on, the first prompt of
    each batched call is a success, the others a plain move; counts the batched calls."""

    def __init__(self):
        self.batches: list[int] = []
        self.stop_strings, self.max_new_tokens, self.batch_size, self.seed = (STOP,), 64, 8, 0
        self.model = self.tokenizer = None

    def generate(self, prompts):
        self.batches.append(len(prompts))
        won = len(self.batches) >= 2
        return [_Out(format_target("", True, "red ball 1: 1 ahead", 1.0 if (won and i == 0) else 0.0, won and i == 0))
                for i in range(len(prompts))]


def test_rollout_batches_a_synthetic_env_and_ends_episodes(rows, tmp_path):
    gen = ScriptedExperienceModel()
    spec = PromptSpec.from_config(ExperienceConfig(), get_spec("babyai"))
    xm = ExperienceModel(gen, spec, retry_generator=ScriptedExperienceModel(), version="xm-test")
    envs = [SyntheticEnv(xm, TASKS, initial_state=lambda t: "red ball 1: 2 ahead", max_steps=10) for _ in TASKS]
    agent = tiny_agent(rows, tmp_path, mode="generate", max_new_tokens=6)
    eps = rollout(agent, envs, TASKS, horizon=3, groups=[7, 7, 8])
    assert gen.batches == [3, 3, 2]  # one batched model call per lock step, finished episodes drop out
    assert [e.steps for e in eps] == [2, 3, 3] and [e.success for e in eps] == [True, True, False]
    assert [e.truncated for e in eps] == [False, False, True] and [e.group for e in eps] == [7, 7, 8]
    for e in eps:
        assert all(t.decision.malformed for t in e.turns)  # an untrained policy: garbage replies, still stepped
        rows_ = e.to_steps("policy-test", iteration=3, source="synthetic", model_version="xm-test")
        assert [r.t for r in rows_] == list(range(e.steps)) and all(r.source == "synthetic" for r in rows_)
    assert sum(len(env.drain_steps()) for env in envs) == sum(e.steps for e in eps)
