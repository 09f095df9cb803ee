"""ledgerguard scanner, the shared core: snapshots, policy loading and validation, the kinds,
the engine and the findings contract. It imports neither connectors nor reports."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ledgerguard")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
