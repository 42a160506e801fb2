"""A blank plug-in env for config and stage tests (what config and stage code see of a user's env)."""

from __future__ import annotations

import inspect


def register_blank_env(name: str, max_steps: int = 5, **defaults):
    """Register (and return) a plug-in TextEnv `name` with no config section and no tasks, whose constructor takes
    `max_steps` and the keyword `defaults`: what config and stage code see of a user's env."""
    from dreamgym.envs import TextEnv, register_env

    def __init__(self, max_steps: int = max_steps, **kwargs):
        TextEnv.__init__(self, max_steps)

    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
              inspect.Parameter("max_steps", inspect.Parameter.KEYWORD_ONLY, default=max_steps),
              *(inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in defaults.items())]
    __init__.__signature__ = inspect.Signature(params)
    body = {"__init__": __init__, "list_tasks": lambda self, split, n=None, start=0: [],
            "_reset": lambda self, task: "", "_step": lambda self, action: ("", False, True, 0.0, {})}
    return register_env(name)(type(f"Blank_{name}", (TextEnv,), body))
