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
    _print_waivers_and_baseline(doc)
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


def _print_waivers_and_baseline(doc: dict[str, Any]) -> None:
    """Waiver states (expired ones by name: their findings count again) and the baseline diff."""
    waivers = doc.get("waivers") or []
    if waivers:
        states = [w["status"] for w in waivers]
        click.echo("  waivers: " + ", ".join(
            f"{states.count(s)} {s}" for s in ("active", "expired", "stale") if states.count(s)))
        for w in waivers:
            if w["status"] == "expired":
                click.secho(f"  waiver EXPIRED {w['expires']}: {w['policy']} {w['subject']} "
                            f"({w['matched']} finding(s) open again)", fg="yellow")
    marks = [f.get("baseline") for f in doc["findings"] if f.get("baseline")]
    if marks or doc.get("resolved"):
        click.echo(f"  baseline: {marks.count('new')} new, {marks.count('existing')} existing, "
                   f"{marks.count('waiver_expired')} waiver expired, {len(doc.get('resolved') or [])} resolved")
