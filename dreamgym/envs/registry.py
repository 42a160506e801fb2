"""Name registry of environments: `@register_env("name")` on a TextEnv subclass, `make_env(name, **kw)`.

Real envs are imported lazily (their third-party packages are heavy), so listing names costs nothing.
"""

from __future__ import annotations

from dreamgym.envs.base import TextEnv
from dreamgym.registry import Registry

ENVS = Registry("env", builtins={
    "babyai": "dreamgym.envs.babyai",
    "textcraft": "dreamgym.envs.textcraft",
    "textworld": "dreamgym.envs.textworld",
    "scienceworld": "dreamgym.envs.scienceworld",
})

#: class decorator: make `name` resolvable by make_env(); a plug-in env registers itself the same way
register_env = ENVS.register
env_names = ENVS.names
get_env_class = ENVS.get


def make_env(name: str, **kwargs) -> TextEnv:
    """Build env `name` with its config kwargs (a section of params.yaml `envs`)."""
    return ENVS.make(name, **kwargs)
