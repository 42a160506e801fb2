"""Name registry of environments: one `EnvSpec` per env.

    SPEC = register_env(EnvSpec.from_package(__name__, "MyEnv", "one line"))  # an env package (its layout)
    register_env(EnvSpec("myenv", MyEnv, abstract=my_abstraction, annotate=my_annotator))   # field by field
    @register_env("toy")                          # or a bare TextEnv class: a spec with the generic defaults
    class Toy(TextEnv): ...
    spec = get_spec("babyai"); env = make_env("babyai", max_steps=20)

The built-in env packages are imported on first use (each package's `__init__` is light; the real env's
third-party packages load only when the env is built), so listing names costs nothing.
"""

from __future__ import annotations

from typing import Any

from dreamgym.envs.base import EnvSpec, TextEnv
from dreamgym.registry import Registry

ENVS = Registry("env", builtins={
    "babyai": "dreamgym.envs.babyai",
    "textcraft": "dreamgym.envs.textcraft",
    "textworld": "dreamgym.envs.textworld",
    "scienceworld": "dreamgym.envs.scienceworld",
})


def register_env(spec_or_name: EnvSpec | str, **spec_fields: Any):
    """Register an env: `register_env(EnvSpec(...))` returns the spec; `@register_env("name", **fields)` on a
    TextEnv subclass registers EnvSpec(name, cls, **fields) and returns the class."""
    if isinstance(spec_or_name, EnvSpec):
        spec = spec_or_name
        ENVS.register(spec.name)(spec)
        return spec

    def deco(cls: type[TextEnv]) -> type[TextEnv]:
        cls.name = spec_or_name
        ENVS.register(spec_or_name)(EnvSpec(spec_or_name, cls, **spec_fields))
        return cls

    return deco


def env_names() -> list[str]:
    return ENVS.names()


def get_spec(name: str) -> EnvSpec:
    """The registered spec of env `name` (UnknownNameError listing the registered names)."""
    return ENVS.get(name)


def get_env_class(name: str) -> type[TextEnv]:
    """The real env class of `name` (its package is imported now)."""
    return get_spec(name).resolve_class()


def make_env(name: str, **kwargs: Any) -> TextEnv:
    """Build env `name` with its config kwargs (a section of params.yaml `envs`)."""
    return get_spec(name).make(**kwargs)
