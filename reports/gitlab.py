"""GitLab Code Quality report (``gl-code-quality-report.json``), for merge-request widgets.

One issue per open or waived finding of the document — GitLab shows the issues a
merge request adds compared with its target branch. ``fingerprint`` is the stable
finding id; ``location`` is the change file line (gate) or the policy file line
(scan). GitLab's severities are info | minor | major | critical | blocker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledgerguard.scanner.contract import severity_key
from ledgerguard.scanner.fsutil import atomic_write_text

from .base import FORMATS, Reporter
from .safe import clean_text, shown

SEVERITY = {"critical": "blocker", "high": "critical", "medium": "major", "low": "minor", "info": "info"}


def issues(doc: dict[str, Any]) -> list[dict[str, Any]]:
    scan = doc.get("scan") or {}
    policy_by_id = {p["id"]: p for p in doc.get("policies") or []}
    out = []
    for f in sorted(doc.get("findings") or [], key=severity_key):
        loc = f.get("location") or {}
        policy = policy_by_id.get(f["policy_id"], {})
        path = loc.get("file") or scan.get("change_file") or policy.get("file") or "ledgerguard"
        line = loc.get("line") if loc.get("file") else (1 if scan.get("change_file") else policy.get("line"))
        waived = " (waived)" if f.get("status") == "waived" else ""
        out.append({
            "description": shown(f"{f.get('subject')}: {f.get('message')}{waived}"),
            "check_name": f"{f['policy_id']}/{f.get('code')}",
            "fingerprint": f["id"],
            "severity": "info" if waived else SEVERITY.get(f.get("severity"), "info"),
            "location": {"path": clean_text(str(path)), "lines": {"begin": line if isinstance(line, int) else 1}},
        })
    # a policy without a verdict blocks the merge request like a critical finding would
    for p in doc.get("policies") or []:
        if p.get("status") in ("error", "inconclusive"):
            out.append({
                "description": clean_text(f"no verdict: {p['status']}: {p.get('error')}"),
                "check_name": f"{p['id']}/policy_{p['status']}",
                "fingerprint": f"{p['id']}/policy_{p['status']}",
                "severity": "blocker",
                "location": {"path": clean_text(str(p.get("file") or "ledgerguard")),
                             "lines": {"begin": p.get("line") if isinstance(p.get("line"), int) else 1}},
            })
    return out


@FORMATS.register("gitlab")
class GitlabReporter(Reporter):
    filename = "gl-code-quality-report.json"
    gate_only = True

    def render(self, doc: dict[str, Any], out_dir: Path, lang: str = "en") -> Path:
        path = out_dir / self.filename
        atomic_write_text(path, json.dumps(issues(doc), ensure_ascii=False, indent=1) + "\n")
        return path
