"""``kind: file`` — one CSV file or XLSX sheet (an HR export, a role matrix) into one table.

Exports from Chinese HR and finance software carry Chinese headers and values, and
dates such as ``2026/10/31`` or ``2026年10月31日``; ``columns``, ``values`` and
``date_formats`` map them onto the snapshot's names. A bad row fails the source with
the file, the row and the column named.
"""

from __future__ import annotations

from ledgerguard.scanner.lazy import pandas as pd

from ._common import MAPPING_SCHEMA, TABULAR_SCHEMA, apply_mapping, file_label, read_tabular, resolve
from .base import CONNECTORS, Connector


@CONNECTORS.register("file")
class FileConnector(Connector):
    settings_schema = {
        "type": "object",
        "required": ["path", "table"],
        "properties": {
            "path": {"type": "string", "minLength": 1, "description": "CSV, XLSX or JSON file"},
            "table": {
                "type": "string",
                "pattern": "^[a-z][a-z0-9_]*$",
                "description": "snapshot table it fills (identities, accounts, grants, …)",
            },
            **TABULAR_SCHEMA,
            **MAPPING_SCHEMA,
        },
    }

    def tables(self) -> list[str]:
        return [self.settings["table"]]

    def collect(self) -> dict[str, pd.DataFrame]:
        path = resolve(self.base_dir, self.settings["path"])
        table = self.settings["table"]
        df = read_tabular(path, self.settings)
        return {table: apply_mapping(df, table, self.settings, file_label(path, self.settings),
                                     self.timezone)}
