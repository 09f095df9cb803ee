"""``kind: sql`` — finance software read straight from its database (SQLAlchemy).

``profile: generic`` runs one SELECT per target table, written by the user. A
product profile (``profiles/<name>.yaml``: Tryton, Odoo, Yonyou U8, Kingdee K/3 WISE)
is the same thing shipped as data: the SELECTs that map that product's user, role,
permission and log tables onto snapshot tables. ``queries:`` overrides or adds to a
profile's queries per table, for a product version whose schema differs.

The password never appears in the URL written by the user: it comes from
``password_env`` / ``password_file`` and is merged into the URL object at connect
time, so it is in no log line, message or snapshot (SQLAlchemy masks it in reprs and
``redact`` scrubs driver messages).
"""

from __future__ import annotations

import functools
import json
import logging
import string
from fnmatch import fnmatchcase
from importlib import resources
from typing import Any

import yaml

from ledgerguard.scanner.lazy import pandas as pd
from ledgerguard.scanner.snapshot import TABLES

from ._common import SECRET_SCHEMA, read_secret, redact, resolve, text_frame
from .base import CONNECTORS, Connector, ConnectorError

log = logging.getLogger(__name__)
DEFAULT_MAX_ROWS = 5_000_000
DEFAULT_TIMEOUT = 30
DEFAULT_LANGUAGE = "en_US"
TEMPLATES_SCHEMA = {"oneOf": [{"type": "string", "minLength": 1},
                              {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}]}
_TIMEOUT_ARG = {"psycopg2": "connect_timeout", "psycopg": "connect_timeout", "pg8000": "timeout",
                "pymysql": "connect_timeout", "mysqldb": "connect_timeout", "pyodbc": "timeout",
                "pymssql": "login_timeout"}


@functools.cache
def profiles() -> dict[str, dict[str, Any]]:
    """The shipped product profiles, by name (the YAML files in ``profiles/``)."""
    out = {}
    for entry in resources.files("ledgerguard.connectors.profiles").iterdir():
        if entry.name.endswith(".yaml"):
            out[entry.name.removesuffix(".yaml")] = yaml.safe_load(entry.read_text(encoding="utf-8"))
    return dict(sorted(out.items()))


@CONNECTORS.register("sql")
class SqlConnector(Connector):
    settings_schema = {
        "type": "object",
        "required": ["url"],
        "properties": {
            "url": {"type": "string", "minLength": 1,
                    "description": "SQLAlchemy URL without the password, e.g. postgresql://ro@db/odoo"},
            **SECRET_SCHEMA,
            "profile": {"enum": ["generic", *profiles()], "default": "generic"},
            "queries": {
                "type": "object",
                "description": "table -> SELECT (generic: all of them; a profile: overrides)",
                "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
                "additionalProperties": {"type": "string", "minLength": 1},
            },
            "naive_times": {"enum": ["utc", "local"],
                            "description": "how to read timestamps without an offset "
                                           "(default: the profile's, else local = the snapshot timezone)"},
            "derive": {
                "type": "object",
                "description": "table -> column -> template(s): overrides the profile's derive "
                               "(e.g. accounts: {person_id: '{_login}'})",
                "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
                "additionalProperties": {"type": "object", "additionalProperties": TEMPLATES_SCHEMA},
            },
            "duties": {
                "type": "object",
                "description": "native permission glob -> the pack's duties (tried before the profile's)",
                "additionalProperties": {"type": "array", "items": {"type": "string", "minLength": 1}},
            },
            "language": {"type": "string", "minLength": 2, "default": DEFAULT_LANGUAGE,
                         "description": "language picked from translated (JSON) names"},
            "system": {"type": "string", "minLength": 1,
                       "description": "value of the system column (default: the source name)"},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "default": DEFAULT_TIMEOUT},
            "max_rows": {"type": "integer", "minimum": 1, "default": DEFAULT_MAX_ROWS,
                         "description": "a table with more rows fails the source (size limit)"},
        },
        "if": {"properties": {"profile": {"const": "generic"}}},
        "then": {"required": ["queries"]},
    }

    def _naive_utc(self) -> bool:
        profile = profiles().get(self.settings.get("profile", "generic"), {})
        return self.settings.get("naive_times", profile.get("naive_times", "local")) == "utc"

    def _profile(self) -> dict[str, Any]:
        return profiles().get(self.settings.get("profile", "generic"), {})

    def _queries(self) -> dict[str, dict[str, Any]]:
        spec = {table: dict(s) for table, s in (self._profile().get("tables") or {}).items()}
        for table, sql in (self.settings.get("queries") or {}).items():
            spec[table] = {"sql": sql}
        for table, templates in (self.settings.get("derive") or {}).items():
            if table in spec:
                spec[table]["derive"] = {**(spec[table].get("derive") or {}), **templates}
        return spec

    def _duties(self) -> list[tuple[str, list[str]]]:
        """The duty map, in the order it is tried: the source's entries, then the profile's."""
        own = self.settings.get("duties") or {}
        return [*own.items(), *((k, v) for k, v in (self._profile().get("duties") or {}).items() if k not in own)]

    def tables(self) -> list[str]:
        return sorted(self._queries())

    def _engine(self):
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(self.settings["url"])
        except ArgumentError:
            raise ConnectorError("url is not a valid SQLAlchemy URL") from None
        if url.password is not None:
            raise ConnectorError("the url carries a password: use password_env or password_file")
        secret = read_secret(self.settings, self.base_dir)
        if secret is not None:
            url = url.set(password=secret)
        timeout = self.settings.get("timeout_seconds", DEFAULT_TIMEOUT)
        connect_args: dict[str, Any] = {}
        if url.get_backend_name() == "sqlite":
            connect_args["timeout"] = timeout
            if url.database and url.database != ":memory:":
                # read-only, so a scan never writes to (or creates) the database it audits
                path = resolve(self.base_dir, url.database)
                if not path.is_file():
                    raise ConnectorError(f"SQLite database {path} does not exist")
                url = url.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})
        else:
            # each DBAPI driver names its connect timeout differently
            arg = _TIMEOUT_ARG.get(url.get_driver_name())
            if arg:
                connect_args[arg] = int(timeout) if arg != "timeout" else timeout
        return create_engine(url, connect_args=connect_args)

    def collect(self) -> dict[str, pd.DataFrame]:
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError, SQLAlchemyError

        system = self.settings.get("system") or self.source
        max_rows = self.settings.get("max_rows", DEFAULT_MAX_ROWS)
        out: dict[str, pd.DataFrame] = {}
        engine = self._engine()
        table = None
        try:
            with engine.connect() as conn:
                for table, spec in self._queries().items():
                    result = conn.execute(text(spec["sql"]))
                    rows = result.fetchmany(max_rows + 1)
                    if len(rows) > max_rows:
                        raise ConnectorError(f"table {table}: more than max_rows={max_rows} rows")
                    language = self.settings.get("language", DEFAULT_LANGUAGE)
                    rows = [_translate(r, spec.get("translated") or [], list(result.keys()), language)
                            for r in rows]
                    df = text_frame(rows, list(result.keys()))
                    df = _refuse_unreadable(df, spec.get("unreadable"), table)
                    df = _derive(df, spec.get("derive") or {}, system)
                    if table == "role_permissions" and (self._duties() or self.settings.get("duties")):
                        df, unmapped = map_duties(df, self._duties())
                        self.notes["unmapped_permissions"] = unmapped
                    out[table] = _mark_utc(df, table) if self._naive_utc() else df
                    log.debug("source %s: %s: %d rows", self.source, table, len(df))
        except SQLAlchemyError as exc:
            detail = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
            where = f"table {table}: " if table else "connect: "
            raise ConnectorError(redact(where + _message(detail))) from None
        finally:
            engine.dispose()
        return out


def _message(exc: BaseException) -> str:
    """The driver's own words, first line only (pg8000 gives a dict of server fields)."""
    first = exc.args[0] if exc.args else exc
    if isinstance(first, dict) and "M" in first:
        return f"{first['M']} (SQLSTATE {first.get('C', '?')})"
    lines = str(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


_NAIVE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"


def _mark_utc(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Products that store UTC without saying so (Tryton, Odoo): give naive times ``+00:00``."""
    for col in TABLES.get(table, ()):
        if col.type == "time" and col.name in df.columns:
            values = df[col.name]
            naive = values.str.match(_NAIVE, na=False)
            df.loc[naive, col.name] = values[naive].str.replace(" ", "T", n=1) + "+00:00"
    return df


def _refuse_unreadable(df: pd.DataFrame, templates: str | list[str] | None, table: str) -> pd.DataFrame:
    """Fail on the rows a profile says it cannot interpret; the frame as it is when there are none.

    A profile's ``unreadable:`` template (or list) is filled from each row; a row whose
    fields fill one is data the profile cannot read (K/3: mask bits no right explains).
    Collecting it anyway would drop or invent rights silently, so the source fails with
    the filled text, which names the product's table, row and column.
    """
    if not templates:
        return df
    messages = _fill(df.to_dict("records"), templates)
    bad = [m for m in messages if m is not None]
    if bad:
        more = f" (and {len(bad) - 3} more rows)" if len(bad) > 3 else ""
        raise ConnectorError(f"table {table}: " + "; ".join(" ".join(m.split()) for m in bad[:3]) + more
                             + "; override this table with queries: once you know what they mean")
    return df


def _fill(records: list[dict[str, Any]], templates: str | list[str]) -> list[str | None]:
    """Each row's first template whose fields are all non-empty, filled; else None."""
    choices = [templates] if isinstance(templates, str) else templates
    fields = [[f for _, f, _, _ in string.Formatter().parse(t) if f] for t in choices]
    values: list[str | None] = []
    for row in records:
        value = None
        for template, names in zip(choices, fields, strict=True):
            if all(isinstance(row.get(n), str) and row[n] for n in names):
                value = template.format_map(row)
                break
        values.append(value)
    return values


def _derive(df: pd.DataFrame, derive: dict[str, str | list[str]], system: str) -> pd.DataFrame:
    """Compose columns from templates, drop ``_`` helper columns, add ``system``.

    A template is ``"{_object}.{_right}"`` or a list of them: the first whose fields
    are all non-empty wins (``["{role}", "@{_holder}"]``). Templates keep profile SQL
    portable: string concatenation is ``||`` in SQLite/PostgreSQL but ``+`` in SQL Server.
    """
    records = df.to_dict("records")
    for column, templates in derive.items():
        df[column] = pd.Series(_fill(records, templates), index=df.index, dtype="str")
    df = df[[c for c in df.columns if not c.startswith("_")]]
    if "system" not in df.columns:
        df.insert(0, "system", system)
    return df


def _translate(row: tuple, columns: list[str], keys: list[str], language: str) -> tuple:
    """Translated names (Odoo 16+ JSONB ``{"en_US": …, "zh_CN": …}``) as one plain name.

    The driver hands JSONB over as a dict (psycopg, pg8000) or as JSON text (SQLite); the
    value in ``language`` wins, then ``en_US`` (Odoo's own fallback), then the first one.
    A plain string (Odoo ≤ 15) passes unchanged.
    """
    if not columns:
        return tuple(row)
    out = list(row)
    for col in columns:
        if col not in keys:
            continue
        i = keys.index(col)
        value = out[i]
        if isinstance(value, str) and value.startswith("{"):
            try:
                value = json.loads(value)
            except ValueError:
                continue
        if isinstance(value, dict) and value:
            out[i] = value.get(language) or value.get("en_US") or next(iter(value.values()))
    return tuple(out)


def map_duties(df: pd.DataFrame, duties: list[tuple[str, list[str]]]) -> tuple[pd.DataFrame, list[str]]:
    """Native permissions → the pack's duties; returns the rows and the unmapped natives.

    A glob written ``name:<glob>`` matches the product's own name for the permission
    (the ``permission_name`` column, e.g. U8's 审核凭证) instead of its code: products
    whose function codes differ between installations still name their functions.

    Every native row stays (policies may be written in the product's own names) and
    gains ``native_permission``; each duty it maps to is added as a row of its own with
    the native permission beside it as evidence. The first glob that matches decides,
    so the source's entries win over the profile's and an entry mapped to ``[]`` means
    "known, no duty of the pack". A ``deny`` is never carried over to a duty: the duty
    may still come from another native right, and hiding it could hide a conflict.
    """
    df = df.copy()
    df["native_permission"] = df["permission"]
    given = df["permission_name"] if "permission_name" in df.columns else [None] * len(df)
    names = [n if isinstance(n, str) and n else None for n in given]
    lookup: dict[tuple[str, str | None], list[str] | None] = {}
    for perm, name in zip(df["permission"], names, strict=True):
        if isinstance(perm, str) and (perm, name) not in lookup:
            lookup[perm, name] = _duties_of(perm, name, duties)
    unmapped = sorted({perm for (perm, _), mapped in lookup.items() if mapped is None})
    allow = df["effect"].fillna("allow").ne("deny") if "effect" in df.columns else pd.Series(True, df.index)
    extra = [{**row, "permission": duty}
             for row, name, keep in zip(df.to_dict("records"), names, allow, strict=True) if keep
             for duty in lookup.get((row["permission"], name)) or []]
    if extra:
        df = pd.concat([df, pd.DataFrame(extra, columns=df.columns, dtype="str")], ignore_index=True)
    return df, unmapped


NAME_PREFIX = "name:"


def _duties_of(perm: str, name: str | None, duties: list[tuple[str, list[str]]]) -> list[str] | None:
    """The first map entry matching the code, or (``name:`` entries) the product's name for it."""
    for glob, mapped in duties:
        if glob.startswith(NAME_PREFIX):
            if name is not None and fnmatchcase(name, glob[len(NAME_PREFIX):]):
                return mapped
        elif fnmatchcase(perm, glob):
            return mapped
    return None
