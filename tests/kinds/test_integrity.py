"""archive_integrity through the real CLI: hashes, files, formats, metadata, custody."""

from __future__ import annotations

from kindtest import hits, scan

from conftest import policy_pack

POLICY = """
id: INT-T
kind: archive_integrity
title: {en: Archive integrity, zh: 电子会计档案四性检测}
severity: high
params:
  allowed_formats: [ofd, pdf, xml, jpg, png, tif]
  required_fields: [title, fonds, fiscal_year, category]
"""
HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def _arc(archive_id, **kw):
    row = {"archive_id": archive_id, "category": "记账凭证", "fiscal_year": "2025", "title": "2025年12月记账凭证",
           "fonds": "Q001", "path": f"2025/{archive_id}.pdf", "format": "pdf", "sha256": HASH,
           "actual_sha256": HASH.upper(), "file_exists": "true", "status": "active"}
    return {**row, **kw}


def test_every_finding_code_and_custody(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({"archives": [
        _arc("A1"),                                                   # fine (digests differ only in case)
        _arc("A2", sha256=""),                                        # hash_missing (+ nothing else)
        _arc("A3", file_exists="false", actual_sha256=""),            # file_missing
        _arc("A4", actual_sha256="00" * 32),                          # hash_mismatch
        _arc("A5", actual_sha256=""),                                 # not_verified
        _arc("A6", format="docx"), _arc("A6b", format="OFD"), _arc("A6c", format=""),
        _arc("A7", title="", fonds=" "),                              # metadata_missing
        _arc("A8", status="destroyed", sha256="", file_exists="", actual_sha256=""),
        _arc("A9", status="transferred", actual_sha256="ab" * 32),
    ]})
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(POLICY)), tmp_path / "out")
    assert code == 1
    assert hits(doc) == {
        ("hash_missing", "archive:A2"), ("file_missing", "archive:A3"), ("hash_mismatch", "archive:A4"),
        ("not_verified", "archive:A5"), ("format_not_allowed", "archive:A6"), ("format_not_allowed", "archive:A6c"),
        ("metadata_missing", "archive:A7"),
    }
    f = {f["code"] + f["subject"]: f for f in doc["findings"]}
    assert f["not_verified" + "archive:A5"]["severity"] == "low"
    assert f["hash_mismatch" + "archive:A4"]["severity"] == "high"
    assert f["metadata_missing" + "archive:A7"]["evidence"]["missing_fields"] == ["title", "fonds"]
    assert f["format_not_allowed" + "archive:A6"]["evidence"]["format"] == "docx"
    assert "2025/A3.pdf" in f["file_missing" + "archive:A3"]["message"]


def test_unknown_required_field_is_an_error(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({"archives": [_arc("A1")]})
    policy = POLICY.replace("[title, fonds, fiscal_year, category]", "[title, 档号]")
    pack = write_yaml("p.yaml", policy_pack(policy))
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", tmp_path)
    assert result.exit_code == 3
    assert "档号" in (tmp_path / "findings.json").read_text(encoding="utf-8")


def test_extra_columns_can_be_required(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({"archives": [_arc("A1", 档号="Q001-2025-KJ-0001"), _arc("A2", 档号="")]})
    policy = POLICY.replace("[title, fonds, fiscal_year, category]", "[档号]")
    _, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(policy)), tmp_path / "out")
    assert hits(doc) == {("metadata_missing", "archive:A2")}
    assert "档号" in doc["findings"][0]["message"]


def test_differ_is_the_normalised_comparison() -> None:
    """``_differ`` against the plain pandas meaning: differ after stripping and lower-casing,
    and a missing digest on either side differs; the index is the columns'."""
    import pandas as pd

    from ledgerguard.scanner.kinds.integrity import _differ

    recorded = pd.Series(["ab", "AB", " ab ", None, "ab", "cd", None], dtype="str", index=range(10, 17))
    actual = pd.Series(["ab", "ab", "ab", "ab", None, "ce", None], dtype="str", index=range(10, 17))
    want = (recorded.str.strip().str.lower() != actual.str.strip().str.lower()).fillna(True).astype(bool)
    pd.testing.assert_series_equal(_differ(recorded, actual), want)
