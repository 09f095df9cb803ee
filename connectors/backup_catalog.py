"""``kind: backup_catalog`` — what backups exist, and whether they were checked and restored.

Backups come from the backup tool's own listing: a saved ``restic snapshots --json``,
``borg list --json`` or ``borg info --json`` (``path``), the live repository
(``repository`` without ``path``: the connector runs restic / borg itself), or a
CSV/XLSX catalog kept by hand.

Evidence that the backups are usable — ``verified_at``, ``verify_status``,
``restore_tested_at`` — comes from ``verify: run`` (``restic check`` / ``borg check``
run now) and from ``check_log`` (JSON lines written by
examples/backup-check-wrapper.sh). It is written onto the backup rows it covers, never
as rows of its own, so evidence can never count as a backup.

Times: restic prints offsets. borg prints the naive local time of the host that ran it,
so a live source runs borg with ``TZ=UTC``, and a saved borg listing needs
``timezone:`` — guessing the snapshot's zone put backups 8 hours early on UTC servers.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ledgerguard.scanner.lazy import pandas as pd
from ledgerguard.scanner.timeutil import check_timezone

from ._common import (
    MAPPING_SCHEMA,
    SECRET_SCHEMA,
    TABULAR_SCHEMA,
    apply_mapping,
    file_label,
    read_secret,
    read_tabular,
    redact,
    resolve,
    text_frame,
)
from .base import CONNECTORS, Connector, ConnectorError

_PASSWORD_VAR = {"restic": "RESTIC_PASSWORD", "borg": "BORG_PASSPHRASE"}
# a repository spec with a scheme or host part (sftp:host:/p, s3:…, ssh://…, user@host:p)
_REMOTE = re.compile(r"^[^/]*:")


@CONNECTORS.register("backup_catalog")
class BackupCatalogConnector(Connector):
    settings_schema = {
        "type": "object",
        "required": ["format"],
        "properties": {
            "path": {"type": "string", "minLength": 1,
                     "description": "saved listing or CSV/XLSX catalog (without it: list `repository` live)"},
            "format": {"enum": ["restic", "borg", "csv", "xlsx"]},
            "repository": {"type": "string", "minLength": 1,
                           "description": "restic -r / borg repository; names the check_log lines"},
            **SECRET_SCHEMA,
            "verify": {"enum": ["run"], "description": "run restic check / borg check now"},
            "verify_data": {"type": ["boolean", "string"], "pattern": r"^(\d+(\.\d+)?%|\d+/\d+|\d+[KMGT]?)$",
                            "description": "restic: true = --read-data, '10%' or '1/5' = --read-data-subset; "
                                           "borg: true = --verify-data"},
            "check_log": {"type": "string", "minLength": 1,
                          "description": "JSON lines of examples/backup-check-wrapper.sh"},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 3600,
                        "description": "seconds each restic / borg run may take"},
            "dataset": {"type": "string", "minLength": 1,
                        "description": "dataset name (default: restic paths / borg archive name prefix)"},
            "location": {"type": "string", "description": "default: the repository"},
            "offsite": {"type": "boolean", "default": False},
            "encrypted": {"type": "boolean", "description": "default: restic true, borg from its encryption mode"},
            "timezone": {"type": "string", "description": "zone of the host that saved a borg listing"},
            **{k: v for k, v in TABULAR_SCHEMA.items() if k != "format"},
            **MAPPING_SCHEMA,
        },
        "dependentRequired": {"verify": ["repository"], "verify_data": ["verify"],
                              "check_log": ["repository"]},
        "if": {"not": {"required": ["repository"]}},
        "then": {"required": ["path"]},
    }

    def tables(self) -> list[str]:
        return ["backups"]

    def collect(self) -> dict[str, pd.DataFrame]:
        fmt = self.settings["format"]
        path = resolve(self.base_dir, self.settings["path"]) if self.settings.get("path") else None
        if fmt in ("csv", "xlsx"):
            extra = [k for k in ("repository", "verify", "check_log") if k in self.settings]
            if path is None or extra:
                raise ConnectorError(f"format {fmt}: give path; {', '.join(extra) or 'repository'} "
                                     "applies to restic and borg only")
            df = read_tabular(path, {**self.settings, "format": fmt})
            return {"backups": apply_mapping(df, "backups", self.settings,
                                             file_label(path, self.settings), self.timezone)}
        tz = self._borg_tz(path is None) if fmt == "borg" else None
        tool = _Tool(fmt, self.settings, self.base_dir) if self.settings.get("repository") else None
        if path is not None:
            data = _load_json(path)
            sizes: dict[str, int] = {}
        else:
            assert tool is not None  # the schema requires path or repository
            data, sizes = tool.listing(self.report_progress)
        rows = _restic(data, self.settings, sizes) if tz is None else _borg(data, self.settings, tz)
        evidence = _read_log(resolve(self.base_dir, self.settings["check_log"]), fmt, tool.repository) \
            if tool and self.settings.get("check_log") else []
        if tool and self.settings.get("verify") == "run":
            evidence.append(tool.check())
        _attach(rows, evidence, fmt)
        return {"backups": text_frame(rows, _COLUMNS)}

    def _borg_tz(self, live: bool) -> ZoneInfo:
        """UTC for borg run by us; the declared zone of the host that saved a listing."""
        name = self.settings.get("timezone")
        if live:
            if name:
                raise ConnectorError("timezone: applies to a saved borg listing only; a live source "
                                     "runs borg with TZ=UTC")
            return ZoneInfo("UTC")
        if not name:
            raise ConnectorError(
                "borg list --json prints the local time of the host that ran it, without an offset: "
                "set timezone: to that host's zone (e.g. timezone: UTC for a UTC server)")
        try:
            return ZoneInfo(check_timezone(name))
        except ValueError as exc:
            raise ConnectorError(str(exc)) from None


_COLUMNS = ["backup_id", "dataset", "started_at", "finished_at", "status", "location", "offsite",
            "encrypted", "size_bytes", "verified_at", "verify_status", "restore_tested_at", "host", "tags"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _local(repository: str, base_dir: Path) -> str:
    """A local repository path made absolute (as the wrapper logs it); remote specs as given."""
    return repository if _REMOTE.match(repository) else os.path.abspath(resolve(base_dir, repository))


class _Tool:
    """restic or borg run on ``repository`` with the source's password in its environment.

    The password goes into the child's environment only (never its arguments, which
    ``ps`` shows); borg runs with TZ=UTC so its offset-less times are UTC, and with no
    stdin so a question (relocated or unencrypted repository) fails instead of hanging.
    """

    def __init__(self, tool: str, settings: dict[str, Any], base_dir: Path) -> None:
        self.tool = tool
        self.settings = settings
        self.repository = _local(settings["repository"], base_dir)
        self.env = dict(os.environ)
        secret = read_secret(settings, base_dir)  # remembered for redact()
        if secret:
            self.env[_PASSWORD_VAR[tool]] = secret
        if tool == "borg":
            self.env.update(TZ="UTC", BORG_RELOCATED_REPO_ACCESS_IS_OK="no",
                            BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="no")

    def run(self, what: str, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
        repo = ["-r", self.repository] if self.tool == "restic" else []
        tail = [] if self.tool == "restic" else [self.repository]
        try:
            done = subprocess.run([self.tool, *repo, *args, *tail], env=self.env, capture_output=True,
                                  text=True, stdin=subprocess.DEVNULL, timeout=self.settings.get("timeout", 3600))
        except FileNotFoundError:
            raise ConnectorError(f"{self.tool} is not installed (not found on PATH)") from None
        except subprocess.TimeoutExpired:
            raise ConnectorError(f"{self.tool} {what} on {self.repository} took longer than "
                                 f"timeout: {self.settings.get('timeout', 3600)} s") from None
        if (check and done.returncode) or _LOCKED.search(done.stderr):
            raise ConnectorError(redact(f"{self.tool} {what} on {self.repository} failed "
                                        f"(exit {done.returncode}): {_tail(done.stderr)}"))
        return done

    def json(self, what: str, args: list[str]) -> Any:
        out = self.run(what, args).stdout
        try:
            return json.loads(out)
        except json.JSONDecodeError as exc:
            raise ConnectorError(f"{self.tool} {what} on {self.repository}: output is not JSON ({exc.msg})") from None

    def listing(self, progress: Any) -> tuple[Any, dict[str, int]]:
        """The listing, and restic's per-snapshot sizes where it has no ``summary``.

        restic writes ``summary`` into snapshots only from 0.17; older versions (Debian
        12 ships 0.14) need ``restic stats --mode restore-size`` per snapshot. borg's
        ``info --json`` over all archives carries ``stats`` and ``end``.
        """
        if self.tool == "borg":
            return self.json("info", ["info", "--json", "--glob-archives", "*"]), {}
        snaps = self.json("snapshots", ["snapshots", "--json"])
        if not isinstance(snaps, list):
            return snaps, {}
        sizes = {}
        todo = [s["id"] for s in snaps if isinstance(s, dict) and "summary" not in s and s.get("id")]
        for done, sid in enumerate(todo, 1):
            stats = self.json("stats", ["stats", "--json", "--mode", "restore-size", sid])
            sizes[sid] = stats.get("total_size")
            progress(done, len(todo), "snapshots sized")
        return snaps, sizes

    def check(self) -> _Evidence:
        """``restic check`` / ``borg check`` now; a non-zero exit is a failed verification."""
        data = self.settings.get("verify_data", False)
        if self.tool == "restic":
            args = ["--read-data"] if data is True else [f"--read-data-subset={data}"] if data else []
        elif isinstance(data, str):
            raise ConnectorError("verify_data: borg reads all data (true) or none (false); "
                                 "a subset is restic's --read-data-subset")
        else:
            args = ["--verify-data"] if data else []
        started = _now()
        done = self.run("check", ["check", *args], check=False)
        return _Evidence("check", started, _now(), "success" if done.returncode == 0 else "failed", None)


_LOCKED = re.compile(r"unable to create lock|repository is already locked|Failed to create/acquire the lock")


def _tail(stderr: str) -> str:
    lines = [x.strip() for x in stderr.strip().splitlines() if x.strip()]
    return " / ".join(lines[-3:]) or "no message"


@dataclass(frozen=True)
class _Evidence:
    action: str  # check | restore-test
    started: dt.datetime
    finished: dt.datetime
    status: str  # success | failed
    snapshot: str | None  # restore-test: the snapshot id / archive name


def _read_log(path: Path, tool: str, repository: str) -> list[_Evidence]:
    """The wrapper's lines for this tool and repository; a malformed line fails the source."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConnectorError(f"{path}: no such file (check_log)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConnectorError(f"{path}: cannot read: {exc}") from None
    out = []
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConnectorError(f"{path}:{no}:{exc.colno}: invalid JSON: {exc.msg}") from None
        if not isinstance(entry, dict):
            raise ConnectorError(f"{path}:{no}: expected a JSON object")
        missing = [k for k in ("tool", "repository", "action", "status", "started_at", "finished_at")
                   if not isinstance(entry.get(k), str)]
        if missing:
            raise ConnectorError(f"{path}:{no}: missing {', '.join(missing)}")
        if entry["action"] not in ("check", "restore-test"):
            raise ConnectorError(f"{path}:{no}: action {entry['action']!r} is not check or restore-test")
        if entry["tool"] != tool or entry["repository"] != repository:
            continue
        times = [_log_time(path, no, entry, k) for k in ("started_at", "finished_at")]
        out.append(_Evidence(entry["action"], *times, entry["status"], entry.get("snapshot") or None))
    return out


def _log_time(path: Path, no: int, entry: dict, key: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(entry[key])
    except ValueError:
        raise ConnectorError(f"{path}:{no}: {key} {entry[key]!r} is not an ISO timestamp") from None
    if value.tzinfo is None:
        raise ConnectorError(f"{path}:{no}: {key} {entry[key]!r} has no UTC offset")
    return value


def _attach(rows: list[dict], evidence: list[_Evidence], tool: str) -> None:
    """Write each row's evidence: the newest check that started after it finished, and
    the time of its newest restore test when that one succeeded.

    The newest check counts even when it failed — a repository broken now is not
    vouched for by an older pass; a restore test that failed is no restore test.
    """
    checks = sorted((e for e in evidence if e.action == "check"), key=lambda e: e.finished)
    restores = sorted((e for e in evidence if e.action == "restore-test" and e.snapshot),
                      key=lambda e: e.finished)
    for row in rows:
        finished = dt.datetime.fromisoformat(row["finished_at"]) if row["finished_at"] else None
        covering = [c for c in checks if finished and c.started >= finished]
        if covering:
            row["verified_at"], row["verify_status"] = covering[-1].finished, covering[-1].status
        tested = [r for r in restores if _same_backup(r.snapshot, row, tool)]
        if tested and tested[-1].status == "success":
            row["restore_tested_at"] = tested[-1].finished


def _same_backup(snapshot: str, row: dict, tool: str) -> bool:
    """restic: the id or a short id (prefix of ≥ 8); borg: the archive name or id."""
    if tool == "restic":
        return len(snapshot) >= 8 and str(row["backup_id"]).startswith(snapshot)
    return snapshot in (row["backup_id"], row["_name"])


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConnectorError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConnectorError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConnectorError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


def _restic(data: Any, settings: dict[str, Any], sizes: dict[str, int]) -> list[dict]:
    """``restic snapshots --json``: a list; every listed snapshot is complete (success)."""
    if not isinstance(data, list):
        raise ConnectorError("restic: expected the JSON list printed by `restic snapshots --json`")
    rows = []
    for snap in data:
        summary = snap.get("summary") or {}
        sid = snap.get("id") or snap.get("short_id")
        rows.append({
            "backup_id": sid,
            "dataset": settings.get("dataset") or ",".join(snap.get("paths") or []),
            "started_at": summary.get("backup_start") or snap.get("time"),
            "finished_at": summary.get("backup_end") or snap.get("time"),
            "status": "success",
            "location": settings.get("location"),
            "offsite": settings.get("offsite", False),
            "encrypted": settings.get("encrypted", True),  # restic repositories are always encrypted
            "size_bytes": summary.get("total_bytes_processed", sizes.get(sid)),
            "host": snap.get("hostname"),
            "tags": ",".join(snap.get("tags") or []) or None,
            "_name": sid,
        })
    return rows


def _borg(data: Any, settings: dict[str, Any], tz: ZoneInfo) -> list[dict]:
    """``borg list --json`` or ``borg info --json``: archives with naive ``start``/``end``
    times; ``info`` adds ``stats`` (``original_size``: the archived files' size)."""
    if not isinstance(data, dict) or not isinstance(data.get("archives"), list):
        raise ConnectorError("borg: expected the JSON object printed by `borg list --json` or `borg info --json`")
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
            "size_bytes": (arc.get("stats") or {}).get("original_size"),
            "host": arc.get("hostname"),
            "tags": None,
            "_name": name,
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
