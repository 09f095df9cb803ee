"""The compact terminal summary: counts by severity, failing and errored policies."""

from __future__ import annotations

from typing import Any

import click

from .exitcodes import ExitCode

SEV_COLOURS = {"critical": "magenta", "high": "red", "medium": "yellow", "low": "cyan", "info": "white"}
MAX_LISTED = 20


def print_summary(doc: dict[str, Any], code: ExitCode, out_paths: list[str] = ()) -> None:
    scan, summary = doc["scan"], doc["summary"]
    snap = scan["snapshot"]
    click.echo(
        f"ledgerguard {scan['command']} · as of {scan['as_of']} ({scan['timezone']}) · "
        f"snapshot {snap.get('path') or '-'} · {summary['policies']} policies"
    )
    for src in snap.get("sources") or []:
        if src.get("status") == "error":
            click.secho(f"  source {src.get('name')} FAILED: {src.get('error')}", fg="red", err=False)
    counts = "  ".join(
        click.style(f"{sev} {n}", fg=SEV_COLOURS[sev], bold=n > 0)
        for sev, n in summary["findings"].items()
    )
    waived = f"   (waived {summary['waived']})" if summary["waived"] else ""
    click.echo(f"  findings: {counts}{waived}")
    flagged = [p for p in doc["policies"] if p["status"] in ("fail", "error")]
    for p in flagged[:MAX_LISTED]:
        if p["status"] == "error":
            click.echo(click.style("  ERROR ", fg="red", bold=True) + f"{p['id']} ({p['kind']}): {p['error']}")
        else:
            click.echo(
                click.style("  FAIL  ", fg=SEV_COLOURS[p["severity"]], bold=True)
                + f"{p['id']} {p['severity']:<8} {p['findings']:>6} finding(s)  {p['title']['en']}"
            )
    if len(flagged) > MAX_LISTED:
        click.echo(f"  … and {len(flagged) - MAX_LISTED} more failing or errored policies")
    click.echo(
        f"  policies: passed {summary['passed']}, failed {summary['failed']}, "
        f"errored {summary['errored']}, skipped {summary.get('skipped', 0)}"
    )
    for path in out_paths:
        click.echo(f"  wrote {path}")
    verdict = {
        ExitCode.OK: click.style("PASS", fg="green", bold=True)
        + f" (nothing open at or above {scan['fail_on']})",
        ExitCode.FINDINGS: click.style("FAIL", fg="red", bold=True)
        + f" (open findings at or above {scan['fail_on']})",
        ExitCode.NOT_EVALUABLE: click.style("ERROR", fg="red", bold=True)
        + " (some data or policies could not be evaluated — no verdict)",
    }[code]
    click.echo(f"result: {verdict} · exit {int(code)}")
