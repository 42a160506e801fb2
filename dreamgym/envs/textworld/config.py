"""The typed config of the textworld env: params.yaml `envs.textworld`, the kwargs of its env class (the defaults live here)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dreamgym.configbase import StrictConfig


class TextWorldEnvConfig(StrictConfig):
    """Kwargs of dreamgym.envs.textworld.env.TextWorldEnv (tw-cooking games, generated offline)."""

    max_steps: int = Field(50, ge=1, description="step limit per episode")
    recipe: int = Field(1, ge=1, le=5, description="number of ingredients in the recipe (1-5)")
    take: int = Field(1, ge=0, le=5, description="how many of them must be fetched in the house (0..recipe; the rest start in the inventory)")
    go: Literal[1, 6, 9, 12] = Field(6, description="number of rooms (1, 6, 9 or 12)")
    open: bool = Field(True, description="containers and doors start closed and must be opened")
    cook: bool = Field(True, description="ingredients must be cooked (stove / oven / BBQ) as the recipe says")
    cut: bool = Field(True, description="ingredients must be cut (slice / dice / chop, with the knife) as the recipe says")
    food_split: bool = Field(False, description="use TextWorld's own food splits (val/test use foods held out of train)")
    game_dir: str = Field("artifacts/cache/textworld", description="cache directory of generated game files (relative to the working directory; a cache, not data)")
    train_size: int = Field(2000, ge=0, le=1_000_000, description="number of train tasks listed")
    val_size: int = Field(200, ge=0, le=1_000_000, description="number of val tasks listed")
    test_size: int = Field(200, ge=0, le=1_000_000, description="number of test tasks listed")
    expert_reads_cookbook: bool = Field(True, description="the expert examines the cookbook before following TextWorld's winning policy")

    @model_validator(mode="after")
    def _take_le_recipe(self):
        if self.take > self.recipe:
            raise ValueError(f"take={self.take} must be in 0..recipe ({self.recipe})")
        return self
