"""BabyAI (minigrid levels as text): the one home of everything the project knows about it, behind one EnvSpec.

    spec = get_spec("babyai")                 # registered on import of this package
    env = spec.make(levels=["PickupLoc"], action_set="primitive")
    spec.observe(raw_observation)             # the abstract state: "red ball 1: 4 ahead 3 right; carrying nothing"
    spec.admissible(spec.task_text(task.instruction), state, {"action_set": "primitive"})

Modules: env (the real env, BabyAIEnv), view (the describer and the macro action table), observation (the
abstract state, its parser, the admissible actions), rules (annotator, context rule, augmenter).

This package is light: importing it loads neither minigrid nor gymnasium; the real env's names (`BabyAIEnv`,
`DEFAULT_LEVELS`, `level_id`) are re-exported lazily, importing the env module on first access.
"""

from __future__ import annotations

from dreamgym.envs.base import EnvSpec
from dreamgym.envs.registry import register_env
from dreamgym.registry import lazy_getattr

SPEC = register_env(EnvSpec.from_package(__name__, "BabyAIEnv",
                                         "BabyAI grid-world levels (minigrid) as text: egocentric view, macro or "
                                         "primitive actions"))

#: the public names of the env module, imported on first access
_ENV_NAMES = ("BabyAIEnv", "DEFAULT_LEVELS", "level_id")


__getattr__ = lazy_getattr(__name__, "dreamgym.envs.babyai.env", _ENV_NAMES)


__all__ = ["SPEC", *_ENV_NAMES]
