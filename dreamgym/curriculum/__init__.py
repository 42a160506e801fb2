"""The curriculum of the DreamGym loop: reward-variance task selection, a versioned task pool, and new tasks written
by the experience model and checked before they enter the pool (config.py, variance.py, pool.py, generate.py).

Names resolve lazily (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dreamgym.registry import lazy_exports

if TYPE_CHECKING:
    from dreamgym.curriculum.config import CurriculumConfig
    from dreamgym.curriculum.generate import Verdict, check_task, counts, write_variants
    from dreamgym.curriculum.pool import GeneratedTask, PoolStore, TaskPool, task_key
    from dreamgym.curriculum.variance import generated_quota, group_variance, kmeans, rank_by_variance

_WHERE = {"CurriculumConfig": "config", "Verdict": "generate", "check_task": "generate", "counts": "generate",
          "write_variants": "generate", "GeneratedTask": "pool", "PoolStore": "pool", "TaskPool": "pool",
          "task_key": "pool", "generated_quota": "variance", "group_variance": "variance", "kmeans": "variance",
          "rank_by_variance": "variance"}
__all__ = ["CurriculumConfig", "GeneratedTask", "PoolStore", "TaskPool", "Verdict", "check_task", "counts",
           "generated_quota", "group_variance", "kmeans", "rank_by_variance", "task_key", "write_variants"]
__getattr__ = lazy_exports(__name__, _WHERE)
