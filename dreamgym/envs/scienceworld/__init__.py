"""ScienceWorld: everything the project knows about it, behind one registered EnvSpec.

    from dreamgym.envs.registry import get_spec, make_env
    spec = get_spec("scienceworld")                  # SPEC below; importing this package starts no JVM
    env = make_env("scienceworld", task_names=["boil"])   # the real env (env.py: scienceworld + a JVM)

Modules: `env` (the real env, `ScienceWorldEnv`) and `jvm` (its JVM) import the third-party package and are loaded
only when the env is built or one of their names is imported from here (module `__getattr__`); `observation`
(abstract state, its parser, the action lister, `ALL_TASK_NAMES`) and `rules` (annotator, context rule) are light.
The task block is the instruction alone (the generic task context); there is no augmentation (no symmetry of the
dynamics is known that a renaming keeps).
"""

from __future__ import annotations

from dreamgym.envs.base import EnvSpec
from dreamgym.envs.registry import register_env
from dreamgym.envs.scienceworld.observation import ALL_TASK_NAMES, INVALID_REPLY
from dreamgym.registry import lazy_getattr

SPEC = register_env(EnvSpec.from_package(__name__, "ScienceWorldEnv",
                                         "ScienceWorld: elementary-science tasks in a simulated house (Scala simulator "
                                         "in a JVM)"))

#: the public names of env.py, imported from it on first use
_ENV_NAMES = ("ScienceWorldEnv", "DEFAULT_TASK_NAMES", "MAX_ACTION_CHARS", "compact")

__all__ = ["ALL_TASK_NAMES", "INVALID_REPLY", "SPEC", *_ENV_NAMES]


__getattr__ = lazy_getattr(__name__, "dreamgym.envs.scienceworld.env", _ENV_NAMES)
