"""Name registry of environments: `@register_env("name")` on a TextEnv subclass, `make_env(name, **kw)`.

Real envs are imported lazily (their third-party packages are heavy), so listing names costs nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from dreamgym.envs.base import TextEnv
from dreamgym.errors import UnknownNameError

_REGISTRY: dict[str, type[TextEnv] | Callable[..., TextEnv]] = {}
#: built-in envs: name -> module that registers it on import
_BUILTIN = {
    "babyai": "dreamgym.envs.babyai",
    "textcraft": "dreamgym.envs.textcraft",
    "textworld": "dreamgym.envs.textworld",
    "scienceworld": "dreamgym.envs.scienceworld",
}


def register_env(name: str):
    """Class decorator: make `name` resolvable by make_env(). A plug-in env registers itself the same way."""

    def deco(cls):
        _REGISTRY[name] = cls
        if isinstance(cls, type):
            cls.name = name
        return cls

    return deco


def env_names() -> list[str]:
    return sorted(set(_BUILTIN) | set(_REGISTRY))


def get_env_class(name: str):
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    if name not in _REGISTRY:
        raise UnknownNameError(f"unknown env '{name}'; available: {', '.join(env_names())}")
    return _REGISTRY[name]


def make_env(name: str, **kwargs) -> TextEnv:
    """Build env `name` with its config kwargs (a section of params.yaml `envs`)."""
    return get_env_class(name)(**kwargs)
