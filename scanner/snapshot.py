"""Snapshots (SPEC §3): a directory of one file per table plus ``manifest.json``.

``TABLES`` is the single description of every table's columns and types; the reader
types each column once (booleans, ISO times in the snapshot timezone, integers),
checks required columns and names the file, row and column of any bad value.
``write_snapshot`` is what ``collect`` and the demo use; it writes atomically.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .errors import InputError, Problem, TableUnavailable
from .fsutil import atomic_dir
from .timeutil import check_timezone, iso_text, parse_times

FORMAT = "ledgerguard-snapshot/1"
MAX_BAD_VALUES_PER_COLUMN = 5


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "str"  # str | bool | time | int
    required: bool = False


def _cols(spec: str) -> tuple[Column, ...]:
    """``"*person_id name departure_date:time"`` → columns; ``*`` = required."""
    out = []
    for token in spec.split():
        required = token.startswith("*")
        name, _, typ = token.lstrip("*").partition(":")
        out.append(Column(name, typ or "str", required))
    return tuple(out)


TABLES: dict[str, tuple[Column, ...]] = {
    "identities": _cols(
        "*person_id name department position *status departure_date:time transfer_date:time "
        "previous_position manager_id email"
    ),
    "accounts": _cols(
        "*system *account_id person_id display_name *enabled:bool locked:bool expires_at:time "
        "disabled_at:time created_at:time last_login_at:time password_last_set:time "
        "mfa_enabled:bool account_type owner_person_id"
    ),
    "grants": _cols("*system *account_id *role scope granted_at:time granted_by expires_at:time"),
    "role_permissions": _cols("*system *role *permission effect description"),
    "changes": _cols(
        "*change_id *system account_id *action role performed_by *performed_at:time request_id "
        "requested_by approved_by approved_at:time approval_status"
    ),
    "reviews": _cols("*system *account_id reviewer *reviewed_at:time decision"),
    "archives": _cols(
        "*archive_id *category *fiscal_year:int title fonds period created_at:time "
        "archived_at:time path format size_bytes:int sha256 actual_sha256 file_exists:bool status "
        "destroyed_at:time destruction_register_id destruction_approved_by appraised_at:time "
        "hold:bool disposed_at:time"
    ),
    "backups": _cols(
        "*backup_id *dataset started_at:time *finished_at:time *status location offsite:bool "
        "encrypted:bool size_bytes:int verified_at:time verify_status restore_tested_at:time"
    ),
    "access_log": _cols("*event_id *archive_id actor *action *at:time"),
    "logins": _cols("*system *account_id *at:time success:bool source_ip"),
}

_TRUE = {"true", "1", "yes", "y", "t", "是"}
_FALSE = {"false", "0", "no", "n", "f", "否"}
_BOOLS = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Snapshot:
    """A read, typed snapshot. ``unusable`` maps a table to why it may not be trusted."""

    path: Path | None
    timezone: str
    taken_at: str | None
    tables: dict[str, pd.DataFrame]
    table_hashes: dict[str, str] = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)
    unusable: dict[str, str] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        """One hash for the whole snapshot: over the sorted table hashes."""
        text = "\n".join(f"{k}:{v}" for k, v in sorted(self.table_hashes.items()))
        return hashlib.sha256(text.encode()).hexdigest()

    def table(self, name: str) -> pd.DataFrame:
        if name in self.unusable:
            raise TableUnavailable(f"table {name!r} is unusable: {self.unusable[name]}")
        if name not in self.tables:
            raise TableUnavailable(f"table {name!r} is not in the snapshot")
        return self.tables[name]

    def has(self, name: str) -> bool:
        return name in self.tables or name in self.unusable

    def with_tables(self, **tables: pd.DataFrame) -> Snapshot:
        """A copy with some tables replaced (used by ``gate`` for the proposed state)."""
        return Snapshot(
            self.path, self.timezone, self.taken_at, {**self.tables, **tables},
            dict(self.table_hashes), list(self.sources), dict(self.unusable),
        )


def type_table(name: str, df: pd.DataFrame, tz: str, file: str) -> pd.DataFrame:
    """Type the known columns of ``df`` in place of the raw text; raise InputError on bad values."""
    problems: list[Problem] = []
    columns = TABLES.get(name, ())
    missing = [c.name for c in columns if c.required and c.name not in df.columns]
    if missing:
        raise InputError(Problem(f"table {name!r} lacks required column(s): {', '.join(missing)}", file, 1))
    df = df.copy(deep=False)
    for col in columns:
        if col.name not in df.columns:
            df[col.name] = _empty(col.type, len(df), tz)
            continue
        values = df[col.name]
        if col.type == "time":
            typed, bad = parse_times(values, tz)
            expected = "an ISO 8601 date or timestamp"
        elif col.type == "bool":
            typed, bad = _parse_bools(values)
            expected = "a boolean (true/false, 1/0, yes/no, 是/否)"
        elif col.type == "int":
            typed = pd.to_numeric(values, errors="coerce").astype("Int64")
            bad = values.notna() & typed.isna()
            expected = "a whole number"
        else:
            typed = values if values.dtype == "str" else values.astype("str").where(values.notna())
            bad = None
        if bad is not None and bad.any():
            for pos in bad.to_numpy().nonzero()[0][:MAX_BAD_VALUES_PER_COLUMN]:
                problems.append(
                    Problem(
                        f"row {pos + 1}, column {col.name!r}: {_short(values.iloc[pos])!r} is not {expected}",
                        file,
                        int(pos) + 2,
                    )
                )
        df[col.name] = typed
    if problems:
        raise InputError(problems)
    return df


def _short(value: object, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _empty(typ: str, n: int, tz: str) -> pd.Series:
    if typ == "time":
        return pd.Series(pd.NaT, index=range(n), dtype=f"datetime64[us, {tz}]")
    if typ == "bool":
        return pd.Series(False, index=range(n), dtype=bool)
    if typ == "int":
        return pd.Series(pd.NA, index=range(n), dtype="Int64")
    return pd.Series(pd.NA, index=range(n), dtype="str")


def _parse_bools(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Booleans per §3; an empty value is false (§5.1)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.fillna(False).astype(bool), pd.Series(False, index=values.index)
    text = values.astype("str").str.strip().str.lower()
    mapped = text.map(_BOOLS)
    present = values.notna() & (text != "")
    bad = present & mapped.isna()
    return mapped.eq(True).astype(bool), bad


def _contiguous(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns as one Arrow chunk each.

    Readers hand back a column in many chunks (row groups, CSV blocks), and Arrow's take
    on a chunked column concatenates the chunks first: selecting 500 rows of a 1M-row
    column cost ~20 ms instead of ~0.2 ms. Every policy selects rows many times, so the
    chunks are joined once here.
    """
    for col in df.columns:
        values = df[col].array
        if isinstance(values, pd.arrays.ArrowStringArray):
            chunked = values.__arrow_array__()
            if chunked.num_chunks > 1:
                joined = pa.chunked_array([chunked.combine_chunks()])
                df[col] = pd.Series(pd.arrays.ArrowStringArray(joined, dtype=values.dtype), index=df.index)
    return df


_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default "str"


def _read_file(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq  # only Parquet snapshots pay for the import

        # ParquetFile.read keeps each row group in one chunk; pd.read_parquet splits it into
        # 128k-row batches that _contiguous would have to join again (~0.3 s per 1M rows)
        table = pq.ParquetFile(path, memory_map=True).read()
        return table.to_pandas(types_mapper={pa.string(): _TEXT, pa.large_string(): _TEXT}.get)
    options = {"dtype": "str", "keep_default_na": False, "na_values": [""], "encoding": "utf-8-sig"}
    try:
        return pd.read_csv(path, engine="pyarrow", **options)  # multithreaded, ~4× the C parser
    except ValueError:
        # Arrow's reader refuses quoted newlines inside values; the C parser takes them
        # and reports real syntax errors with their line.
        return pd.read_csv(path, **options)


def _load_table(root: Path, manifest_path: Path, tz: str, name: str,
                entry: dict) -> tuple[pd.DataFrame | None, str | None, list[Problem]]:
    """One table of a snapshot: (typed frame, file sha256, problems)."""
    file = root / (entry.get("file") or f"{name}.csv")
    if not file.is_file():
        return None, None, [Problem(f"table {name!r}: file {file.name} is missing", str(manifest_path))]
    try:
        df = _contiguous(type_table(name, _read_file(file), tz, str(file)))
    except InputError as exc:
        return None, None, list(exc.problems)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        return None, None, [Problem(f"cannot read table {name!r}: {exc}", str(file))]
    actual = file_sha256(file)
    recorded = entry.get("sha256")
    if recorded and recorded.lower() != actual:
        return df, actual, [Problem(f"table {name!r}: sha256 {actual} differs from the manifest's {recorded}",
                                    str(file))]
    return df, actual, []


def read_snapshot(path: str | Path, only: set[str] | None = None) -> Snapshot:
    """Read and type a snapshot directory; any bad input raises InputError (exit 2).

    ``only``: read just these tables (``gate`` reads the access tables, not 1M archives);
    the others are absent from the Snapshot and named in its hashes by the manifest."""
    root = Path(path)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise InputError(Problem("not a snapshot: manifest.json is missing", str(root)))
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise InputError(Problem(f"invalid JSON: {exc.msg}", str(manifest_path), exc.lineno, exc.colno)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(Problem(f"cannot read: {exc}", str(manifest_path))) from None
    if not isinstance(manifest, dict):
        raise InputError(Problem("manifest must be a JSON object", str(manifest_path), 1, 1))
    fmt = manifest.get("format", FORMAT)
    if fmt != FORMAT:
        raise InputError(Problem(f"unsupported snapshot format {fmt!r} (expected {FORMAT})", str(manifest_path)))
    try:
        tz = check_timezone(manifest.get("timezone") or "UTC")
    except ValueError as exc:
        raise InputError(Problem(str(exc), str(manifest_path))) from None

    unusable: dict[str, str] = {}
    sources = manifest.get("sources") or []
    for src in sources:
        if src.get("status") == "error":
            for table in src.get("tables") or []:
                unusable[table] = f"source {src.get('name')!r} failed: {src.get('error') or 'no detail'}"

    entries = manifest.get("tables")
    if entries is None:
        entries = {
            p.stem: {"file": p.name}
            for p in sorted(root.iterdir())
            if p.suffix in (".csv", ".parquet") and p.is_file()
        }
    wanted = [(name, entry) for name, entry in entries.items()
              if name not in unusable and (only is None or name in only)]
    # tables load side by side: Parquet/CSV parsing, chunk joining and hashing run in Arrow
    # and hashlib without the GIL
    with ThreadPoolExecutor(min(4, len(wanted) or 1)) as pool:
        loaded = list(pool.map(lambda item: _load_table(root, manifest_path, tz, *item), wanted))
    tables = {name: df for (name, _), (df, _, _) in zip(wanted, loaded, strict=True) if df is not None}
    hashes = {name: h for (name, _), (_, h, _) in zip(wanted, loaded, strict=True) if h is not None}
    if only is not None:
        hashes |= {name: entry["sha256"] for name, entry in entries.items()
                   if name not in only and name not in unusable and entry.get("sha256")}
    problems = [p for _, _, found in loaded for p in found]
    if problems:
        raise InputError(problems)
    return Snapshot(root, tz, manifest.get("taken_at"), tables, hashes, sources, unusable)


def _to_text(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Render typed columns the way the reader reads them back (ISO times, true/false)."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
            out[col] = iso_text(s)
        elif pd.api.types.is_bool_dtype(s.dtype):
            out[col] = s.map({True: "true", False: "false"})
    return out


def write_snapshot(
    out_dir: str | Path,
    tables: dict[str, pd.DataFrame],
    *,
    sources: list[dict] | None = None,
    timezone: str = "UTC",
    taken_at: str | None = None,
    fmt: str = "csv",
) -> Path:
    """Write a complete snapshot atomically: it appears at ``out_dir`` whole or not at all."""
    check_timezone(timezone)
    taken_at = taken_at or dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")
    with atomic_dir(out_dir) as tmp:
        entries = {}
        for name, df in sorted(tables.items()):
            file = tmp / f"{name}.{fmt}"
            if fmt == "parquet":
                df.to_parquet(file, index=False)
            else:
                _to_text(df, name).to_csv(file, index=False, encoding="utf-8", lineterminator="\n")
            entries[name] = {"file": file.name, "rows": len(df), "sha256": file_sha256(file)}
        manifest = {
            "format": FORMAT,
            "taken_at": taken_at,
            "timezone": timezone,
            "sources": sources or [],
            "tables": entries,
        }
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
    return Path(out_dir)
