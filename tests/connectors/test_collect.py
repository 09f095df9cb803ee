"""collect: atomic snapshots, failure isolation, exit codes, progress, scan --sources."""

from __future__ import annotations

import json

from connector_helpers import write_sources

from ledgerguard.scanner.collect import collect
from ledgerguard.scanner.snapshot import read_snapshot

GOOD = """
- name: hr
  kind: file
  path: hr.csv
  table: identities
"""
BAD = """
- name: fin
  kind: file
  path: accounts.csv
  table: accounts
"""


def files(tmp_path, accounts_ok: bool):
    (tmp_path / "hr.csv").write_text("person_id,status\nP1,active\nP2,departed\n")
    enabled = "true" if accounts_ok else "perhaps"
    (tmp_path / "accounts.csv").write_text(f"system,account_id,person_id,enabled\nfin,zs,P2,{enabled}\n")


def test_failed_source_leaves_no_snapshot_and_keeps_the_old_one(tmp_path, cli):
    files(tmp_path, accounts_ok=True)
    src = write_sources(tmp_path, GOOD + BAD)
    out = tmp_path / "snap"
    assert cli("collect", "--sources", src, "--out", out).exit_code == 0
    before = (out / "manifest.json").read_text()
    files(tmp_path, accounts_ok=False)
    r = cli("collect", "--sources", src, "--out", out)
    assert r.exit_code == 3
    assert "source fin (file) FAILED: " in r.output and "'perhaps' is not a boolean" in r.output
    assert "no snapshot written" in r.output
    assert (out / "manifest.json").read_text() == before  # the earlier snapshot is untouched
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp left


def test_partial_snapshot_marks_the_failed_tables_unusable(tmp_path, cli):
    files(tmp_path, accounts_ok=False)
    out = tmp_path / "snap"
    r = cli("collect", "--sources", write_sources(tmp_path, GOOD + BAD), "--out", out, "--partial")
    assert r.exit_code == 3
    manifest = json.loads((out / "manifest.json").read_text())
    fin = next(s for s in manifest["sources"] if s["name"] == "fin")
    assert fin["status"] == "error" and fin["tables"] == ["accounts"] and "perhaps" in fin["error"]
    assert set(manifest["tables"]) == {"identities"}
    snap = read_snapshot(out)
    assert "accounts" in snap.unusable and "identities" in snap.tables


def test_same_table_from_two_sources_is_concatenated(tmp_path):
    files(tmp_path, accounts_ok=True)
    (tmp_path / "more.csv").write_text("system,account_id,enabled\nhr,admin,false\n")
    src = write_sources(tmp_path, BAD + "- {name: hrsys, kind: file, path: more.csv, table: accounts}\n")
    result = collect(src, tmp_path / "snap")
    assert result.tables == {"accounts": 2}
    assert read_snapshot(tmp_path / "snap").tables["accounts"]["account_id"].tolist() == ["zs", "admin"]


def test_progress_only_when_asked(tmp_path, capsys):
    (tmp_path / "root").mkdir()
    lines = ["archive_id,category,fiscal_year,path"]
    for i in range(120):
        (tmp_path / "root" / f"{i}.pdf").write_bytes(b"%PDF-" + bytes([i]))
        lines.append(f"A{i},voucher,2020,{i}.pdf")
    (tmp_path / "cat.csv").write_text("\n".join(lines) + "\n")
    src = write_sources(tmp_path, "- {name: arch, kind: archive_store, catalog: cat.csv, root: root}\n")
    collect(src, tmp_path / "s1", progress=True)
    err = capsys.readouterr().err
    assert "[1/1] arch (archive_store)" in err and "arch: 120/120 files hashed" in err
    collect(src, tmp_path / "s2", progress=False)
    assert capsys.readouterr().err == ""


def test_bad_sources_file_is_exit_2(tmp_path, cli):
    src = write_sources(tmp_path, "- {name: x, kind: file, table: identities}\n")
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 2
    assert f"{src}:2:5: 'path' is a required property" in r.output
    assert not (tmp_path / "snap").exists()


def test_scan_with_sources_collects_then_scans(tmp_path, cli):
    files(tmp_path, accounts_ok=False)
    src = write_sources(tmp_path, GOOD + BAD)
    r = cli("scan", "--sources", src, "--out", tmp_path / "out", "--format", "json", "--as-of", "2026-11-23")
    assert r.exit_code == 3, r.output
    assert "source fin (file) FAILED" in r.output
    doc = json.loads((tmp_path / "out" / "findings.json").read_text())
    sources = {s["name"]: s["status"] for s in doc["scan"]["snapshot"]["sources"]}
    assert sources == {"hr": "ok", "fin": "error"}
    errored = [p for p in doc["policies"] if p["status"] == "error"]
    # the policies that read accounts end in error because the source failed, never pass
    assert any("table 'accounts' is unusable: source 'fin' failed" in p["error"] for p in errored)


def test_out_that_is_not_a_snapshot_is_never_replaced(tmp_path, cli):
    files(tmp_path, accounts_ok=True)
    src = write_sources(tmp_path, GOOD)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.txt").write_text("precious")
    (tmp_path / "notes.txt").write_text("precious")
    r = cli("collect", "--sources", src, "--out", tmp_path / "docs")
    assert r.exit_code == 2
    assert "is a folder that is not a snapshot (no manifest.json): refusing to replace it" in r.output
    assert cli("collect", "--sources", src, "--out", tmp_path / "notes.txt").exit_code == 2
    assert (tmp_path / "docs" / "thesis.txt").read_text() == "precious"
    assert (tmp_path / "notes.txt").read_text() == "precious"
    (tmp_path / "empty").mkdir()
    assert cli("collect", "--sources", src, "--out", tmp_path / "empty").exit_code == 0
