"""`scan --baseline`: new / existing / waiver_expired, resolved, and --fail-on-new-only."""

from __future__ import annotations

from conftest import policy_pack, run_findings

DEPARTURE = """
id: ACC-001
kind: revoke_on_departure
title: Departed staff keep no enabled account
severity: critical
"""


def people(*rows: tuple[str, str, str]) -> dict:
    """(person, account, departure_date) → identities + enabled accounts."""
    return {
        "identities": [{"person_id": p, "status": "departed", "departure_date": d} for p, _, d in rows],
        "accounts": [{"system": "fin", "account_id": a, "person_id": p, "enabled": "true"} for p, a, _ in rows],
    }


def test_baseline_diff_and_fail_on_new_only(cli, make_snapshot, write_yaml, tmp_path):
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    waivers = write_yaml("w.yaml", """
        waivers:
          - {policy: ACC-001, subject: "account:fin:wang", reason: audit trail, approved_by: CFO, expires: 2026-11-23}
    """)
    before = make_snapshot(people(("P1", "zhang", "2026-11-01"), ("P2", "li", "2026-11-01"),
                                  ("P3", "wang", "2026-11-01")))
    base = tmp_path / "base"
    first = cli("scan", "--snapshot", before, "--policies", pack, "--waivers", waivers,
                "--as-of", "2026-11-23", "--out", base)
    assert first.exit_code == 1
    # a month later: li fixed, zhang still there, zhao new, wang's waiver expired
    after = make_snapshot(people(("P1", "zhang", "2026-11-01"), ("P3", "wang", "2026-11-01"),
                                 ("P4", "zhao", "2026-12-01")))
    out = tmp_path / "now"
    args = ["scan", "--snapshot", after, "--policies", pack, "--waivers", waivers, "--as-of", "2026-12-23",
            "--baseline", base / "findings.json", "--out", out]
    result = cli(*args)
    assert result.exit_code == 1
    assert "baseline: 1 new, 1 existing, 1 waiver expired, 1 resolved" in result.output
    doc = run_findings(out)
    marks = {f["subject"]: (f["status"], f["baseline"]) for f in doc["findings"]}
    assert marks == {"account:fin:zhang": ("open", "existing"),
                     "account:fin:wang": ("open", "waiver_expired"),
                     "account:fin:zhao": ("open", "new")}
    assert [(r["subject"], r["baseline"]) for r in doc["resolved"]] == [("account:fin:li", "resolved")]
    assert doc["waivers"][0]["status"] == "expired"

    # only new (and waiver-expired) findings fail; with neither, exit 0
    assert cli(*args, "--fail-on-new-only").exit_code == 1
    same = ["scan", "--snapshot", after, "--policies", pack, "--as-of", "2026-12-23",
            "--baseline", out / "findings.json", "--out", tmp_path / "again"]
    assert cli(*same).exit_code == 1
    assert cli(*same, "--fail-on-new-only").exit_code == 0
    again = run_findings(tmp_path / "again")
    assert {f["baseline"] for f in again["findings"]} == {"existing"} and again["resolved"] == []


def test_findings_of_an_errored_policy_are_not_resolved(cli, make_snapshot, write_yaml, tmp_path):
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    snap = make_snapshot(people(("P1", "zhang", "2026-11-01")))
    cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", tmp_path / "a")
    broken = make_snapshot({"identities": people(("P1", "zhang", "2026-11-01"))["identities"]})
    result = cli("scan", "--snapshot", broken, "--policies", pack, "--as-of", "2026-11-23",
                 "--baseline", tmp_path / "a" / "findings.json", "--out", tmp_path / "b")
    assert result.exit_code == 3
    assert run_findings(tmp_path / "b")["resolved"] == []


def test_fail_on_new_only_needs_a_baseline_and_a_bad_baseline_is_exit_2(cli, make_snapshot, write_yaml, tmp_path):
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    snap = make_snapshot(people(("P1", "zhang", "2026-11-01")))
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--fail-on-new-only", "--out", tmp_path)
    assert result.exit_code == 2 and "--baseline" in result.output + result.stderr
    bad = write_yaml("old.json", '{"format": "something-else"}')
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--baseline", bad, "--out", tmp_path)
    assert result.exit_code == 2 and "old.json" in result.stderr


def test_baseline_from_ledgerguard_yaml(cli, make_snapshot, write_yaml, tmp_path):
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    snap = make_snapshot(people(("P1", "zhang", "2026-11-01")))
    cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", tmp_path / "a")
    write_yaml("ledgerguard.yaml", f"""
        baseline: {tmp_path / "a" / "findings.json"}
        waivers: {write_yaml("w.yaml", "waivers: []")}
    """)
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23",
                 "--out", tmp_path / "b", "--fail-on-new-only", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert run_findings(tmp_path / "b")["findings"][0]["baseline"] == "existing"
