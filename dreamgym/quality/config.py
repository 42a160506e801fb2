"""The quality section of params.yaml: the limits the data gates (dreamgym/quality/gates.py) check rows against.

Simplifications: one reward range for every env (outcome-only rewards in [0, max_reward]).
Use: `cfg.quality` (a QualityConfig); `from dreamgym.config import QualityConfig` also works.
"""

from __future__ import annotations

import math

from pydantic import Field, field_validator

from dreamgym.configbase import StrictConfig


class QualityConfig(StrictConfig):
    max_reward: float = Field(1.0, description="rewards must lie in [0, max_reward] (outcome-only reward); a finite number > 0")
    max_text_chars: int = Field(20000, ge=1, description="longest state / action text a row may carry")
    min_success_rate: dict[str, float] = Field(
        default_factory=dict, description="per env: lowest expert success rate the seed gate accepts")

    @field_validator("max_reward")
    @classmethod
    def _finite_positive(cls, v: float) -> float:
        if not (math.isfinite(v) and v > 0):
            raise ValueError("must be a finite number > 0, i.e. in (0, inf): rewards are checked to lie in "
                             "[0, max_reward] (the outcome reward is 1)")
        return v

    @field_validator("min_success_rate")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {e: r for e, r in v.items() if not 0.0 <= r <= 1.0}
        if bad:
            raise ValueError(f"success rates must lie in [0, 1], got {bad}")
        return v
