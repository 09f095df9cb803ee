"""ledgerguard scanner, the shared core: snapshots, policy loading and validation, the kinds,
the engine and the findings contract. It imports neither connectors nor reports.

``__version__`` is the one place the version is written: pyproject.toml reads it from here
(``[tool.setuptools.dynamic]``). Looking it up in the installed metadata instead cost every
scan and gate ~40 ms of importing ``importlib.metadata``."""

__version__ = "0.1.0"
