"""TextWorld cooking games (tw-cooking): the one home of everything the project knows about them, behind one EnvSpec.

    spec = get_spec("textworld")                   # registered on import of this package
    env = spec.make(game_dir="artifacts/cache/textworld")   # the real env (env.TextWorldEnv)
    state = spec.observe(raw_observation)          # observation.abstract
    spec.admissible(spec.task_text(task.instruction), state)   # the commands the state makes admissible

Modules: `env` (the real env, TextWorldEnv) and `games` (offline, cached game generation); `observation` (the
abstract state, the one parser of it, the admissible actions it implies); `rules` (annotator, context rule).

Simplifications: the task block is the objective alone (`plain_task_context`: the recipe shows only when the
cookbook is read, so it stays in the states); no SFT augmentation is defined (`augment` is None).

Importing this package is light: textworld (the third-party package) loads only when a game is generated or
played; the env module's names (`TextWorldEnv`, `OBJECTIVE`, `MAX_SPLIT_SIZE`, ...) are re-exported lazily.
"""

from __future__ import annotations

from dreamgym.envs.base import EnvSpec
from dreamgym.envs.registry import register_env
from dreamgym.registry import lazy_getattr

SPEC = register_env(EnvSpec.from_package(__name__, "TextWorldEnv",
                                         "TextWorld cooking games (tw-cooking): find the kitchen, read the cookbook, "
                                         "fetch, cook and cut the ingredients, prepare and eat the meal"))

#: the public names of the env module, read from this package lazily
_ENV_NAMES = ("JERICHO_SEED", "MAX_COMMAND_CHARS", "MAX_SPLIT_SIZE", "OBJECTIVE", "REFUSAL", "SEED_BASE",
              "TextWorldEnv", "clean_text")


__getattr__ = lazy_getattr(__name__, "dreamgym.envs.textworld.env", _ENV_NAMES)


__all__ = ["SPEC", *_ENV_NAMES]
