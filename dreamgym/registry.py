"""A small name registry for plug-ins (envs, embedders, ...): `@reg.register("name")` on a class or callable,
`reg.make(name, **kwargs)` to build one. Built-ins may be registered lazily by module path, so listing names
does not import heavy third-party packages."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from dreamgym.errors import UnknownNameError


class Registry:
    """name -> factory (a class or a callable), with an error listing the known names for an unknown one."""

    def __init__(self, kind: str, builtins: dict[str, str] | None = None):
        self.kind = kind
        self._items: dict[str, Callable[..., Any]] = {}
        self._builtins = dict(builtins or {})  # name -> module that registers it on import

    def register(self, name: str):
        """Decorator: make `name` resolvable; a class also gets `name` as its class attribute."""

        def deco(obj):
            self._items[name] = obj
            if isinstance(obj, type):
                obj.name = name
            return obj

        return deco

    def names(self) -> list[str]:
        return sorted(set(self._builtins) | set(self._items))

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._items and name in self._builtins:
            importlib.import_module(self._builtins[name])
        if name not in self._items:
            raise UnknownNameError(f"unknown {self.kind} '{name}'; available: {', '.join(self.names())}")
        return self._items[name]

    def make(self, name: str, **kwargs: Any) -> Any:
        return self.get(name)(**kwargs)


def lazy_getattr(package: str, module: str, names: tuple[str, ...]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package` that imports `module` on first access of one of `names` (a light
    package re-exporting a heavy module's public names)."""

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(module), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def lazy_exports(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A package `__getattr__` (PEP 562) that imports `<package>.<where[name]>` on first access of `name` and
    caches the value, so importing the package (e.g. to reach its light `config` module) loads none of them."""
    import sys

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
