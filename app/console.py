"""Everything ledgerguard prints on the terminal: scan and gate summaries, collect
progress and results. The library returns values; only this module turns them into lines."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click

from ledgerguard.scanner.contract import FAIL, NO_VERDICT, PASS, verdict
from ledgerguard.scanner.exitcodes import ExitCode
from ledgerguard.scanner.limits import TEXT_LIMIT, truncate

if TYPE_CHECKING:
    from ledgerguard.scanner.history import Diff, ScanRow

    from .collect import CollectResult

# info in blue: white would vanish on a light terminal
SEV_COLOURS = {"critical": "magenta", "high": "red", "medium": "yellow", "low": "cyan", "info": "blue"}
MAX_LISTED = 20


def print_summary(doc: dict[str, Any], code: ExitCode, out_paths: list[str] = ()) -> None:
    if quiet():
        print_quiet_summary(doc, code)
        return
    scan, summary = doc["scan"], doc["summary"]
    snap = scan["snapshot"]
    click.echo(
        f"ledgerguard {scan['command']} · as of {scan['as_of']} ({scan['timezone']}) · "
        f"snapshot {inert(snap.get('path') or '-')} · {summary['policies']} policies"
    )
    for src in snap.get("sources") or []:
        if src.get("status") == "error":
            click.secho(f"  source {inert(src.get('name'))} FAILED: {inert(src.get('error'))}", fg="red", err=False)
    counts = "  ".join(
        click.style(f"{sev} {n}", fg=SEV_COLOURS[sev], bold=n > 0)
        for sev, n in summary["findings"].items()
    )
    waived = f"   (waived {summary['waived']})" if summary["waived"] else ""
    click.echo(f"  findings: {counts}{waived}")
    _print_waivers_and_baseline(doc)
    flagged = [p for p in doc["policies"]
               if p["status"] in ("fail", "error", "inconclusive") or p.get("waived") or p.get("warnings")]
    for p in flagged[:MAX_LISTED]:
        _print_policy(p)
    if len(flagged) > MAX_LISTED:
        click.echo(f"  … and {len(flagged) - MAX_LISTED} more policies with findings, errors or warnings")
    click.echo(
        f"  policies: passed {summary['passed']}, failed {summary['failed']}, "
        f"errored {summary['errored']}, inconclusive {summary.get('inconclusive', 0)}, "
        f"skipped {summary.get('skipped', 0)}"
    )
    for path in out_paths:
        click.echo(f"  wrote {inert(path)}")
    word = verdict(doc)
    text = {
        PASS: click.style(PASS, fg="green", bold=True) + f" (nothing open at or above {scan['fail_on']})",
        FAIL: click.style(FAIL, fg="red", bold=True) + f" (open findings at or above {scan['fail_on']})",
        NO_VERDICT: click.style(NO_VERDICT, fg="red", bold=True)
        + " (some data or policies could not be evaluated or examined nothing)",
    }[word]
    click.echo(f"result: {text} · exit {int(code)}")


def policy_counts(p: dict[str, Any]) -> str:
    """``4 open, 6 waived`` — waived findings are never hidden in a total."""
    waived = p.get("waived", 0)
    open_ = p.get("open", p["findings"] - waived)
    return f"{open_} open" + (f", {waived} waived" if waived else "")


def _print_policy(p: dict[str, Any]) -> None:
    """One policy line: FAIL with its open and waived counts, ERROR / INCONCLUSIVE with the
    reason, a fully waived one as ``pass (6 waived)``; its coverage warnings below it."""
    if p["status"] in ("error", "inconclusive"):
        click.echo(click.style(f"  {p['status'].upper():<13}", fg="red", bold=True)
                   + f"{inert(p['id'])} ({p['kind']}): {inert(p['error'])}")
    elif p["status"] == "fail":
        click.echo(click.style("  FAIL  ", fg=SEV_COLOURS[p["severity"]], bold=True)
                   + f"{inert(p['id'])} {p['severity']:<8} {policy_counts(p)}  {inert(p['title']['en'])}")
    elif p.get("waived"):
        click.echo(click.style("  pass  ", fg="green") + f"{inert(p['id'])} {p['severity']:<8} "
                   f"pass ({p['waived']} waived)  {inert(p['title']['en'])}")
    for warning in p.get("warnings") or []:
        click.secho(f"        warning {inert(p['id'])}: {inert(warning)}", fg="yellow")


def print_quiet_summary(doc: dict[str, Any], code: ExitCode) -> None:
    """``--quiet``: failed sources and one result line with the open counts."""
    for src in doc["scan"]["snapshot"].get("sources") or []:
        if src.get("status") == "error":
            click.secho(f"source {src.get('name')} FAILED: {src.get('error')}", fg="red", err=True)
    counts = ", ".join(f"{sev} {n}" for sev, n in doc["summary"]["findings"].items() if n) or "none open"
    word = {ExitCode.OK: ("PASS", "green"), ExitCode.FINDINGS: ("FAIL", "red"),
            ExitCode.NOT_EVALUABLE: ("ERROR", "red")}[code]
    click.echo(f"result: {click.style(word[0], fg=word[1], bold=True)} · {counts} · exit {int(code)}")


def _print_waivers_and_baseline(doc: dict[str, Any]) -> None:
    """Waiver states (expired ones by name: their findings count again) and the baseline diff."""
    waivers = doc.get("waivers") or []
    if waivers:
        states = [w["status"] for w in waivers]
        click.echo("  waivers: " + ", ".join(
            f"{states.count(s)} {s}" for s in ("active", "expired", "stale") if states.count(s)))
        for w in waivers:
            if w["status"] == "expired":
                click.secho(f"  waiver EXPIRED {inert(w['expires'])}: {inert(w['policy'])} {inert(w['subject'])} "
                            f"({w['matched']} finding(s) open again)", fg="yellow")
    marks = [f.get("baseline") for f in doc["findings"] if f.get("baseline")]
    if marks or doc.get("resolved"):
        click.echo(f"  baseline: {marks.count('new')} new, {marks.count('existing')} existing, "
                   f"{marks.count('waiver_expired')} waiver expired, {len(doc.get('resolved') or [])} resolved")


class SourceProgress:
    """The live line while ``collect`` pulls sources, drawn by ``rich`` on stderr and
    removed when done (transient), so each source is listed once: by the summary."""

    def __init__(self, force: bool = False) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        ctx = click.get_current_context(silent=True)
        colour = ctx.color if ctx is not None else None
        console = Console(stderr=True, no_color=True if colour is False else None, force_terminal=force or None)
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), console=console,
                             transient=True)
        self._task: Any = None

    def __enter__(self) -> SourceProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def begin(self, label: str) -> None:
        self._task = self._bar.add_task(label, total=None, unit="")

    def update(self, done: int, total: int | None, unit: str) -> None:
        self._bar.update(self._task, completed=done, total=total or None, unit=unit)

    def end(self) -> None:
        self._bar.refresh()  # the source's last count is drawn before its line goes
        self._bar.remove_task(self._task)


def source_progress(enabled: bool | None) -> SourceProgress | None:
    """A progress display when ``enabled`` (None: when stderr is a terminal and not --quiet)."""
    if enabled is None:
        return SourceProgress() if sys.stderr.isatty() and not quiet() else None
    return SourceProgress(force=True) if enabled else None


def quiet() -> bool:
    """``--quiet``: only the result line, failures and errors are printed."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.find_root().params.get("quiet"))


def print_collect_summary(result: CollectResult) -> None:
    """One line per source on stdout; failures in red on stderr, with the reason."""
    for src in result.sources:
        if src["status"] == "ok" and quiet():
            continue
        if src["status"] == "ok":
            tables = inert(", ".join(src["tables"])) or "no tables"
            click.echo(f"source {inert(src['name'])} ({src['kind']}): ok, {tables} in {src['duration_seconds']:.1f}s")
            if src.get("unmapped_permissions"):
                unmapped = src["unmapped_permissions"]
                click.secho(f"source {inert(src['name'])}: {len(unmapped)} native permissions map to no duty "
                            f"(policies cannot see them; add them to duties:): {inert(', '.join(unmapped))}",
                            fg="yellow", err=True)
        else:
            click.secho(f"source {inert(src['name'])} ({src['kind']}) FAILED: {inert(src['error'])}",
                        fg="red", err=True)
    if result.path is not None and not quiet():
        rows = ", ".join(f"{k} {v}" for k, v in sorted(result.tables.items()))
        click.echo(f"wrote snapshot {inert(result.path)} ({rows or 'no tables'})")
    elif result.failed:
        click.secho("no snapshot written: a source failed (use --partial to write one anyway)",
                    fg="red", err=True)


def inert(text: Any) -> str:
    """Untrusted text (anything from a file, a source or a finding) made safe to print.

    One line: control and bidi characters (newline, ESC, U+202E) are shown escaped, so
    no value clears the screen, sets the title or starts a second line; a leading
    ``::`` is escaped too, so no value is read as a GitHub workflow command even where
    it starts the line; cut to ``TEXT_LIMIT`` characters like every human-facing field.
    """
    text = str(text)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    if text.startswith("::"):
        text = "\\x3a" + text[1:]
    return truncate(text, TEXT_LIMIT)


def describe(doc: dict[str, Any]) -> Iterable[str]:
    """Terminal lines: what the change introduces (with its place) and what it resolves."""
    findings, resolved = doc["findings"], doc.get("resolved") or []
    files = ", ".join(inert(f) for f in doc["scan"].get("change_files") or [])
    yield f"  change file(s) {files}: {doc['scan'].get('changes', 0)} change(s)"
    yield f"  introduced: {len(findings)}   resolved: {len(resolved)}"
    for f in findings:
        loc = f.get("location") or {}
        where = f"{loc['file']}:{loc['line']}" if loc.get("line") else "(not attributable)"
        state = "  [waived]" if f["status"] == "waived" else ""
        yield (f"  + {inert(where)}  {inert(f['policy_id'])} {f['severity']}  {inert(f['subject'])}: "
               f"{inert(f['message'])}{state}")
    for f in resolved:
        yield f"  - resolved  {inert(f['policy_id'])} {f['severity']}  {inert(f['subject'])}: {inert(f['message'])}"



def print_warning(text: str) -> None:
    click.secho(f"warning: {text}", fg="yellow", err=True)


def print_warnings(doc: dict[str, Any]) -> None:
    """The guard rails' warnings recorded in the document (every report shows them too)."""
    for text in doc["scan"].get("warnings") or []:
        print_warning(inert(text))


def print_removed(paths: list[Any]) -> None:
    if paths and not quiet():
        click.echo(f"removed {inert(', '.join(map(str, paths)))} (left by an earlier run, of a format not written now)")


def print_history(scans: list[ScanRow]) -> None:
    """One line per recorded scan, oldest first."""
    if not scans:
        click.echo("no scans recorded yet")
    for s in scans:
        counts = "  ".join(f"{sev} {n}" for sev, n in s.summary["findings"].items())
        click.echo(f"#{s.id:<4} {s.as_of[:19]:<19}  {s.command:<4}  {s.verdict:<13} {counts}  "
                   f"waived {s.summary.get('waived', 0)}  {inert(s.snapshot_path or '-')}")


def print_history_diff(diff: Diff) -> None:
    """A scan against the previous one, per policy: + new, - resolved, = still open."""
    s, prev = diff.scan, diff.previous
    against = f"scan #{prev.id} as of {prev.as_of}" if prev else "no earlier scan"
    click.echo(f"scan #{s.id} as of {s.as_of} ({s.verdict}) against {against}")
    click.echo(f"  new {diff.count('new')}, resolved {diff.count('resolved')}, still open {diff.count('still_open')}")
    for p in diff.policies:
        click.secho(f"  {p.policy_id}: new {len(p.new)}, resolved {len(p.resolved)}, still open {len(p.still_open)}",
                    bold=bool(p.new))
        for mark, rows in (("+", p.new), ("-", p.resolved)):
            for f in rows[:MAX_LISTED]:
                click.echo(f"    {mark} {f['severity']:<8} {inert(f['subject'])}: {inert(f['message'])}")
            if len(rows) > MAX_LISTED:
                click.echo(f"    {mark} … and {len(rows) - MAX_LISTED} more")
