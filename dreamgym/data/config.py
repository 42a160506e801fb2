"""The seed_data section of params.yaml: which envs seed trajectories are collected from, how many, by which policies.

Simplifications: the collection policies are a fixed set (expert / noisy expert / random).
Use: `cfg.seed_data` (a SeedDataConfig) is what dreamgym.data.seed.collect_seed takes; `from dreamgym.config
import SeedDataConfig` also works.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from dreamgym.configbase import StrictConfig

PolicyName = Literal["expert", "noisy", "random"]


class SeedDataConfig(StrictConfig):
    envs: list[str] = Field(default_factory=lambda: ["babyai", "textcraft", "textworld", "scienceworld"],
                            description="envs to collect seed trajectories from")
    episodes: dict[str, int] = Field(default_factory=dict, description="episodes to collect per env")
    policy_mix: dict[PolicyName, float] = Field(
        default_factory=lambda: {"expert": 0.5, "noisy": 0.3, "random": 0.2},
        description="share of episodes per collection policy (expert / noisy expert / random)")
    noise_eps: float = Field(0.3, ge=0.0, le=1.0, description="noisy expert: probability of a random action")
    val_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="share of episodes run on val tasks (rest: train)")
    episodes_per_task: dict[str, int] = Field(
        default_factory=dict, description="per env: episodes run on each task (default 1; >1 replays a task with other policies)")
    n_test_tasks: int = Field(100, ge=0, description="held-out test tasks listed in tasks.parquet (no steps)")
    test_episodes: dict[str, int] = Field(default_factory=dict, description="per env: episodes collected on test tasks, for measurement only (e.g. the experience model's fidelity); default 0")
    invalid_rate: float = Field(0.0, ge=0.0, le=1.0, description="noisy and random episodes: per-step probability of an action the env names as not valid now (env.invalid_action), so models learn what an invalid action does")

    @field_validator("policy_mix")
    @classmethod
    def _mix_sums_to_one(cls, v: dict[str, float]) -> dict[str, float]:
        if any(x < 0 for x in v.values()) or abs(sum(v.values()) - 1.0) > 1e-6:
            raise ValueError(f"policy shares must be >= 0 and sum to 1, got {v}")
        return v

    @model_validator(mode="after")
    def _episodes_for_every_env(self):
        missing = [e for e in self.envs if e not in self.episodes]
        if missing:
            raise ValueError(f"seed_data.episodes has no count for env(s) {missing}; add e.g. `{missing[0]}: 100`")
        bad = {e: n for e, n in {**self.episodes, **self.episodes_per_task}.items() if n < 1}
        if bad:
            raise ValueError(f"seed_data.episodes and episodes_per_task must be >= 1, got {bad}")
        if any(n < 0 for n in self.test_episodes.values()):
            raise ValueError(f"seed_data.test_episodes must be >= 0, got {self.test_episodes}")
        return self

    def per_task(self, env: str) -> int:
        """Episodes run on each task of `env`."""
        return self.episodes_per_task.get(env, 1)
