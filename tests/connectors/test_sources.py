"""sources.yaml: schema built from the connector registry, every error located."""

from __future__ import annotations

import pytest
from connector_helpers import write_sources

from ledgerguard.connectors.base import CONNECTORS
from ledgerguard.connectors.sources import load_sources, source_schema
from ledgerguard.scanner.errors import InputError


def test_every_registered_kind_has_a_settings_schema():
    for kind in ("file", "sql", "archive_store", "backup_catalog"):
        assert kind in CONNECTORS.names()
        schema = source_schema(kind)
        assert schema["additionalProperties"] is False
        assert {"name", "kind"} <= set(schema["required"])


def test_all_errors_reported_with_line_and_column(tmp_path, cli):
    src = write_sources(tmp_path, """
        - name: hr
          kind: file
          path: hr.csv
          tabel: identities
        - name: erp
          kind: sql
          url: sqlite:///x.db
          password: hunter2
        - name: hr
          kind: backup_catalog
          path: r.json
          format: restic
        - name: x
          kind: ftp
        """, timezone="Mars/Olympus")
    r = cli("validate", src)
    assert r.exit_code == 2
    out = r.output
    assert "hunter2" not in out
    # kind 'ftp' is refused first: the outer schema (every kind's name) is checked before settings
    assert f"{src}:16:11: sources/3/kind: 'ftp' is not one of" in out


def test_settings_errors_are_located(tmp_path):
    src = write_sources(tmp_path, """
        - name: hr
          kind: file
          path: hr.csv
          tabel: identities
        - name: erp
          kind: sql
          url: sqlite:///x.db
          password: hunter2
        - name: hr
          kind: backup_catalog
          path: r.json
          format: restic
        """, timezone="Mars/Olympus")
    with pytest.raises(InputError) as exc:
        load_sources(src)
    text = str(exc.value)
    assert f"{src}:3:5: 'table' is a required property" in text
    assert f"{src}:6:5: unknown key 'tabel'" in text
    assert f"{src}:7:5: 'queries' is a required property" in text  # generic sql without queries
    assert f"{src}:10:5: 'password' may not be written inline: use password_env or password_file" in text
    assert "unknown key 'password'" not in text
    assert "hunter2" not in text
    assert f"{src}:11:11: duplicate source name 'hr' (first at line 3)" in text
    assert f"{src}:1:11: unknown timezone 'Mars/Olympus'" in text
    assert "[schema: " in text


def test_profile_sql_needs_no_queries(tmp_path):
    src = write_sources(tmp_path, """
        - {name: erp, kind: sql, url: "sqlite:///x.db", profile: tryton}
        """)
    spec = load_sources(src)
    assert spec.base_dir == tmp_path and spec.timezone == "UTC"
    assert spec.sources[0].settings == {"url": "sqlite:///x.db", "profile": "tryton"}
