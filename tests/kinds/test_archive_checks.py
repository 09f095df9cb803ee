"""Completeness, voucher continuity, handover batches and the use of archives, through the real CLI."""

from __future__ import annotations

from kindtest import hits, scan

from conftest import policy_pack


def _arc(aid, category="记账凭证", year="2025", period="", **kw):
    return {"archive_id": aid, "category": category, "fiscal_year": year, "period": period, "fonds": "Q001",
            "account_set": "001", "status": "active", **kw}


COMPLETE = """
id: CMP-T
kind: archive_completeness
title: Completeness
severity: high
params:
  required: [{category: 记账凭证, every: month}, {category: 总账, every: year}, {category: 季度报告, every: quarter}]
  id_patterns: {Q001: "Q001-\\\\d{4}-[A-Z]{2}-\\\\d{4}"}
"""


def test_missing_periods_duplicate_and_malformed_ids(cli, make_snapshot, write_yaml, tmp_path):
    rows = [_arc(f"Q001-2025-PZ-{m:04d}", period=f"2025-{m:02d}") for m in range(1, 13) if m != 7]
    rows += [_arc("Q001-2024-PZ-0001", year="2024", period=str(m)) for m in range(1, 13)]  # 2024 complete
    rows += [_arc("Q001-2024-ZZ-0001", category="总账", year="2024")]               # 2025 ledger missing
    rows += [_arc(f"Q001-2025-BG-000{q}", category="季度报告", period=f"Q{q}") for q in (1, 2, 4)]
    rows += [_arc("Q001-2024-BG-0001", category="季度报告", year="2024", period=f"第{q}季度") for q in "一二三四"]
    rows += [_arc("bad id", period="12")]
    snap = make_snapshot({"archives": rows})
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(COMPLETE)), tmp_path / "out")
    assert code == 1
    assert hits(doc) == {
        ("period_missing", "period:Q001/001/2025/记账凭证/M07"),
        ("period_missing", "period:Q001/001/2025/总账/Y"),
        ("period_missing", "period:Q001/001/2025/季度报告/Q3"),
        ("id_duplicate", "archive:Q001-2024-PZ-0001"),
        ("id_duplicate", "archive:Q001-2024-BG-0001"),
        ("id_pattern", "archive:bad id"),
    }
    dup = next(f for f in doc["findings"] if f["subject"] == "archive:Q001-2024-PZ-0001")
    assert dup["evidence"]["rows"] == 12 and dup["dat70"] == "真实性/元数据重复性"


def test_duplicate_ids_of_a_catalog_in_id_order(cli, make_snapshot, write_yaml, tmp_path):
    """A catalog exported in id order (the usual case) takes the neighbour comparison in
    context.repeated, not the hash: the same findings, counts and first rows."""
    ids = ["Q001-2024-PZ-0001", "Q001-2024-PZ-0002", "Q001-2024-PZ-0002", "Q001-2024-PZ-0002",
           "Q001-2024-PZ-0003", "Q001-2024-PZ-0004", "Q001-2024-PZ-0004"]
    rows = [_arc(aid, year="2024", period=str(m), title=f"row {i}")
            for i, (aid, m) in enumerate(zip(ids, range(1, 13), strict=False))]
    snap = make_snapshot({"archives": rows})
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(COMPLETE)), tmp_path / "out")
    dups = {f["subject"]: f["evidence"]["rows"] for f in doc["findings"] if f["code"] == "id_duplicate"}
    assert code == 1 and dups == {"archive:Q001-2024-PZ-0002": 3, "archive:Q001-2024-PZ-0004": 2}


def test_unreadable_period_is_an_error_naming_the_value(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({"archives": [_arc("A1", period="sometime")]})
    r = cli("scan", "--snapshot", snap, "--policies", write_yaml("p.yaml", policy_pack(COMPLETE)),
            "--as-of", "2026-01-10", "--out", tmp_path / "o")
    assert r.exit_code == 3
    assert "'sometime'" in r.output and "period" in r.output


CONTINUITY = """
id: VCH-T
kind: voucher_continuity
title: Voucher numbers
severity: high
"""


def test_voucher_gaps_and_duplicates_with_ranges(cli, make_snapshot, write_yaml, tmp_path):
    def v(no, month="03", kind="记", aset="001"):
        return _arc(f"V-{aset}-{month}-{kind}-{no}-{id(no)}", period=month, voucher_type=kind, voucher_no=str(no),
                    account_set=aset)
    rows = [v(n) for n in [1, 2, 6, 7, 7, 9]]          # missing 3-5 and 8, 7 twice
    rows += [v(n, kind="收") for n in [1, 2, 3]]        # complete
    rows += [v(n, month="04") for n in [3, 4]]          # starts at 3: 1-2 missing
    rows += [v(n, aset="002") for n in [1, 2, 3]]       # another account set, complete
    rows += [_arc("no-number")]                         # not judged
    snap = make_snapshot({"archives": rows})
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(CONTINUITY)), tmp_path / "out")
    assert code == 1
    assert hits(doc) == {
        ("voucher_gap", "vouchers:001/2025/M03/记"),
        ("voucher_duplicate", "vouchers:001/2025/M03/记"),
        ("voucher_gap", "vouchers:001/2025/M04/记"),
    }
    f = {(f["code"], f["subject"]): f for f in doc["findings"]}
    gap = f[("voucher_gap", "vouchers:001/2025/M03/记")]
    assert gap["evidence"]["missing"] == ["3-5", "8"] and gap["evidence"]["count"] == 4
    assert gap["dat70"] == "完整性/连续编号完整性"
    assert f[("voucher_duplicate", "vouchers:001/2025/M03/记")]["evidence"]["repeated"] == ["7"]
    assert f[("voucher_gap", "vouchers:001/2025/M04/记")]["evidence"]["missing"] == ["1-2"]


def test_a_numbered_voucher_without_its_run_key_is_an_error_naming_the_row(cli, make_snapshot, write_yaml, tmp_path):
    def v(no, **kw):
        return _arc(f"V-{no}", period="03", voucher_no=str(no), **{"voucher_type": "记", **kw})
    pack = write_yaml("p.yaml", policy_pack(CONTINUITY))
    # before: the empty voucher type ended the policy in error with "sequence item 3: expected
    # str instance, float found", and a blank account set was judged as a run of its own
    for column, value, why in [("voucher_type", "", "empty"), ("account_set", " ", "blank")]:
        rows = [_arc("no-number"), v(1), v(2, **{column: value}), v(3)]
        r = cli("scan", "--snapshot", make_snapshot({"archives": rows}), "--policies", pack,
                "--as-of", "2026-01-10", "--out", tmp_path / why)
        assert r.exit_code == 3, r.output
        assert f"data row 3, column '{column}': empty, but the row has a voucher_no" in r.output


def test_an_unreadable_period_of_a_voucher_names_its_row_of_the_table(cli, make_snapshot, write_yaml, tmp_path):
    rows = [_arc("no-number", period="whenever"), _arc("V-1", period="03", voucher_type="记", voucher_no="1"),
            _arc("V-2", period="sometime", voucher_type="记", voucher_no="2")]
    r = cli("scan", "--snapshot", make_snapshot({"archives": rows}), "--policies",
            write_yaml("p.yaml", policy_pack(CONTINUITY)), "--as-of", "2026-01-10", "--out", tmp_path / "o")
    assert r.exit_code == 3
    # the unnumbered row's period is not this policy's concern; the voucher's row is row 3 of the table
    assert "data row 3, column 'period': 'sometime'" in r.output and "whenever" not in r.output


BATCHES = """
id: BAT-T
kind: handover_batches
title: Handover batches
severity: high
"""


def test_batches_against_their_lists(cli, make_snapshot, write_yaml, tmp_path):
    arcs = [_arc("A1", batch_id="B1", size_bytes="100"), _arc("A2", batch_id="B1", size_bytes="50"),
            _arc("A3", batch_id="B2", size_bytes="10"), _arc("A4", batch_id="B3", size_bytes="1"),
            _arc("A5", batch_id="B4", size_bytes="")]
    batches = [{"batch_id": "B1", "declared_count": "2", "declared_bytes": "150"},   # exact: fine
               {"batch_id": "B2", "declared_count": "2", "declared_bytes": "11"},    # one archive, 1 byte short
               {"batch_id": "B4", "declared_count": "1", "declared_bytes": "5"},     # size unknown
               {"batch_id": "B5", "declared_count": "", "declared_bytes": "0"}]      # declares no count, holds none
    snap = make_snapshot({"archives": arcs, "batches": batches})
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(BATCHES)), tmp_path / "out")
    assert code == 1
    assert hits(doc) == {
        ("batch_count_mismatch", "batch:B2"), ("batch_bytes_mismatch", "batch:B2"),
        ("batch_bytes_mismatch", "batch:B4"), ("batch_count_mismatch", "batch:B5"),
        ("batch_unknown", "batch:B3"),
    }


ACCESS = """
id: USE-T
kind: archive_access
title: Archive use
severity: high
"""
BORROW = """
id: BOR-T
kind: archive_borrowing
title: Borrowing
severity: medium
"""


def _access_tables():
    return {
        "accounts": [{"system": "erp", "account_id": "alice", "person_id": "P1", "enabled": "true"},
                     {"system": "erp", "account_id": "bob", "person_id": "P2", "enabled": "true",
                      "disabled_at": "2026-03-01"},
                     {"system": "erp", "account_id": "carol", "person_id": "P3", "enabled": "true"}],
        "grants": [{"system": "erp", "account_id": "alice", "role": "archivist", "granted_at": "2026-01-10"},
                   {"system": "erp", "account_id": "bob", "role": "archivist"},
                   {"system": "erp", "account_id": "carol", "role": "clerk"}],
        "role_permissions": [{"system": "erp", "role": "archivist", "permission": "archive.read"},
                             {"system": "erp", "role": "clerk", "permission": "gl.voucher.create"}],
        "access_log": [
            {"event_id": "E1", "archive_id": "A1", "actor": "P1", "action": "view", "at": "2026-01-10T09:00:00"},
            {"event_id": "E2", "archive_id": "A1", "actor": "P1", "action": "download", "at": "2026-01-09T23:59:59"},
            {"event_id": "E3", "archive_id": "A1", "actor": "erp:bob", "action": "print", "at": "2026-02-28"},
            {"event_id": "E4", "archive_id": "A1", "actor": "P2", "action": "export", "at": "2026-03-01"},
            {"event_id": "E5", "archive_id": "A1", "actor": "P3", "action": "view", "at": "2026-02-01"},
            {"event_id": "E6", "archive_id": "A2", "actor": "P3", "action": "borrow", "at": "2026-02-01T10:00:00"},
            {"event_id": "E7", "archive_id": "A3", "actor": "P1", "action": "borrow", "at": "2026-02-05T10:00:00"},
        ],
        "borrows": [
            {"borrow_id": "L1", "archive_id": "A3", "borrower": "P1", "approved_by": "P9",
             "borrowed_at": "2026-02-04", "due_at": "2026-03-01", "returned_at": "2026-02-20"},
            {"borrow_id": "L2", "archive_id": "A4", "borrower": "P1", "approved_by": "",
             "borrowed_at": "2026-02-04", "due_at": "2026-03-10", "returned_at": "2026-02-20"},
            {"borrow_id": "L3", "archive_id": "A5", "borrower": "P3", "approved_by": "P3",
             "borrowed_at": "2026-02-04", "due_at": "2026-03-10"},
            {"borrow_id": "L4", "archive_id": "A6", "borrower": "P1", "approved_by": "P9",
             "borrowed_at": "2026-02-04", "due_at": "2026-03-09"},
        ],
    }


def test_access_needs_a_permission_at_the_time(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(_access_tables())
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(ACCESS)), tmp_path / "out", "2026-03-10")
    assert code == 1
    # E1 on the grant's day is fine; E2 a second before it is not; bob's disabled_at is the limit
    assert hits(doc) == {("access_without_permission", "access:E2"), ("access_without_permission", "access:E4"),
                         ("access_without_permission", "access:E5")}
    assert {f["person_id"] for f in doc["findings"]} == {"P1", "P2", "P3"}


def test_access_through_any_of_a_persons_grants(cli, make_snapshot, write_yaml, tmp_path):
    """A person's permission may come from any of their grants: two accounts, one role granted
    twice with its own windows; only an event outside every window is reported."""
    tables = _access_tables()
    tables["accounts"].append({"system": "earchive", "account_id": "alice2", "person_id": "P1", "enabled": "true"})
    tables["grants"] = [
        {"system": "erp", "account_id": "alice", "role": "archivist", "granted_at": "2026-01-10",
         "expires_at": "2026-02-01"},
        {"system": "erp", "account_id": "alice", "role": "archivist", "granted_at": "2026-03-01"},
        {"system": "earchive", "account_id": "alice2", "role": "archivist", "granted_at": "2026-02-10",
         "expires_at": "2026-02-20"}]
    tables["role_permissions"].append({"system": "earchive", "role": "archivist", "permission": "archive.read"})
    tables["access_log"] = [
        {"event_id": f"E{i}", "archive_id": "A1", "actor": actor, "action": "view", "at": at}
        for i, (actor, at) in enumerate([("P1", "2026-01-15"), ("P1", "2026-02-05"), ("erp:alice", "2026-02-15"),
                                         ("P1", "2026-02-25"), ("earchive:alice2", "2026-03-02"),
                                         ("P3", "2026-03-02")], start=1)]
    code, doc = scan(cli, make_snapshot(tables), write_yaml("p.yaml", policy_pack(ACCESS)), tmp_path / "out",
                     "2026-03-10")
    assert code == 1
    assert hits(doc) == {("access_without_permission", "access:E2"), ("access_without_permission", "access:E4"),
                         ("access_without_permission", "access:E6")}


def test_borrow_register(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(_access_tables())
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(BORROW)), tmp_path / "out", "2026-03-10")
    assert code == 0  # medium findings stay under the default --fail-on high
    # L3 is due on the as-of date: not yet overdue; L4 was due the day before
    assert hits(doc) == {("borrow_unapproved", "borrow:L2"), ("borrow_self_approved", "borrow:L3"),
                         ("borrow_overdue", "borrow:L4"), ("borrow_unregistered", "access:E6")}
    assert all(f["dat70"] == "安全性/过程安全性" for f in doc["findings"])
