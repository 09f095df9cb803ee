"""What the README tour needs next to the demo's reports, written by ``ledgerguard demo``.

The tour (README.md, tested by tests/test_readme_tour.py) goes on from the demo to a
waiver file, a scan against last month's findings and an access request judged by
``gate``. Those inputs are written here from the demo's own data, so every step runs
on a fresh clone:

- ``waivers.yaml``: the shared finance login accepted until its planned retirement;
- ``last-month/findings.json``: the company as it stood 30 days earlier — today's tables
  without the grants and change records of the last 30 days — scanned as of that day,
  the baseline of ``--fail-on-new-only`` (so the access granted since, e.g. the
  administrator's self-granted reviewer role, is new);
- ``access-requests/REQ-1042.yaml``: a request granting a cashier the voucher reviewer
  role (``gate`` blocks it: cashier and reviewer are incompatible duties).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from ledgerguard.scanner.policy import all_policies, load_packs
from ledgerguard.scanner.scan import resolve_now, run_scan
from ledgerguard.scanner.snapshot import Snapshot, read_snapshot, write_snapshot

from .org import TZ, build_tables, ts

BASELINE_DAYS = 30
WAIVER_DAYS = 90


def write_tour_inputs(out_dir: Path, as_of: dt.date, snapshot: Snapshot, doc: dict[str, Any]) -> list[Path]:
    """Write the tour's waivers, baseline and access request into ``out_dir``; their paths.

    The tour scans with the built-in pack (not the demo's house rule), so the waivers and
    the baseline are about the built-in policies only."""
    builtin = {p.id for p in all_policies(load_packs(None))}
    return [
        _waivers(out_dir / "waivers.yaml", as_of, [f for f in doc["findings"] if f["policy_id"] in builtin]),
        _baseline(out_dir / "last-month" / "findings.json", as_of),
        _access_request(out_dir / "access-requests" / "REQ-1042.yaml", snapshot),
    ]


def _waivers(path: Path, as_of: dt.date, findings: list[dict[str, Any]]) -> Path:
    """Waive the findings about the shared finance login (an account without a person)."""
    subject = next(f["subject"] for f in findings if f["code"] == "no_person")
    policies = sorted({f["policy_id"] for f in findings if f["subject"] == subject})
    expires = as_of + dt.timedelta(days=WAIVER_DAYS)
    lines = ["# Accepted risks (docs/waivers.md); written by `ledgerguard demo` for the README tour.", "waivers:"]
    for pid in policies:
        lines += [
            f"  - policy: {pid}",
            f'    subject: "{subject}"',
            "    reason: 财务部公用查询账号 is retired with the archive system upgrade; read-only until then",
            "    approved_by: CFO 吕敏浩",
            f"    expires: {expires.isoformat()}",
            "    ticket: REQ-0977",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _baseline(path: Path, as_of: dt.date) -> Path:
    """The findings.json of a scan BASELINE_DAYS earlier: the tables of ``as_of`` without the
    grants given and the changes made since that day (ISO local dates compare as text)."""
    day = as_of - dt.timedelta(days=BASELINE_DAYS)
    tables = build_tables(as_of)
    since = {"grants": "granted_at", "changes": "performed_at"}
    for name, column in since.items():
        t = tables[name]
        tables[name] = t[~(t[column].fillna("").str[:10] > day.isoformat())]
    with tempfile.TemporaryDirectory(prefix="ledgerguard-demo-") as tmp:
        snap = read_snapshot(write_snapshot(Path(tmp) / "snapshot", tables, timezone=TZ, taken_at=ts(day, 0)))
        doc = run_scan(snap, load_packs(None), resolve_now(day.isoformat(), snap))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def _access_request(path: Path, snapshot: Snapshot) -> Path:
    """A cashier asks for gl_reviewer; the manager requests it, a system administrator approves."""
    people = snapshot.table("identities")
    grants = snapshot.table("grants")
    accounts = snapshot.table("accounts")
    erp = accounts[accounts["system"] == "erp"]
    roles = grants[grants["system"] == "erp"].groupby("account_id")["role"].agg(set)
    active = people[people["status"] == "active"]
    cashier = next(
        (p, a) for p, a in zip(erp["person_id"], erp["account_id"], strict=True)
        if p in set(active.loc[active["position"] == "出纳", "person_id"]) and roles.get(a) == {"cashier"}
    )
    manager = _one(active.loc[active["person_id"] == cashier[0], "manager_id"])
    approver = _one(active.loc[(active["position"] == "系统管理员") & (active["person_id"] != manager), "person_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# An access request (docs/ci.md: the change file); written by `ledgerguard demo` for the README tour.\n"
        "changes:\n"
        f"  - {{action: grant, system: erp, account_id: {cashier[1]}, role: gl_reviewer,\n"
        f"     request_id: REQ-1042, requested_by: {manager}, approved_by: {approver},\n"
        "     reason: cover voucher review during the month-end close}\n",
        encoding="utf-8")
    return path


def _one(values: pd.Series) -> str:
    return str(values.iloc[0])
