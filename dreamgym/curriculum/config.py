"""The curriculum section of params.yaml: which tasks the DreamGym loop practises, and the tasks it writes.

Simplifications: variants are written for the highest-variance tasks of each iteration only; generated tasks are
drawn uniformly within their capped share of a batch.
Use: `cfg.curriculum` (a CurriculumConfig); `from dreamgym.config import CurriculumConfig` also works.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dreamgym.configbase import StrictConfig


class CurriculumConfig(StrictConfig):
    task_generation: bool = Field(True, description="the experience model writes variants of high-variance tasks into the pool (False: the 'w/o task generation' ablation, the pool stays the seed tasks)")
    max_generated_share: float = Field(0.5, ge=0, le=1, description="lambda: the largest share of an iteration's batch drawn from generated tasks")
    top_tasks: int = Field(4, ge=1, description="tasks of an iteration, by reward variance, whose variants are written")
    min_variance: float = Field(0.0, ge=0, le=0.25, description="a task needs a reward variance above this to get variants (0 < V: its group neither all failed nor all succeeded)")
    variants_per_task: int = Field(4, ge=1, description="variants sampled per selected task (each checked before it enters the pool)")
    temperature: float = Field(1.0, gt=0, description="sampling temperature of the task writer")
    max_new_tokens: int = Field(48, ge=4, description="token budget of one written task")
    max_generated: int = Field(2000, ge=0, description="the most generated tasks the pool holds (later ones are not written)")
    grouping: Literal["auto", "task", "cluster"] = Field("auto", description="what a reward variance is computed over: the rollouts of one task (GRPO's groups), embedding clusters of the tasks (the paper's PPO grouping), or auto (task for grpo, cluster for ppo)")
    clusters: int = Field(8, ge=1, description="k of the k-means clustering of task embeddings (grouping: cluster)")
