"""kind: archive_store — real files: hashes, magic-byte formats, path escapes, incremental cache."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile

import pandas as pd
import pytest
from connector_helpers import write_sources

from ledgerguard.connectors.archive_store import ArchiveStoreConnector
from ledgerguard.connectors.base import ConnectorError

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def zip_bytes(names: list[str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n in names:
            zf.writestr(n, "<ofd/>")
    return buf.getvalue()


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "store"
    (root / "2015").mkdir(parents=True)
    files = {
        "2015/v1.pdf": b"%PDF-1.7\n" + os.urandom(3 * 1024 * 1024),  # several hash chunks
        "2015/inv.ofd": zip_bytes(["OFD.xml", "Doc_0/Document.xml"]),
        "2015/other.zip": zip_bytes(["readme.txt"]),
        "2015/meta.xml": b"\xef\xbb\xbf<?xml version='1.0'?><a/>",
        "2015/scan.jpg": b"\xff\xd8\xff\xe0" + b"\x00" * 30,
        "2015/scan.png": PNG,
        "2015/scan.tif": b"II*\x00" + b"\x00" * 30,
        "2015/notes.txt": b"hello",
    }
    for rel, data in files.items():
        (root / rel).write_bytes(data)
    (tmp_path / "secret.txt").write_bytes(b"outside the root")
    (root / "2015" / "link.pdf").symlink_to(tmp_path / "secret.txt")
    rows = [(f"A-{i}", rel) for i, rel in enumerate(files)] + [
        ("A-missing", "2015/gone.pdf"),
        ("A-up", "../secret.txt"),
        ("A-abs", str(tmp_path / "secret.txt")),
        ("A-link", "2015/link.pdf"),
    ]
    lines = ["档案号,类别,年度,路径,sha256"]
    for aid, rel in rows:
        digest = hashlib.sha256(files[rel]).hexdigest() if rel in files else ""
        lines.append(f"{aid},voucher,2015,{rel},{digest}")
    (tmp_path / "catalog.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path, files


SOURCE = """
- name: archive
  kind: archive_store
  catalog: catalog.csv
  root: store
  cache: cache/hashes.json
  columns: {档案号: archive_id, 类别: category, 年度: fiscal_year, 路径: path}
"""


def test_hashes_formats_and_refused_paths(store, cli):
    tmp_path, files = store
    r = cli("collect", "--sources", write_sources(tmp_path, SOURCE), "--out", tmp_path / "snap")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(tmp_path / "snap" / "archives.csv", dtype=str, keep_default_na=False).set_index("path")
    for rel, data in files.items():
        assert df.loc[rel, "actual_sha256"] == hashlib.sha256(data).hexdigest() == df.loc[rel, "sha256"]
        assert df.loc[rel, "file_exists"] == "true"
        assert df.loc[rel, "size_bytes"] == str(len(data))
    assert {rel: df.loc[rel, "format"] for rel in files} == {
        "2015/v1.pdf": "pdf", "2015/inv.ofd": "ofd", "2015/other.zip": "zip", "2015/meta.xml": "xml",
        "2015/scan.jpg": "jpg", "2015/scan.png": "png", "2015/scan.tif": "tif",
        "2015/notes.txt": "unknown"}
    assert df.loc["2015/gone.pdf", "file_exists"] == "false"
    assert df.loc["2015/gone.pdf", "path_error"] == ""
    for refused in ("../secret.txt", str(tmp_path / "secret.txt"), "2015/link.pdf"):
        assert df.loc[refused, "file_exists"] == "false"
        assert df.loc[refused, "actual_sha256"] == ""
        assert "refused" in df.loc[refused, "path_error"]
    cache = json.loads((tmp_path / "cache" / "hashes.json").read_text())
    assert set(cache["files"]) == set(files)  # refused and missing files are not cached


def test_second_run_reads_no_file_and_a_changed_file_is_reread(store):
    tmp_path, files = store
    settings = {"catalog": "catalog.csv", "root": "store", "cache": "cache/hashes.json",
                "columns": {"档案号": "archive_id", "类别": "category", "年度": "fiscal_year", "路径": "path"}}
    first = ArchiveStoreConnector("archive", settings, tmp_path, "UTC")
    out1 = first.collect()["archives"]
    assert first.files_read == len(files)
    second = ArchiveStoreConnector("archive", settings, tmp_path, "UTC")
    out2 = second.collect()["archives"]
    assert second.files_read == 0
    pd.testing.assert_frame_equal(out1, out2)
    (tmp_path / "store" / "2015" / "scan.png").write_bytes(PNG + b"changed")
    third = ArchiveStoreConnector("archive", settings, tmp_path, "UTC")
    out3 = third.collect()["archives"].set_index("path")
    assert third.files_read == 1
    assert out3.loc["2015/scan.png", "actual_sha256"] == hashlib.sha256(PNG + b"changed").hexdigest()
    assert out3.loc["2015/scan.png", "actual_sha256"] != out3.loc["2015/scan.png", "sha256"]


def test_json_catalog_and_missing_root(tmp_path, cli):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "a.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "cat.json").write_text(json.dumps({"archives": [
        {"archive_id": "A1", "category": "ledger", "fiscal_year": 2020, "path": "a.pdf", "format": "ofd"}]}))
    src = write_sources(tmp_path, """
        - {name: a, kind: archive_store, catalog: cat.json, root: root}
        - {name: b, kind: archive_store, catalog: cat.json, root: nowhere}
        """)
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap", "--partial")
    assert r.exit_code == 3
    assert "source b (archive_store) FAILED: archive root" in r.output and "is not a folder" in r.output
    df = pd.read_csv(tmp_path / "snap" / "archives.csv", dtype=str, keep_default_na=False)
    # the sniffed format wins over the catalog's claim, which is kept beside it
    assert df[["archive_id", "format", "catalog_format", "file_exists"]].values.tolist() == [
        ["A1", "pdf", "ofd", "true"]]


def test_damaged_cache_only_costs_a_reread(store):
    tmp_path, files = store
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "hashes.json").write_text("{not json")
    settings = {"catalog": "catalog.csv", "root": "store", "cache": "cache/hashes.json",
                "columns": {"档案号": "archive_id", "类别": "category", "年度": "fiscal_year", "路径": "path"}}
    c = ArchiveStoreConnector("archive", settings, tmp_path, "UTC")
    out = c.collect()["archives"].set_index("path")
    assert c.files_read == len(files)
    assert out.loc["2015/scan.png", "actual_sha256"] == hashlib.sha256(PNG).hexdigest()
    assert json.loads((tmp_path / "cache" / "hashes.json").read_text())["format"] == "ledgerguard-hash-cache/2"


def test_bad_catalog_row_names_file_row_and_column(store, cli):
    tmp_path, _ = store
    catalog = tmp_path / "catalog.csv"
    lines = catalog.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace(",2015,", ",二〇一五,")
    catalog.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = cli("collect", "--sources", write_sources(tmp_path, SOURCE), "--out", tmp_path / "snap")
    assert r.exit_code == 3
    assert f"{catalog}:3: row 2, column '年度' (fiscal_year): '二〇一五' is not a whole number" in r.output
    assert not (tmp_path / "snap").exists()


def test_a_changed_catalog_is_checked_again(store):
    """The cache skips re-checking an unchanged catalog, never a changed one."""
    tmp_path, _ = store
    settings = {"catalog": "catalog.csv", "root": "store", "cache": "cache/hashes.json",
                "columns": {"档案号": "archive_id", "类别": "category", "年度": "fiscal_year", "路径": "path"}}
    assert len(ArchiveStoreConnector("archive", settings, tmp_path, "UTC").collect()["archives"]) == 12
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(catalog.read_text(encoding="utf-8").replace(",2015,", ",MMXV,", 1),
                       encoding="utf-8")
    with pytest.raises(ConnectorError, match=r"catalog.csv:2: row 1, column '年度' \(fiscal_year\)"):
        ArchiveStoreConnector("archive", settings, tmp_path, "UTC").collect()


def test_path_spellings_and_folder_symlinks(store):
    tmp_path, files = store
    root = tmp_path / "store"
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "v1.pdf").write_bytes(b"%PDF-outside")
    (root / "escape").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "alias").symlink_to(root / "2015", target_is_directory=True)
    (root / "2015" / "inner.pdf").symlink_to(root / "2015" / "v1.pdf")
    paths = ["2015\\scan.png", "./2015//scan.png", "2015/../2015/scan.png", "alias/scan.png",
             "2015/inner.pdf", "escape/v1.pdf", "alias/../escape/v1.pdf", "2015/../../secret.txt",
             "2015", "alias/gone.pdf"]
    (tmp_path / "cat2.csv").write_text(
        "archive_id,category,fiscal_year,path\n"
        + "".join(f"B{i},voucher,2015,{p}\n" for i, p in enumerate(paths)), encoding="utf-8")
    settings = {"catalog": "cat2.csv", "root": "store", "cache": "cache2.json"}
    df = ArchiveStoreConnector("archive", settings, tmp_path, "UTC").collect()["archives"].fillna("")
    got = dict(zip(df["path"], zip(df["file_exists"], df["actual_sha256"], df["path_error"],
                                   strict=True), strict=True))
    png = hashlib.sha256(files["2015/scan.png"]).hexdigest()
    for same in paths[:4]:  # one file, four spellings (a folder symlink inside the root is fine)
        assert got[same] == ("true", png, ""), same
    assert got["2015/inner.pdf"][:2] == ("true", hashlib.sha256(files["2015/v1.pdf"]).hexdigest())
    for refused in ("escape/v1.pdf", "alias/../escape/v1.pdf", "2015/../../secret.txt"):
        assert got[refused][:2] == ("false", ""), refused
        assert "leaves the archive root" in got[refused][2], refused
    assert got["2015"] == ("false", "", "not a regular file")
    assert got["alias/gone.pdf"] == ("false", "", "")
    cache = json.loads((tmp_path / "cache2.json").read_text())
    assert set(cache["files"]) == {"2015/scan.png", "2015/v1.pdf"}  # keyed by the real path
