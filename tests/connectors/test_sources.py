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


#: a misspelt key, a literal password, a duplicate name
THREE_MISTAKES = """
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
"""


def test_all_errors_reported_with_line_and_column(tmp_path, cli):
    src = write_sources(tmp_path, THREE_MISTAKES + """\
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
    src = write_sources(tmp_path, THREE_MISTAKES, timezone="Mars/Olympus")
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


def test_every_kind_reports_settings_errors_at_their_line(tmp_path, cli):
    src = write_sources(tmp_path, """
        - name: db
          kind: sql
          url: sqlite:///x.db
          profile: tryton
          password_env: DB_PW
          password_file: db.pw
        - name: arch
          kind: archive_store
          catalog: c.csv
          root: r
          workers: 0
        - name: bk
          kind: backup_catalog
          path: x.json
          format: tar
        - name: ad
          kind: ldap
          url: http://dc1.example.org
          flavor: openldap
          base_dn: dc=example,dc=org
          page_size: many
        """)
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 2
    lines = [line for line in r.output.splitlines() if line.startswith("error: ")]
    assert [line.split(": ", 2)[1] for line in lines] == [
        f"{src}:7:5", f"{src}:12:14", f"{src}:16:13", f"{src}:19:10", f"{src}:22:16"]
    assert "give either password_env or password_file, not both" in lines[0]
    assert "workers: 0 is less than the minimum of 1" in lines[1]
    assert "format: 'tar' is not one of ['restic', 'borg', 'csv', 'xlsx']" in lines[2]
    assert "url: 'http://dc1.example.org'" in lines[3]
    assert "page_size: 'many' is not of type 'integer'" in lines[4]
    assert not (tmp_path / "snap").exists()
