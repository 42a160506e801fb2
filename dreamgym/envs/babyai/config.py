"""The typed config of the babyai env: params.yaml `envs.babyai`, the kwargs of its env class (the defaults live here)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from dreamgym.configbase import StrictConfig


class BabyAIEnvConfig(StrictConfig):
    """Kwargs of dreamgym.envs.babyai.env.BabyAIEnv."""

    max_steps: int = Field(64, ge=1, description="steps (our actions, high-level ones included) before the episode is truncated")
    levels: list[str] = Field(
        default_factory=lambda: ["GoToRedBallNoDists", "GoToRedBall", "GoToObj", "GoToLocal", "PickupLoc",
                                 "PutNextLocal", "GoToObjMazeS4R2", "UnlockLocal"],
        min_length=1, description="BabyAI level names ('GoToLocal' or 'BabyAI-GoToLocal-v0'); task i of a split uses levels[i % len]")
    train_seed_offset: int = Field(0, ge=0, description="first minigrid seed of the train split (task i gets seed offset + i)")
    val_seed_offset: int = Field(1_000_000, ge=0, description="first minigrid seed of the val split")
    test_seed_offset: int = Field(2_000_000, ge=0, description="first minigrid seed of the test split")
    train_size: int = Field(10_000, ge=0, description="number of train tasks (the seed ranges of the splits must not overlap)")
    val_size: int = Field(1_000, ge=0, description="number of val tasks")
    test_size: int = Field(1_000, ge=0, description="number of test tasks")
    action_set: Literal["macro", "primitive"] = Field("macro", description="macro: AgentGym's actions (go to / pick up / go through an object in sight, one step each); primitive: turn left, turn right, move forward, pick up, drop, toggle")

    @field_validator("levels", mode="before")
    @classmethod
    def _one_level_is_a_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _splits_disjoint(self):
        spans = sorted((getattr(self, f"{s}_seed_offset"), getattr(self, f"{s}_size"), s) for s in ("train", "val", "test"))
        for (a0, na, sa), (b0, _nb, sb) in zip(spans, spans[1:], strict=False):
            if b0 < a0 + na:
                raise ValueError(f"the seed ranges of splits '{sa}' ({a0}..{a0 + na - 1}) and '{sb}' (from {b0}) "
                                 f"overlap; move {sb}_seed_offset to >= {a0 + na} or shrink {sa}_size")
        return self
