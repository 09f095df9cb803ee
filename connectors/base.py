"""What every connector is: a settings schema plus ``collect() -> {table: DataFrame}``.

Connectors know nothing of policies; they turn one source into snapshot tables
(SPEC §3 names and columns). Each kind lives in its own module and registers itself::

    @CONNECTORS.register("file")
    class FileConnector(Connector):
        settings_schema = {...}      # JSON Schema of the kind-specific keys
        def collect(self) -> dict[str, pd.DataFrame]: ...
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ledgerguard.scanner.lazy import pandas as pd
from ledgerguard.scanner.registry import Registry

CONNECTORS: Registry[type[Connector]] = Registry("connector kind", "ledgerguard.connectors")


class ConnectorError(Exception):
    """A source could not be collected (unreachable, auth, timeout, malformed rows).

    The message is shown to the user and written to the manifest: it must never
    contain a secret.
    """


class Connector:
    name: ClassVar[str]
    settings_schema: ClassVar[dict[str, Any]] = {"type": "object"}

    def __init__(self, source: str, settings: dict[str, Any], base_dir: Path, timezone: str) -> None:
        self.source = source  # the source's unique name (provenance)
        self.settings = settings
        self.base_dir = base_dir  # relative paths in settings are relative to the sources file
        self.timezone = timezone
        # set by ``collect`` when stderr is a terminal: (done, total or None, unit) -> None
        self.progress: Callable[[int, int | None, str], None] | None = None
        # what the source wants the manifest entry to say besides its status (e.g. the
        # sql kind's ``unmapped_permissions``); ``collect`` copies it into the entry
        self.notes: dict[str, Any] = {}

    def tables(self) -> list[str]:
        """The tables this source will produce, known before collecting.

        ``collect`` lists them for a failed source so the scanner marks them unusable.
        """
        return []

    def report_progress(self, done: int, total: int | None = None, unit: str = "items") -> None:
        """Tell the terminal how far a long pull is; a no-op unless ``collect`` asked."""
        if self.progress is not None:
            self.progress(done, total, unit)

    def collect(self) -> dict[str, pd.DataFrame]:
        raise NotImplementedError
