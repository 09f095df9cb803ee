"""ledgerguard scanner: policy loading and validation, the engine, the CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ledgerguard")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
