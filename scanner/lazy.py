"""pandas, NumPy and pyarrow, loaded on first use.

They take about 0.4 s to import, and ``--help``, ``validate`` and ``policies list`` never
touch a table, yet load every kind and connector module (for their schemas). Those
modules name the libraries through this module (``from ..lazy import pandas as pd``):
the first attribute looked up imports the real library and the proxy takes over its
namespace, so the cost moves to the first command that reads a table and stays there.
A module-level use (a constant built with pandas) would defeat it: build such values in
a function. ``tests/app/test_startup.py`` checks that the three commands import none
of the three libraries.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class _Deferred(types.ModuleType):
    """A stand-in for a module that imports it on the first attribute looked up."""

    def __getattr__(self, attr: str) -> Any:  # only called for names not yet in __dict__
        real = importlib.import_module(self.__name__)
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


numpy = _Deferred("numpy")
pandas = _Deferred("pandas")
pyarrow = _Deferred("pyarrow")
