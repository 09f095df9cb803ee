"""The one small registry used for policy kinds, connectors and report formats.

Each plugin module registers its class under a name with ``@REGISTRY.register("name")``;
the registry is the single place the CLI, the schema builder and the docs ask
"what kinds exist?", so nothing keeps a second list that could drift.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, what: str, package: str | None = None) -> None:
        self.what = what
        self._package = package
        self._items: dict[str, T] = {}
        self._loaded = package is None

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.what} {name!r} registered twice")
            item.name = name  # type: ignore[attr-defined]
            self._items[name] = item
            return item

        return decorate

    def _load(self) -> None:
        """Import every module of the plugin package once, so each registers itself."""
        if self._loaded:
            return
        self._loaded = True
        pkg = importlib.import_module(self._package)  # type: ignore[arg-type]
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_"):
                importlib.import_module(f"{self._package}.{mod.name}")

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items))
            raise KeyError(f"unknown {self.what} {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        self._load()
        return iter(sorted(self._items.items()))

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items
