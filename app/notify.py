"""Notifications after a scan, sent with apprise (DingTalk, WeCom, Slack, e-mail, webhooks…).

Configured under ``notify`` in the config file (docs/configuration.md). The apprise URLs
carry tokens, so they come from environment variables or files only, and never appear
in findings.json, reports or log lines: a failure names the URL's position in the list,
not the URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledgerguard.scanner.errors import InputError, Problem
from ledgerguard.scanner.exitcodes import ExitCode


@dataclass
class Notice:
    title: str
    body: str
    reasons: list[str]


def notice(doc: dict[str, Any], code: ExitCode, new: int | None, on: list[str]) -> Notice | None:
    """The message for this scan, or None when none of the ``when`` conditions holds.

    ``new``: findings new since the previous scan (history or baseline), None when unknown."""
    reasons = []
    if "error" in on and code == ExitCode.NOT_EVALUABLE:
        reasons.append("some data or policies could not be evaluated")
    if "fail" in on and code == ExitCode.FINDINGS:
        reasons.append(f"open findings at or above {doc['scan']['fail_on']}")
    if "new" in on and new:
        reasons.append(f"{new} new finding(s) since the previous scan")
    if not reasons:
        return None
    scan, summary = doc["scan"], doc["summary"]
    verdict = {ExitCode.OK: "PASS", ExitCode.FINDINGS: "FAIL", ExitCode.NOT_EVALUABLE: "ERROR"}[code]
    counts = ", ".join(f"{sev} {n}" for sev, n in summary["findings"].items() if n)
    failing = [p["id"] for p in doc["policies"] if p["status"] in ("fail", "error")]
    body = "\n".join([
        f"ledgerguard {scan['command']} as of {scan['as_of']}: {verdict}",
        f"snapshot: {scan['snapshot'].get('path') or '-'}",
        f"open findings: {counts or 'none'}",
        f"failing or errored policies: {', '.join(failing) or 'none'}",
        *(f"- {r}" for r in reasons),
    ])
    return Notice(f"ledgerguard: {verdict} ({'; '.join(reasons)})", body, reasons)


def resolve_urls(refs: list[dict[str, str]]) -> list[str]:
    """{env: VAR} / {file: PATH} → the URLs; an unset variable or unreadable file is an input error
    naming the variable or file (never the value)."""
    urls, problems = [], []
    for i, ref in enumerate(refs, 1):
        if "env" in ref:
            value = os.environ.get(ref["env"], "").strip()
            if not value:
                problems.append(Problem(f"notify url {i}: environment variable {ref['env']} is not set"))
        else:
            try:
                value = Path(ref["file"]).read_text(encoding="utf-8").strip()
            except OSError as exc:
                problems.append(Problem(f"notify url {i}: cannot read {ref['file']}: {exc.strerror}"))
                continue
            if not value:
                problems.append(Problem(f"notify url {i}: {ref['file']} is empty"))
        if value:
            urls.append(value)
    if problems:
        raise InputError(problems)
    return urls


def send(urls: list[str], message: Notice) -> list[str]:
    """Send to every URL; the failures, each naming the URL's number (not the URL)."""
    import apprise

    failures = []
    for i, url in enumerate(urls, 1):
        app = apprise.Apprise()
        if not app.add(url):
            failures.append(f"notify url {i}: apprise does not recognise it")
        elif not app.notify(title=message.title, body=message.body):
            failures.append(f"notify url {i}: sending failed")
    return failures
