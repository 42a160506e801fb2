"""The DreamGym loop: the policy trained against the experience model, with replay, a curriculum, guards and
resume (config.py, loop.py). Names resolve lazily (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dreamgym.registry import lazy_exports

if TYPE_CHECKING:
    from dreamgym.loop.config import LoopConfig, LoopGuardConfig
    from dreamgym.loop.loop import DreamGymLoop, LoopParts, LoopStopped

_WHERE = {"LoopConfig": "config", "LoopGuardConfig": "config", "DreamGymLoop": "loop", "LoopParts": "loop",
          "LoopStopped": "loop"}
__all__ = ["DreamGymLoop", "LoopConfig", "LoopGuardConfig", "LoopParts", "LoopStopped"]
__getattr__ = lazy_exports(__name__, _WHERE)
