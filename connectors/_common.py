"""What several connectors share: reading tabular files, mapping headers and values,
normalising dates, reading secrets and checking rows against the snapshot tables.

The file connector, the archive catalog and the CSV backup catalog all read "a table
somebody exported" the same way, so that reading lives here once. The module name
starts with ``_`` so the connector registry does not import it as a kind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from ledgerguard.scanner import limits
from ledgerguard.scanner.errors import InputError
from ledgerguard.scanner.lazy import pandas as pd
from ledgerguard.scanner.snapshot import TABLES, type_table

from .base import ConnectorError

MAX_PROBLEMS = 20
_ISO_START = re.compile(r"^\d{4}-\d{2}-\d{2}")

# JSON Schema fragments, merged into the settings schema of the kinds that use them.
MAPPING_SCHEMA: dict[str, Any] = {
    "columns": {
        "type": "object",
        "description": "source header -> snapshot column (e.g. 工号: person_id)",
        "additionalProperties": {"type": "string", "minLength": 1},
    },
    "values": {
        "type": "object",
        "description": "per column (source header or snapshot name): source value -> value",
        "additionalProperties": {
            "type": "object",
            "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
        },
    },
    "date_formats": {
        "type": "array",
        "description": "strptime formats tried, in order, on every time column that is not ISO 8601",
        "items": {"type": "string", "minLength": 1},
    },
}
TABULAR_SCHEMA: dict[str, Any] = {
    "format": {"enum": ["csv", "xlsx", "json"], "description": "default: from the file suffix"},
    "sheet": {"type": "string", "description": "XLSX sheet name (default: the first sheet)"},
    "encoding": {"type": "string", "default": "utf-8-sig"},
    "delimiter": {"type": "string", "minLength": 1, "maxLength": 1, "default": ","},
}
SECRET_SCHEMA: dict[str, Any] = {
    "password_env": {"type": "string", "minLength": 1, "description": "environment variable"},
    "password_file": {"type": "string", "minLength": 1, "description": "file holding the secret"},
}


def resolve(base_dir: Path, value: str) -> Path:
    """A path from the sources file: relative ones are relative to that file's folder."""
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else base_dir / p


_SECRETS: set[str] = set()


def read_secret(settings: dict[str, Any], base_dir: Path) -> str | None:
    """The password named by ``password_env`` or ``password_file``; never inline.

    Error messages name the variable or file, never its content; every secret read is
    remembered so ``redact`` can scrub it from any message a driver builds.
    """
    secret = None
    if settings.get("password_env"):
        var = settings["password_env"]
        if var not in os.environ:
            raise ConnectorError(f"environment variable {var} (password_env) is not set")
        secret = os.environ[var]
    elif settings.get("password_file"):
        path = resolve(base_dir, settings["password_file"])
        try:
            secret = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConnectorError(f"cannot read password_file {path}: {exc.strerror}") from None
    if secret:
        _SECRETS.add(secret)
    return secret


#: query parameters that carry a password in database and directory URLs (?password=, ODBC's PWD=)
_SECRET_PARAMS = re.compile(r"(?i)^(password|passwd|pwd|pass|secret|token)$")


def url_without_secret(url: str) -> str | None:
    """``url`` with an inline password masked as ``***``, or None when it carries none.

    Secrets come from ``password_env`` / ``password_file`` only; a URL holding one
    (``scheme://user:password@host``, ``?password=…``, ``PWD=…``) is refused by
    ``validate``, and the masked form is all any message may show of it.
    """
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # an unparsable port or bracket: no userinfo to find
        return None
    query = parse_qsl(parts.query, keep_blank_values=True)
    hidden = [(k, "***" if _SECRET_PARAMS.match(k) else v) for k, v in query]
    if password is None and hidden == query:
        return None
    netloc = parts.netloc
    if password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(hidden, safe="*")))


def redact(message: str) -> str:
    """``message`` with every secret read in this process (plain or URL-quoted) masked."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            message = message.replace(form, "***")
    return message


def text(value: Any) -> str | None:
    """One cell as snapshot text: dates ISO, whole floats without ``.0``, empty as None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        # always with its time: a bare date would be read in the snapshot timezone, so a
        # UTC midnight (naive_times: utc) would move by the zone's offset
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def text_frame(records: list[dict[str, Any]] | list[tuple], columns: list[str] | None = None) -> pd.DataFrame:
    """A frame of snapshot text from rows of Python values."""
    if records and isinstance(records[0], dict):
        columns = columns or list(dict.fromkeys(k for r in records for k in r))
        rows = [[text(r.get(c)) for c in columns] for r in records]  # type: ignore[union-attr]
    else:
        rows = [[text(v) for v in r] for r in records]
    return pd.DataFrame(rows, columns=columns, dtype="str")


def read_tabular(path: Path, settings: dict[str, Any]) -> pd.DataFrame:
    """Read a CSV, XLSX sheet or JSON list of objects as text; the header is row 1."""
    fmt = settings.get("format") or path.suffix.lower().lstrip(".")
    fmt = {"xlsm": "xlsx", "txt": "csv", "tsv": "csv"}.get(fmt, fmt)
    if not path.is_file():
        raise ConnectorError(f"{path}: no such file")
    try:
        if fmt == "csv":
            return pd.read_csv(
                path, dtype="str", keep_default_na=False, na_values=[""],
                encoding=settings.get("encoding", "utf-8-sig"),
                sep=settings.get("delimiter", ","),
            )
        if fmt == "xlsx":
            return _read_xlsx(path, settings.get("sheet"))
        if fmt == "json":
            data = json.loads(path.read_text(encoding=settings.get("encoding", "utf-8-sig")))
            if isinstance(data, dict) and len(data) == 1:
                data = next(iter(data.values()))
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise ConnectorError(f"{path}: expected a JSON list of objects")
            return text_frame(data)
    except ConnectorError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        raise ConnectorError(f"{path}: cannot read {fmt}: {exc}") from None
    raise ConnectorError(f"{path}: unknown file format {fmt!r} (csv, xlsx or json)")


def file_label(path: Path, settings: dict[str, Any]) -> str:
    """How row problems name the input: the file, and the sheet when one was chosen."""
    return f"{path}[{settings['sheet']}]" if settings.get("sheet") else str(path)


def _read_xlsx(path: Path, sheet: str | None) -> pd.DataFrame:
    """A sheet as text. A formula cell is read by the value its workbook cached when it was
    last calculated; a formula without one (written by a program that does not calculate,
    e.g. openpyxl), or in a workbook that marks every cached value stale (``fullCalcOnLoad``,
    e.g. xlsxwriter, which caches 0 for every formula), is an error naming sheet, cell and
    column — read as empty it would silently be false or "never"."""
    import openpyxl
    from openpyxl.utils import get_column_letter
    from openpyxl.utils.exceptions import InvalidFileException

    _check_xlsx_size(path)
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        formulas = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except (InvalidFileException, KeyError, OSError) as exc:
        raise ConnectorError(f"{path}: not a readable XLSX workbook ({exc})") from None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise ConnectorError(
                f"{path}: no sheet {sheet!r} (sheets: {', '.join(wb.sheetnames)})"
            )
        ws = wb[sheet] if sheet else wb.worksheets[0]
        stale = bool(wb.calculation is not None and wb.calculation.fullCalcOnLoad)
        rows = zip(ws.iter_rows(values_only=True), formulas[ws.title].iter_rows(values_only=True), strict=False)
        first = next(rows, None)
        if first is None:
            return pd.DataFrame()
        names = [text(h) or f"column{i + 1}" for i, h in enumerate(first[0])]
        body, problems = [], []
        for n, (values, raw) in enumerate(rows, start=2):
            if len(body) == limits.MAX_XLSX_ROWS:
                raise ConnectorError(f"{path}: the sheet has more than {limits.MAX_XLSX_ROWS:,} rows (the limit)")
            values = tuple(_cell(v) for v in values[: len(names)]) + (None,) * (len(names) - len(values))
            for i, f in enumerate(raw[: len(names)]):
                if isinstance(f, str) and f.startswith("=") and (stale or values[i] is None):
                    why = ("the workbook marks its cached values stale (recalculate on load)" if stale
                           else "it has no cached value")
                    problems.append(f"{path}: sheet {ws.title!r}, cell {get_column_letter(i + 1)}{n} "
                                    f"(column {names[i]!r}): formula {f[:60]} cannot be read: {why}; "
                                    "open and save the file in Excel or LibreOffice, or export values")
            body.append(values)
    finally:
        wb.close()
        formulas.close()
    if problems:
        raise ConnectorError("\n".join(problems[:MAX_PROBLEMS]))
    return text_frame(body, names)


def _cell(value: Any) -> Any:
    """An XLSX date cell arrives as a naive midnight datetime: keep it a date (same
    meaning, as naive workbook values are read in the snapshot timezone)."""
    if isinstance(value, dt.datetime) and value.tzinfo is None and value.time() == dt.time(0):
        return value.date()
    return value


def _check_xlsx_size(path: Path) -> None:
    """A zip bomb (1 MB that inflates to 3M rows) is refused from the zip directory, before
    openpyxl inflates anything."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            total = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise ConnectorError(f"{path}: not a readable XLSX workbook ({exc})") from None
    if total > limits.MAX_XLSX_UNCOMPRESSED:
        raise ConnectorError(f"{path}: {total:,} bytes uncompressed, more than "
                             f"{limits.size_text(limits.MAX_XLSX_UNCOMPRESSED)} (the limit)")


def apply_mapping(df: pd.DataFrame, table: str, settings: dict[str, Any], file: str,
                  tz: str, *, check: bool = True) -> pd.DataFrame:
    """Rename headers, map values, normalise dates, then check every row.

    Every bad value is reported with file, row (the line/sheet row) and column, in the
    source's own header and the snapshot column name. ``check=False`` skips the row
    check for input known to have passed it (``collect`` checks every table again).
    """
    columns: dict[str, str] = settings.get("columns") or {}
    df = df.rename(columns=columns)
    back = {target: source for source, target in columns.items()}
    for col, mapping in (settings.get("values") or {}).items():
        target = columns.get(col, col)
        if target in df.columns:
            lookup = {str(k): text(v) for k, v in mapping.items()}
            df[target] = df[target].map(lambda v, m=lookup: m.get(v.strip(), v) if isinstance(v, str) else v)
    problems: list[str] = []
    formats = settings.get("date_formats") or []
    time_cols = [c.name for c in TABLES.get(table, ()) if c.type == "time" and c.name in df.columns]
    for col in time_cols:
        df[col], bad = _normalise_dates(df[col], formats)
        for pos, raw in bad[: MAX_PROBLEMS]:
            problems.append(
                f"{file}:{pos + 2}: row {pos + 1}, column {_label(col, back)}: {raw!r} is not "
                f"an ISO date{' or ' + ' / '.join(formats) if formats else ''}"
            )
    if problems:
        raise ConnectorError("\n".join(problems[:MAX_PROBLEMS]))
    if check:
        check_rows(table, df, tz, file, back)
    return df


def _label(col: str, back: dict[str, str]) -> str:
    return f"{back[col]!r} ({col})" if col in back else repr(col)


def _normalise_dates(values: pd.Series, formats: list[str]) -> tuple[pd.Series, list[tuple[int, str]]]:
    """Values in a configured format become ISO text; ISO values pass; others are bad."""
    cache: dict[str, str | None] = {}
    bad: list[tuple[int, str]] = []
    out = []
    for pos, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            out.append(None)
            continue
        raw = value.strip()
        if raw not in cache:
            cache[raw] = raw if _ISO_START.match(raw) else _strptime(raw, formats)
        if cache[raw] is None:
            bad.append((pos, raw))
        out.append(cache[raw] or raw)
    return pd.Series(out, index=values.index, dtype="str"), bad


def _strptime(raw: str, formats: list[str]) -> str | None:
    for fmt in formats:
        try:
            parsed = dt.datetime.strptime(raw, fmt)
        except ValueError:
            continue
        timed = any(d in fmt for d in ("%H", "%I", "%M", "%S", "%X", "%c"))
        return parsed.isoformat() if timed else parsed.date().isoformat()
    return None


def check_rows(table: str, df: pd.DataFrame, tz: str, file: str,
               back: dict[str, str] | None = None) -> None:
    """Type-check ``df`` as snapshot table ``table``; malformed rows fail the source."""
    try:
        type_table(table, df, tz, file)
    except InputError as exc:
        lines = []
        for p in exc.problems:
            message = p.message
            for target, source in (back or {}).items():
                message = message.replace(f"column {target!r}", f"column {source!r} ({target})")
            lines.append(str(type(p)(message, p.file, p.line, p.column)))
        raise ConnectorError("\n".join(lines)) from None
