"""``kind: backup_catalog`` — what backups exist, from the backup tool's own listing.

Reads the saved output of ``restic snapshots --json`` or ``borg list --json``, or a
CSV/XLSX catalog kept by hand or by another tool, into the ``backups`` table.
restic writes timestamps with an offset; borg writes them without one, so they are
read in the ``timezone`` setting (default: the snapshot timezone).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from ledgerguard.scanner.timeutil import check_timezone

from ._common import (
    MAPPING_SCHEMA,
    TABULAR_SCHEMA,
    apply_mapping,
    file_label,
    read_tabular,
    resolve,
    text_frame,
)
from .base import CONNECTORS, Connector, ConnectorError


@CONNECTORS.register("backup_catalog")
class BackupCatalogConnector(Connector):
    settings_schema = {
        "type": "object",
        "required": ["path", "format"],
        "properties": {
            "path": {"type": "string", "minLength": 1},
            "format": {"enum": ["restic", "borg", "csv", "xlsx"]},
            "dataset": {"type": "string", "minLength": 1,
                        "description": "dataset name (default: restic paths / borg archive name prefix)"},
            "location": {"type": "string", "description": "default: the repository"},
            "offsite": {"type": "boolean", "default": False},
            "encrypted": {"type": "boolean", "description": "default: restic true, borg from its encryption mode"},
            "timezone": {"type": "string", "description": "zone of borg's naive timestamps"},
            **{k: v for k, v in TABULAR_SCHEMA.items() if k != "format"},
            **MAPPING_SCHEMA,
        },
    }

    def tables(self) -> list[str]:
        return ["backups"]

    def collect(self) -> dict[str, pd.DataFrame]:
        path = resolve(self.base_dir, self.settings["path"])
        fmt = self.settings["format"]
        if fmt in ("csv", "xlsx"):
            df = read_tabular(path, {**self.settings, "format": fmt})
            return {"backups": apply_mapping(df, "backups", self.settings,
                                             file_label(path, self.settings), self.timezone)}
        data = _load_json(path)
        rows = _restic(data, self.settings) if fmt == "restic" else _borg(data, self.settings, self._tz())
        return {"backups": text_frame(rows, _COLUMNS)}

    def _tz(self) -> ZoneInfo:
        name = self.settings.get("timezone") or self.timezone
        try:
            return ZoneInfo(check_timezone(name))
        except ValueError as exc:
            raise ConnectorError(str(exc)) from None


_COLUMNS = ["backup_id", "dataset", "started_at", "finished_at", "status", "location", "offsite",
            "encrypted", "size_bytes", "host", "tags"]


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConnectorError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConnectorError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConnectorError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


def _restic(data: Any, settings: dict[str, Any]) -> list[dict]:
    """``restic snapshots --json``: a list; every listed snapshot is complete (success)."""
    if not isinstance(data, list):
        raise ConnectorError("restic: expected the JSON list printed by `restic snapshots --json`")
    rows = []
    for snap in data:
        summary = snap.get("summary") or {}
        rows.append({
            "backup_id": snap.get("id") or snap.get("short_id"),
            "dataset": settings.get("dataset") or ",".join(snap.get("paths") or []),
            "started_at": summary.get("backup_start") or snap.get("time"),
            "finished_at": summary.get("backup_end") or snap.get("time"),
            "status": "success",
            "location": settings.get("location"),
            "offsite": settings.get("offsite", False),
            "encrypted": settings.get("encrypted", True),  # restic repositories are always encrypted
            "size_bytes": summary.get("total_bytes_processed"),
            "host": snap.get("hostname"),
            "tags": ",".join(snap.get("tags") or []) or None,
        })
    return rows


def _borg(data: Any, settings: dict[str, Any], tz: ZoneInfo) -> list[dict]:
    """``borg list --json``: archives with naive local ``start``/``end`` times."""
    if not isinstance(data, dict) or not isinstance(data.get("archives"), list):
        raise ConnectorError("borg: expected the JSON object printed by `borg list --json`")
    repo = data.get("repository") or {}
    mode = (data.get("encryption") or {}).get("mode")
    rows = []
    for arc in data["archives"]:
        name = arc.get("name") or arc.get("archive") or ""
        start = _aware(arc.get("start") or arc.get("time"), tz)
        rows.append({
            "backup_id": arc.get("id") or name,
            "dataset": settings.get("dataset") or _prefix(name),
            "started_at": start,
            "finished_at": _aware(arc.get("end"), tz) or start,
            "status": "success",
            "location": settings.get("location") or repo.get("location"),
            "offsite": settings.get("offsite", False),
            "encrypted": settings.get("encrypted", mode not in (None, "none")),
            "size_bytes": None,
            "host": arc.get("hostname"),
            "tags": None,
        })
    return rows


def _aware(value: str | None, tz: ZoneInfo) -> str | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConnectorError(f"borg: {value!r} is not an ISO timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.isoformat()


def _prefix(name: str) -> str:
    """``gl-db-2026-11-20T02:00`` → ``gl-db`` (borg's usual ``{prefix}-{now}`` archive names)."""
    return re.sub(r"[-_.]?\d{4}-?\d{2}-?\d{2}.*$", "", name) or name
