"""The ``ledgerguard`` command line: parse options, call the library, map errors to exit codes.

Every command is wrapped by ``handle_errors``: a ``LedgerguardError`` becomes its
located message on stderr and its exit code (2 bad input, 3 not evaluable); nothing
reaches the user as a traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from ledgerguard.scanner.contract import FAIL_ON
from ledgerguard.scanner.errors import InputError, LedgerguardError, Problem
from ledgerguard.scanner.exitcodes import ExitCode

CONFIG_FILE = "ledgerguard.yaml"
LANGS = ("en", "zh")


def report_formats(gate: bool = False) -> list[str]:
    """The registered report formats; github and gitlab annotate a change file (gate, report)."""
    from ledgerguard.reports.base import FORMATS

    return [name for name, reporter in FORMATS.items() if gate or not reporter.gate_only]


class FormatsOption(click.Option):
    """``--format``: its help lists the registered formats, looked up only when help is shown
    (the report modules are not imported for every command)."""

    def __init__(self, *args: Any, gate: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = gate

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = f"Comma-separated: {','.join(report_formats(self.gate))}."
        return super().get_help_record(ctx)


def report_error(exc: LedgerguardError) -> int:
    """Print a library error's located problems on stderr; its exit code."""
    problems = getattr(exc, "problems", None) or [Problem(str(exc))]
    for p in problems:
        click.secho(f"error: {p}", fg="red", err=True)
    if len(problems) > 1:
        click.echo(f"{len(problems)} problems found", err=True)
    return int(exc.exit_code)


def handle_errors(fn):
    """Turn library errors into located messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        try:
            return fn(*args, **kwargs)
        except LedgerguardError as exc:
            ctx.exit(report_error(exc))
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            # the reader went away (`ledgerguard policies list | head`): stop quietly, and point
            # stdout at /dev/null so the interpreter's final flush does not complain either
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except Exception as exc:
            if ctx.find_root().params.get("debug"):
                raise
            click.secho(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
                        fg="red", err=True)
            ctx.exit(int(ExitCode.NOT_EVALUABLE))

    return wrapper


def split_formats(value: str | list[str] | tuple[str, ...] | None, gate: bool = False) -> list[str]:
    """``html,xlsx`` (or a YAML list from ledgerguard.yaml) → checked format names."""
    if not value:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    names = [n.strip() for item in items for n in str(item).split(",") if n.strip()]
    allowed = report_formats(gate)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise click.BadParameter(
            f"unknown format(s) {', '.join(unknown)} (choose from {', '.join(allowed)})",
            param_hint="'--format'")
    return list(dict.fromkeys(names))


CONFIG_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "snapshot": {"type": "string"},
        "sources": {"type": "string"},
        "policies": {"type": "array", "items": {"type": "string"}},
        "waivers": {"type": "string"},
        "baseline": {"type": "string"},
        "formats": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "out": {"type": "string"},
        "fail_on": {"enum": list(FAIL_ON)},
        "lang": {"enum": list(LANGS)},
        "as_of": {"type": "string"},
    },
}


def _config_defaults(path: Path) -> dict[str, Any]:
    """ledgerguard.yaml → click default_map for scan and gate (flags still win)."""
    from ledgerguard.scanner.yamlload import load_yaml, validate

    doc = load_yaml(path)
    if doc.data is None:
        return {}
    problems = validate(doc, CONFIG_SCHEMA)
    if problems:
        raise InputError(problems)
    data = dict(doc.data)
    if "formats" in data:
        data["formats"] = ",".join(split_formats(data["formats"]))
    if "snapshot" in data:
        data["snapshot_dir"] = data.pop("snapshot")
    return {"scan": data, "gate": {k: v for k, v in data.items() if k != "sources"}}


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="ledgerguard")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks of internal errors.")
@click.pass_context
def main(ctx: click.Context, verbose: int, debug: bool) -> None:
    """Policy-as-code compliance scanner for finance-system access and accounting archives.

    \b
    Exit codes: 0 nothing at or above --fail-on · 1 findings at or above it
                2 bad input (message names file:line:column) · 3 data or policy not evaluable
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    config = Path(CONFIG_FILE)
    if config.is_file():
        try:
            ctx.default_map = _config_defaults(config)
        except LedgerguardError as exc:
            for p in exc.problems:
                click.secho(f"error: {p}", fg="red", err=True)
            ctx.exit(int(ExitCode.BAD_INPUT))


def _jobs(ctx: click.Context, param: click.Parameter, value: str) -> int | None:
    if str(value) == "auto":
        return None
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise click.BadParameter(f"{value!r} is not a whole number ≥ 1 or 'auto'")
    return jobs


def scan_options(gate: bool = False):
    """Options shared by ``scan`` and ``gate`` (whose --format also takes github and gitlab)."""
    options = [
        click.option("--policies", "policies", multiple=True, type=click.Path(),
                     help="Policy file or folder (repeatable). Default: the built-in cn_finance pack."),
        click.option("--as-of", "as_of", metavar="YYYY-MM-DD",
                     help="What 'today' is (00:00 in the snapshot timezone). Default: the snapshot's taken_at."),
        click.option("--format", "formats", cls=FormatsOption, gate=gate, default="json", show_default=True),
        click.option("--out", "out", type=click.Path(file_okay=False), default="out", show_default=True,
                     help="Folder the reports are written to."),
        click.option("--fail-on", "fail_on", type=click.Choice(FAIL_ON), default="high", show_default=True,
                     help="Lowest severity of an open finding that makes the exit code 1."),
        click.option("--lang", type=click.Choice(LANGS), default="en", show_default=True,
                     help="Language of report labels."),
        click.option("--jobs", "jobs", default="auto", show_default=True, callback=_jobs, metavar="N|auto",
                     help="Worker processes evaluating policies. auto: one per core (at most 4) for a large snapshot "
                          "(≥ 250,000 rows), else 1."),
    ]

    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


@main.command()
@click.option("--snapshot", "snapshot_dir", type=click.Path(), help="Snapshot folder to scan.")
@click.option("--sources", "sources", type=click.Path(),
              help="Collect these sources first (into a temporary snapshot), then scan.")
@click.option("--waivers", "waivers", type=click.Path(dir_okay=False), metavar="WAIVERS.yaml",
              help="Accepted findings with reason, approver and expiry (docs/waivers.md).")
@click.option("--baseline", "baseline", type=click.Path(dir_okay=False), metavar="FINDINGS.json",
              help="An earlier findings.json: mark findings new/existing and list resolved ones.")
@click.option("--fail-on-new-only", "fail_on_new_only", is_flag=True,
              help="Exit 1 only for findings new since --baseline (or whose waiver expired).")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="dask: evaluate as partition tasks on a Dask cluster (pip install 'ledgerguard[dask]'; "
                   "docs/performance.md).")
@click.option("--scheduler", metavar="ADDRESS", help="--engine dask: the scheduler (tcp://host:8786); "
              "default: a local cluster of one worker process per core.")
@click.option("--dask-dir", "dask_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="--engine dask: where the Parquet partitions are written; every worker must read it.")
@scan_options()
@handle_errors
def scan(snapshot_dir: str | None, sources: str | None, waivers: str | None, baseline: str | None,
         fail_on_new_only: bool, engine: str, scheduler: str | None, dask_dir: str | None,
         policies: tuple[str, ...], as_of: str | None,
         formats: str, out: str, fail_on: str, lang: str, jobs: int | None) -> None:
    """Evaluate policies against a snapshot and write findings and reports."""
    from ledgerguard.reports.base import write_reports
    from ledgerguard.scanner.findings import exit_code
    from ledgerguard.scanner.policy import load_packs
    from ledgerguard.scanner.scan import resolve_now, run_scan
    from ledgerguard.scanner.snapshot import read_snapshot

    from .console import print_summary

    if bool(snapshot_dir) == bool(sources):
        raise click.UsageError("give either --snapshot DIR or --sources SOURCES.yaml")
    if fail_on_new_only and not baseline:
        raise click.UsageError("--fail-on-new-only needs --baseline FINDINGS.json")
    fmts = split_formats(formats)
    packs = load_packs(list(policies) or None)
    if sources:
        import tempfile

        from .collect import collect
        from .console import print_collect_summary

        with tempfile.TemporaryDirectory(prefix="ledgerguard-") as tmp:
            # partial: a failed source is recorded, so the policies needing it end in error
            result = collect(sources, Path(tmp) / "snapshot", partial=True)
            print_collect_summary(result)
            snapshot = read_snapshot(result.path)
    else:
        snapshot = read_snapshot(snapshot_dir)
    now = resolve_now(as_of, snapshot)
    evaluator = None
    if engine == "dask":
        from ledgerguard.scanner.dask_engine import dask_evaluator
        from ledgerguard.scanner.workers import usable_cores

        evaluator = dask_evaluator(scheduler, workdir=dask_dir, workers=usable_cores())
    doc = run_scan(snapshot, packs, now, fail_on=fail_on, jobs=jobs, evaluator=evaluator,
                   **_waivers_and_baseline(waivers, baseline, now))
    written = write_reports(doc, fmts, Path(out), lang)
    code = exit_code(doc, fail_on, new_only=fail_on_new_only)
    print_summary(doc, code, [str(p) for p in written])
    sys.exit(int(code))


def _waivers_and_baseline(waivers: str | None, baseline: str | None, now: Any) -> dict[str, Any]:
    """run_scan's waivers= and baseline= from their files (expiry judged against the as-of date)."""
    from ledgerguard.scanner.contract import read_findings
    from ledgerguard.scanner.waivers import load_waivers

    return {
        "waivers": load_waivers([waivers], now.date()) if waivers else None,
        "baseline": read_findings(baseline) if baseline else None,
    }


@main.command()
@click.option("--snapshot", "snapshot_dir", required=True, type=click.Path(),
              help="Snapshot folder: the current state the change is applied to.")
@click.option("--change", "change", required=True, multiple=True, type=click.Path(dir_okay=False),
              metavar="CHANGE.yaml", help="The proposed changes (SPEC §6; docs/ci.md). Repeatable: "
              "the files' changes are applied in order and judged together.")
@click.option("--waivers", "waivers", type=click.Path(dir_okay=False), metavar="WAIVERS.yaml",
              help="Accepted findings with reason, approver and expiry (docs/waivers.md).")
@click.option("--full", is_flag=True, help="Evaluate every policy on the whole current and proposed states "
              "(default: only what the change can affect; docs/performance.md).")
@scan_options(gate=True)
@handle_errors
def gate(snapshot_dir: str, change: tuple[str, ...], waivers: str | None, full: bool, policies: tuple[str, ...],
         as_of: str | None, formats: str, out: str, fail_on: str, lang: str, jobs: int | None) -> None:
    """Judge a change file before it is applied: only the findings it introduces fail.

    --format also takes github (workflow-command annotations, printed to stdout) and
    gitlab (Code Quality JSON). Exit 1 when an introduced finding reaches --fail-on.
    """
    import contextlib

    from ledgerguard.reports.base import write_reports
    from ledgerguard.reports.github import annotations, problem_annotations, stop_commands
    from ledgerguard.scanner.changes import load_changes
    from ledgerguard.scanner.findings import exit_code
    from ledgerguard.scanner.gate import gate_tables, run_gate
    from ledgerguard.scanner.policy import load_packs
    from ledgerguard.scanner.scan import resolve_now
    from ledgerguard.scanner.snapshot import read_snapshot

    from .console import describe, print_summary

    fmts = split_formats(formats, gate=True)
    try:
        changes = load_changes(list(change))
        packs = load_packs(list(policies) or None)
        snapshot = read_snapshot(snapshot_dir, only=None if full else gate_tables(packs))
        now = resolve_now(as_of, snapshot)
        doc = run_gate(snapshot, packs, changes, now, fail_on=fail_on, jobs=jobs, incremental=not full,
                       waivers=_waivers_and_baseline(waivers, None, now)["waivers"])
    except LedgerguardError as exc:
        if "github" not in fmts:
            raise
        # bad input in a pull request: annotate its lines; the messages quote it, so fence them
        for line in problem_annotations(exc.problems if isinstance(exc, InputError) else []):
            click.echo(line, err=True)
        with stop_commands(lambda text: click.echo(text, err=True)):
            code = report_error(exc)
        sys.exit(code)
    written = write_reports(doc, fmts, Path(out), lang)
    code = exit_code(doc, fail_on)
    fenced = contextlib.nullcontext()
    if "github" in fmts:
        for line in annotations(doc):
            click.echo(line)
        fenced = stop_commands(click.echo)
    with fenced:
        for line in describe(doc):
            click.echo(line)
        print_summary(doc, code, [str(p) for p in written])
    sys.exit(int(code))


@main.command()
@click.option("--sources", "sources", required=True, type=click.Path(), help="The sources file.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False),
              help="Snapshot folder to write (replaced atomically).")
@click.option("--partial", is_flag=True,
              help="Write the snapshot even when a source failed (its tables marked unusable).")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True,
              help="File format of the snapshot tables.")
@handle_errors
def collect(sources: str, out: str, partial: bool, fmt: str) -> None:
    """Pull every source into a snapshot folder. Exit 3 when a source failed."""
    from .collect import collect as run_collect
    from .console import print_collect_summary

    result = run_collect(sources, out, partial=partial, fmt=fmt)
    print_collect_summary(result)
    sys.exit(int(ExitCode.NOT_EVALUABLE if result.failed else ExitCode.OK))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@handle_errors
def validate(paths: tuple[str, ...]) -> None:
    """Check policy, waiver, sources and change files; print every problem with its place."""
    from .validate import validate_paths

    for line in validate_paths(list(paths)):
        click.echo(line)


@main.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@handle_errors
def test_cmd(paths: tuple[str, ...]) -> None:
    """Run policy unit tests: every folder below PATHS holding an expected.yaml (docs/testing-policies.md)."""
    from ledgerguard.scanner.policytest import run_tests

    run = run_tests(list(paths))
    style = {"passed": ("PASSED", "green"), "failed": ("FAILED", "red"), "error": ("ERROR", "red")}
    for case in run.cases:
        word, colour = style[case.status]
        try:
            name = case.path.relative_to(Path.cwd())
        except ValueError:
            name = case.path
        click.echo(f"{name} " + click.style(word, fg=colour, bold=True))
        for line in case.failures:
            click.echo(f"    {line}")
    counts = ", ".join(f"{run.count(s)} {s}" for s in ("passed", "failed", "error") if run.count(s))
    click.echo(f"==== {counts} in {run.seconds:.2f}s ====")
    sys.exit(run.exit_code)


@main.group()
def policies() -> None:
    """What a policy pack contains."""


@policies.command("list")
@click.option("--policies", "paths", multiple=True, type=click.Path(),
              help="Policy file or folder (repeatable). Default: the built-in pack.")
@click.option("--lang", type=click.Choice(LANGS), default="en", show_default=True)
@click.option("--controls", "show_controls", is_flag=True,
              help="Show the controls (requirements) and the policies that check each, with manual procedures.")
@handle_errors
def policies_list(paths: tuple[str, ...], lang: str, show_controls: bool) -> None:
    """List the policies of the loaded packs (or, with --controls, the requirement → policy map)."""
    from ledgerguard.scanner.policy import load_packs

    packs = load_packs(list(paths) or None)
    if show_controls:
        _print_controls(packs, lang)
        return
    for pack in packs:
        click.secho(f"{pack.name} {pack.version}  ({pack.path})", bold=True)
        for p in pack.policies:
            state = "" if p.enabled else "  [disabled]"
            click.echo(f"  {p.id:<10} {p.severity:<8} {p.kind:<22} {p.title[lang]}{state}")


def _print_controls(packs: list[Any], lang: str) -> None:
    """Each control with its source clause and checking policies (or its audit procedure)."""
    import textwrap

    from ledgerguard.scanner.policy import all_policies

    policies_by_id = {p.id: p for p in all_policies(packs)}
    mapped: set[str] = set()
    controls = [c for pack in packs for c in pack.controls]
    if not controls:
        click.echo("no controls in the loaded packs")
    for c in controls:
        tag = click.style("  [manual]", fg="yellow") if c.manual else ""
        click.secho(f"{c.id}  {c.title[lang]}", bold=True, nl=False)
        click.echo(tag)
        if c.source:
            click.echo(f"    source: {c.source}")
        for pid in c.policies:
            mapped.add(pid)
            p = policies_by_id[pid]
            click.echo(f"    checked by {pid:<10} {p.severity:<8} {p.kind:<22} {p.title[lang]}")
        if c.procedure:
            click.echo(textwrap.fill(c.procedure[lang], width=96, initial_indent="    procedure: ",
                                     subsequent_indent="      "))
    unmapped = [pid for pid in policies_by_id if pid not in mapped]
    n_manual = sum(c.manual for c in controls)
    click.echo(f"{len(controls)} controls ({len(controls) - n_manual} checked by policies, {n_manual} manual)")
    if unmapped:
        click.echo(f"policies not mapped to any control: {', '.join(unmapped)}")


@policies.command("show")
@click.argument("policy_id")
@click.option("--policies", "paths", multiple=True, type=click.Path(),
              help="Policy file or folder (repeatable). Default: the built-in pack.")
@click.option("--lang", type=click.Choice(LANGS), default="en", show_default=True)
@handle_errors
def policies_show(policy_id: str, paths: tuple[str, ...], lang: str) -> None:
    """Show one policy with its effective params (defaults filled in)."""
    import yaml

    from ledgerguard.scanner.kinds.base import KINDS
    from ledgerguard.scanner.policy import all_policies, load_packs

    found = {p.id: p for p in all_policies(load_packs(list(paths) or None))}
    if policy_id not in found:
        raise InputError(Problem(f"no policy {policy_id!r} in the loaded packs"))
    p = found[policy_id]
    kind = KINDS.get(p.kind)
    click.secho(f"{p.id}  {p.title[lang]}", bold=True)
    click.echo(f"kind: {p.kind}   severity: {p.severity}   enabled: {str(p.enabled).lower()}")
    click.echo(f"pack: {p.pack}   defined at {p.file}:{p.line}")
    if p.description:
        click.echo(f"description: {p.description[lang]}")
    for ref in p.references:
        click.echo(f"reference: {ref}")
    if p.remediation:
        click.echo(f"remediation: {p.remediation[lang]}")
    click.echo(f"subject: {kind.subject}   finding codes: {', '.join(kind.codes)}")
    click.echo("params (defaults filled in):")
    click.echo(yaml.safe_dump(kind(p.params).params, allow_unicode=True, sort_keys=False).rstrip())


@main.command()
@click.option("--findings", "findings", required=True, type=click.Path(dir_okay=False),
              metavar="FINDINGS.json", help="A findings.json written by scan or gate.")
@click.option("--format", "formats", cls=FormatsOption, gate=True, default="html,xlsx", show_default=True)
@click.option("--out", "out", type=click.Path(file_okay=False), default="out", show_default=True,
              help="Folder the reports are written to.")
@click.option("--lang", type=click.Choice(LANGS), default="en", show_default=True,
              help="Language of report labels.")
@handle_errors
def report(findings: str, formats: str, out: str, lang: str) -> None:
    """Re-render reports from a findings.json (no snapshot or policies needed)."""
    from ledgerguard.reports.base import write_reports
    from ledgerguard.reports.document import load_findings

    fmts = split_formats(formats, gate=True)
    doc = load_findings(findings)
    for path in write_reports(doc, fmts, Path(out), lang):
        click.echo(f"wrote {path}")


@main.command()
@click.option("--out", "out", type=click.Path(file_okay=False), default="out", show_default=True,
              help="Folder for the reports; the demo snapshot goes to OUT/snapshot.")
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD",
              help="The demo's 'today': its data is generated relative to it. Default: today (Asia/Shanghai).")
@click.option("--format", "formats", cls=FormatsOption, default=lambda: ",".join(report_formats()),
              show_default="all of them")
@click.option("--lang", type=click.Choice(LANGS), default="en", show_default=True,
              help="Language of report labels.")
@handle_errors
def demo(out: str, as_of: str | None, formats: str, lang: str) -> None:
    """Build the bundled demo company, scan it with the built-in pack, write the reports."""
    from .console import print_collect_summary, print_summary
    from .demo import COMPANY, SCENARIOS, parse_as_of, run_demo

    day = parse_as_of(as_of)
    click.echo(f"demo: {COMPANY} (fictional) as of {day.isoformat()}; planted violations:")
    for line in SCENARIOS:
        click.echo(f"  - {line}")
    fmts = split_formats(formats)
    run = run_demo(Path(out), day, fmts, lang)
    print_collect_summary(run.collected)
    print_summary(run.doc, run.code, [str(p) for p in run.written])
    sys.exit(int(run.code))


if __name__ == "__main__":  # pragma: no cover
    main()
