"""Snapshot reading: typing, timezones, required columns, bad values located."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from ledgerguard.scanner import limits, snapshot
from ledgerguard.scanner.errors import InputError
from ledgerguard.scanner.snapshot import digest_text, is_digest, read_snapshot, write_snapshot

IDS = [{"person_id": "P1", "name": "张三", "status": "active"}]


def test_booleans_accept_chinese_and_english_and_empty_is_false(make_snapshot):
    snap = read_snapshot(make_snapshot({"accounts": [
        {"system": "erp", "account_id": a, "enabled": v}
        for a, v in [("a", "是"), ("b", "否"), ("c", "TRUE"), ("d", "0"), ("e", ""), ("f", "yes")]
    ]}))
    assert snap.tables["accounts"]["enabled"].tolist() == [True, False, True, False, False, True]


def test_mixed_time_forms_are_converted_to_the_snapshot_timezone(make_snapshot):
    snap = read_snapshot(make_snapshot({"accounts": [
        {"system": "erp", "account_id": "a", "enabled": "1", "last_login_at": "2026-11-20"},
        {"system": "erp", "account_id": "b", "enabled": "1", "last_login_at": "2026-11-20T23:30:00Z"},
        {"system": "erp", "account_id": "c", "enabled": "1", "last_login_at": "2026-11-20 08:00:00"},
        {"system": "erp", "account_id": "d", "enabled": "1", "last_login_at": "2026-11-20T08:00:00+09:00"},
    ]}, timezone="Asia/Shanghai"))
    got = snap.tables["accounts"]["last_login_at"]
    assert [t.isoformat() for t in got] == [
        "2026-11-20T00:00:00+08:00",
        "2026-11-21T07:30:00+08:00",  # Z → next local day
        "2026-11-20T08:00:00+08:00",  # naive → local
        "2026-11-20T07:00:00+08:00",
    ]


def test_reading_a_snapshot_turns_numpys_huge_page_mark_off(make_snapshot):
    """docs/snapshot.md: arrays in small pages from the load on (each fault in memory NumPy marked
    for huge pages zeroes a whole 2 MB page); forked workers inherit the switch."""
    from numpy._core.multiarray import _get_madvise_hugepage, _set_madvise_hugepage

    _set_madvise_hugepage(True)
    read_snapshot(make_snapshot({"identities": IDS}))
    assert _get_madvise_hugepage() is False


def test_csv_with_bom_is_read(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    (root / "identities.csv").write_bytes("\ufeffperson_id,name,status\nP1,张三,active\n".encode())
    (root / "manifest.json").write_text(json.dumps({"format": "ledgerguard-snapshot/1"}))
    snap = read_snapshot(root)
    assert snap.tables["identities"].loc[0, "person_id"] == "P1"
    assert snap.tables["identities"].loc[0, "name"] == "张三"
    assert len(snap.table_hashes["identities"]) == 64  # computed when absent


def test_bad_values_name_file_row_and_column(make_snapshot):
    root = make_snapshot({"accounts": [
        {"system": "erp", "account_id": "a", "enabled": "true", "created_at": "2026-01-01"},
        {"system": "erp", "account_id": "b", "enabled": "maybe", "created_at": "2026-02-30"},
    ]})
    with pytest.raises(InputError) as exc:
        read_snapshot(root)
    text = str(exc.value)
    assert "accounts.csv:3:" in text  # header is line 1, second data row is line 3
    assert "column 'enabled': 'maybe' is not a boolean" in text
    assert "column 'created_at': '2026-02-30' is not an ISO 8601 date" in text


def test_a_repeated_account_or_person_is_bad_input_naming_both_rows(cli, make_snapshot, tmp_path):
    """Two rows for one account (one enabled, one disabled) used to pass: which one a
    policy saw was an accident of row order."""
    root = make_snapshot({
        "identities": [{"person_id": "P1", "name": "a", "status": "departed", "departure_date": "2026-01-01"},
                       {"person_id": "P1", "name": "a", "status": "active"}],
        "accounts": [{"system": "erp", "account_id": "a", "person_id": "P1", "enabled": "false"},
                     {"system": "erp", "account_id": "b", "person_id": "P1", "enabled": "true"},
                     {"system": "erp", "account_id": "a", "person_id": "P1", "enabled": "true"},
                     {"system": "crm", "account_id": "a", "person_id": "P1", "enabled": "true"}],
    })
    r = cli("scan", "--snapshot", root, "--out", tmp_path / "o")
    assert r.exit_code == 2, r.output
    assert "accounts.csv:4:" in r.stderr and "system='erp', account_id='a' repeats row 1" in r.stderr
    assert "identities.csv:3:" in r.stderr and "person_id='P1' repeats row 1" in r.stderr
    assert "crm" not in r.stderr  # the same account_id in another system is another account
    assert not (tmp_path / "o" / "findings.json").exists()


def test_an_empty_name_of_a_row_is_bad_input(cli, make_snapshot, tmp_path):
    """An archive row without archive_id made every archive policy end in error (a subject of
    NaN); an account without account_id was judged as an account named nothing."""
    root = make_snapshot({
        "accounts": [{"system": "erp", "account_id": "", "enabled": "true"}],
        "archives": [{"archive_id": "A-1", "category": "凭证", "fiscal_year": "2020"},
                     {"archive_id": "", "category": "凭证", "fiscal_year": "2020"}],
    })
    r = cli("scan", "--snapshot", root, "--out", tmp_path / "o")
    assert r.exit_code == 2, r.output
    assert "accounts.csv:2:" in r.stderr and "column 'account_id': empty, but it names the row" in r.stderr
    assert "archives.csv:3:" in r.stderr and "column 'archive_id': empty" in r.stderr
    assert "archives.csv:2:" not in r.stderr


def test_missing_required_column_is_an_error(make_snapshot):
    root = make_snapshot({"identities": [{"person_id": "P1", "name": "x"}]})
    with pytest.raises(InputError, match=r"lacks required column.*status"):
        read_snapshot(root)


def test_table_of_a_failed_source_is_unusable(make_snapshot):
    root = make_snapshot({"identities": IDS}, sources=[
        {"name": "corp-ad", "kind": "ldap", "status": "error", "error": "timeout", "tables": ["accounts"]},
    ])
    snap = read_snapshot(root)
    assert snap.unusable["accounts"].startswith("source 'corp-ad' failed: timeout")
    with pytest.raises(Exception, match="unusable"):
        snap.table("accounts")


def test_recorded_hash_mismatch_is_reported(make_snapshot):
    root = make_snapshot({"identities": IDS})
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["tables"]["identities"]["sha256"] = "0" * 64
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="differs from the manifest"):
        read_snapshot(root)


def test_write_then_read_round_trips_types_csv_and_parquet(tmp_path):
    tz = "Asia/Shanghai"
    accounts = pd.DataFrame({
        "system": ["erp"], "account_id": ["张三"], "enabled": [True],
        "last_login_at": pd.to_datetime(["2026-11-20T10:00:00"]).tz_localize(tz),
    })
    for fmt in ("csv", "parquet"):
        out = write_snapshot(tmp_path / fmt, {"accounts": accounts}, timezone=tz, fmt=fmt,
                             taken_at="2026-11-23T02:00:00+08:00")
        snap = read_snapshot(out)
        got = snap.tables["accounts"]
        assert got.loc[0, "enabled"] is True or got.loc[0, "enabled"] == True  # noqa: E712
        assert got.loc[0, "last_login_at"] == accounts.loc[0, "last_login_at"]
        assert snap.taken_at == "2026-11-23T02:00:00+08:00"
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["tables"]["accounts"]["rows"] == 1
        assert not list(tmp_path.glob(f".{fmt}.*"))  # no temp dir left behind


def test_quoted_newlines_and_commas_inside_values_are_read(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    (root / "identities.csv").write_text(
        'person_id,name,status\nP1,"张三,\n第二行",active\nP2,李四,departed\n', encoding="utf-8")
    (root / "manifest.json").write_text(json.dumps({"format": "ledgerguard-snapshot/1"}))
    ids = read_snapshot(root).tables["identities"]
    assert ids["name"].tolist() == ["张三,\n第二行", "李四"]
    assert ids["status"].tolist() == ["active", "departed"]


def _archive(i: int, **kw) -> dict:
    return {"archive_id": f"A-{i}", "category": "记账凭证", "fiscal_year": "2025", "status": "active",
            "sha256": hashlib.sha256(str(i).encode()).hexdigest(), **kw}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_archive_words_and_digests_read_back_as_written(fmt, tmp_path):
    """Word columns come back as categoricals and lower-case SHA-256 columns as 32 bytes, the
    values unchanged; a status is trimmed as in every closed vocabulary; a digest column with
    one upper-case value stays text, exactly as written."""
    rows = [_archive(i) for i in range(4)]
    rows[1].update(status=" destroyed ", format="PDF", sha256=None)
    rows[2]["actual_sha256"] = rows[2]["sha256"].upper()
    snap = read_snapshot(write_snapshot(tmp_path / "s", {"archives": pd.DataFrame(rows)}, fmt=fmt))
    arc = snap.tables["archives"]
    assert isinstance(arc["status"].dtype, pd.CategoricalDtype)
    assert arc["status"].tolist() == ["active", "destroyed", "active", "active"]
    assert arc["format"].isna().tolist() == [True, False, True, True] and arc["format"][1] == "PDF"
    assert is_digest(arc["sha256"]) and arc["sha256"].isna().tolist() == [False, True, False, False]
    assert digest_text(arc["sha256"])[0] == rows[0]["sha256"]
    assert not is_digest(arc["actual_sha256"]) and arc["actual_sha256"][2] == rows[2]["actual_sha256"]
    again = read_snapshot(write_snapshot(tmp_path / "again", {"archives": arc}, fmt=fmt)).tables["archives"]
    assert digest_text(again["sha256"]).equals(digest_text(arc["sha256"]))  # written back as hex


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_digests_unhexed_in_batches_judge_every_batch(fmt, tmp_path, monkeypatch):
    """Digests are unhexed ``DIGEST_BATCH`` values at a time (a Parquet column is decoded so,
    its text never whole): a missing value in a later batch stays missing, and a value in the
    last batch that is not 64 lower-case hex digits, or is too long, keeps the whole column
    text (the long cell still bad input naming its row)."""
    monkeypatch.setattr(snapshot, "DIGEST_BATCH", 2)
    rows = [_archive(i) for i in range(5)]
    for row in rows:
        row["actual_sha256"] = row["sha256"]
    rows[3]["sha256"] = None
    rows[4]["actual_sha256"] = "g" * 64
    arc = read_snapshot(write_snapshot(tmp_path / "s", {"archives": pd.DataFrame(rows)}, fmt=fmt)).tables["archives"]
    assert is_digest(arc["sha256"]) and arc["sha256"].isna().tolist() == [False, False, False, True, False]
    assert digest_text(arc["sha256"]).dropna().tolist() == [r["sha256"] for r in rows if r["sha256"]]
    assert not is_digest(arc["actual_sha256"]) and arc["actual_sha256"].tolist() == [r["actual_sha256"] for r in rows]
    monkeypatch.setattr(limits, "MAX_CELL_CHARS", 100)
    rows[4]["sha256"] = "a" * 101
    root = write_snapshot(tmp_path / "long", {"archives": pd.DataFrame(rows)}, fmt=fmt)
    with pytest.raises(InputError, match=f"archives.{fmt}:6: row 5, column 'sha256': 101 characters"):
        read_snapshot(root)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_bad_or_long_word_is_bad_input_naming_its_row(fmt, tmp_path, monkeypatch):
    """A word column's values are checked once each, but the error still names the first row
    holding the bad value."""
    monkeypatch.setattr(limits, "MAX_CELL_CHARS", 100)
    rows = [_archive(i) for i in range(5)]
    rows[3]["status"] = "lost"
    rows[2]["title"] = rows[4]["title"] = "x" * 101
    root = write_snapshot(tmp_path / "s", {"archives": pd.DataFrame(rows)}, fmt=fmt)
    with pytest.raises(InputError) as exc:
        read_snapshot(root)
    text = str(exc.value)
    assert f"archives.{fmt}:5: row 4, column 'status': 'lost' is not one of active" in text
    assert f"archives.{fmt}:4: row 3, column 'title': 101 characters" in text
