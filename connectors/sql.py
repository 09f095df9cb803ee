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
import logging
import string
from importlib import resources
from typing import Any

import pandas as pd
import yaml

from ledgerguard.scanner.snapshot import TABLES

from ._common import SECRET_SCHEMA, read_secret, redact, resolve, text_frame
from .base import CONNECTORS, Connector, ConnectorError

log = logging.getLogger(__name__)
DEFAULT_MAX_ROWS = 5_000_000
DEFAULT_TIMEOUT = 30
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

    def _queries(self) -> dict[str, dict[str, Any]]:
        profile = self.settings.get("profile", "generic")
        spec = {} if profile == "generic" else dict(profiles()[profile]["tables"])
        for table, sql in (self.settings.get("queries") or {}).items():
            spec[table] = {"sql": sql}
        return spec

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
                    df = text_frame([tuple(r) for r in rows], list(result.keys()))
                    df = _derive(df, spec.get("derive") or {}, system)
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


def _derive(df: pd.DataFrame, derive: dict[str, str | list[str]], system: str) -> pd.DataFrame:
    """Compose columns from templates, drop ``_`` helper columns, add ``system``.

    A template is ``"{_object}.{_right}"`` or a list of them: the first whose fields
    are all non-empty wins (``["{role}", "@{_holder}"]``). Templates keep profile SQL
    portable: string concatenation is ``||`` in SQLite/PostgreSQL but ``+`` in SQL Server.
    """
    records = df.to_dict("records")
    for column, templates in derive.items():
        choices = [templates] if isinstance(templates, str) else templates
        fields = [[f for _, f, _, _ in string.Formatter().parse(t) if f] for t in choices]
        values = []
        for row in records:
            value = None
            for template, names in zip(choices, fields, strict=True):
                if all(isinstance(row.get(n), str) and row[n] for n in names):
                    value = template.format_map(row)
                    break
            values.append(value)
        df[column] = pd.Series(values, index=df.index, dtype="str")
    df = df[[c for c in df.columns if not c.startswith("_")]]
    if "system" not in df.columns:
        df.insert(0, "system", system)
    return df
