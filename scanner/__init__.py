"""ledgerguard scanner, the shared core: snapshots, policy loading and validation, the kinds,
the engine and the findings contract. It imports neither connectors nor reports.

``__version__`` is looked up on first use: ``importlib.metadata`` takes ~40 ms to import,
and every command imports this package, while only a scan writes the version."""

from typing import Any


def __getattr__(name: str) -> Any:
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("ledgerguard")
    except PackageNotFoundError:  # running from a source tree that is not installed
        value = "0+unknown"
    globals()["__version__"] = value
    return value
