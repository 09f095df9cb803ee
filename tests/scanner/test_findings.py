"""finding_rows: a kind's findings frame as the records of findings.json (docs/findings.md)."""

from __future__ import annotations

import math

from ledgerguard.scanner.findings import finding_id, finding_rows
from ledgerguard.scanner.kinds.base import findings_frame
from ledgerguard.scanner.policy import Policy


def _policy(kind: str = "archive_access") -> Policy:
    return Policy(id="USE-9", kind=kind, title={"en": "t"}, severity="high", params={}, pack="test",
                  file="test.yaml", line=1)


def finding_records(policy: Policy, frame) -> list:
    return finding_rows(policy, frame).records(policy)


def _frame(**columns: list):
    n = len(columns["subject"])
    base = {"code": ["access_without_permission"] * n, "person_id": [None] * n, "message": ["m"] * n,
            "evidence": [{}] * n, "key": [None] * n, "severity": [None] * n, "messages": [None] * n}
    return findings_frame(**{**base, **columns})


def test_one_record_per_id_the_first_one_staying():
    frame = _frame(subject=["archive:A1", "archive:A1", "archive:A2", "archive:A1"],
                   key=[None, None, None, "k"], message=["first", "second", "other", "keyed"])
    records = finding_records(_policy(), frame)
    assert [(r["subject"], r["key"], r["message"]) for r in records] == [
        ("archive:A1", None, "first"), ("archive:A2", None, "other"), ("archive:A1", "k", "keyed")]
    assert records[0]["id"] == finding_id("USE-9", "archive:A1", "access_without_permission")
    assert records[2]["id"] == finding_id("USE-9", "archive:A1", "access_without_permission", "k")


def test_empty_values_read_as_none_and_the_policy_severity_fills_in():
    frame = _frame(subject=["archive:A1", "archive:A2", "archive:A3"], key=["", math.nan, None],
                   person_id=["P1", "", math.nan], severity=["low", "", None],
                   messages=[{"zh": "消息"}, {}, None], evidence=[{"a": 1}, None, {}])
    records = finding_records(_policy(), frame)
    assert [r["key"] for r in records] == [None, None, None]
    assert [r["person_id"] for r in records] == ["P1", None, None]
    assert [r["severity"] for r in records] == ["low", "high", "high"]
    assert [r.get("messages") for r in records] == [{"zh": "消息"}, None, None]
    assert [r["evidence"] for r in records] == [{"a": 1}, {}, {}]
    assert records[0]["dat70"] == "安全性/过程安全性"
    assert list(records[0]) == ["id", "policy_id", "kind", "code", "severity", "subject", "person_id", "message",
                                "evidence", "status", "waiver", "baseline", "key", "location", "dat70", "messages"]
    assert finding_records(_policy(), _frame(subject=[])) == []
