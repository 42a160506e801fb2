"""The typed config of the scienceworld env: params.yaml `envs.scienceworld`, the kwargs of its env class (the defaults live here)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from dreamgym.configbase import StrictConfig


class ScienceWorldEnvConfig(StrictConfig):
    """Kwargs of dreamgym.envs.scienceworld.env.ScienceWorldEnv."""

    max_steps: int = Field(200, ge=1, description="step limit per episode (gold paths reach ~200 steps on inclined-plane tasks)")
    task_names: list[str] | None = Field(None, description="ScienceWorld task names to list tasks from, interleaved in this order (null: all 30)")
    jvm_heap: str | None = Field("512m", pattern=r"^\d+[kKmMgG]?$", description="the simulator JVM's maximum heap (-Xmx), e.g. 512m or 2g; null: the JVM default (1/4 of RAM)")
    obs_context: bool = Field(True, description="end observations with [Location: ... Inventory: ...]")

    @field_validator("jvm_heap", mode="before")
    @classmethod
    def _heap_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("task_names")
    @classmethod
    def _known_tasks(cls, v: list[str] | None) -> list[str] | None:
        if v:
            from dreamgym.envs.scienceworld import ALL_TASK_NAMES

            unknown = [n for n in v if n not in ALL_TASK_NAMES]
            if unknown:
                raise ValueError(f"unknown ScienceWorld task name(s) {unknown}; choose from: {', '.join(ALL_TASK_NAMES)}")
            if len(set(v)) != len(v):
                raise ValueError(f"duplicate task names in {v}")
        return v
