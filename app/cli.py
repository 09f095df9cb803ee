"""The ``ledgerguard`` command line: parse options, call the library, map errors to exit codes.

Every command is wrapped by ``handle_errors``: a ``LedgerguardError`` becomes its
located message on stderr and its exit code (2 bad input, 3 not evaluable); nothing
reaches the user as a traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ledgerguard.scanner import __version__
from ledgerguard.scanner.contract import FAIL_ON
from ledgerguard.scanner.errors import InputError, LedgerguardError, Problem
from ledgerguard.scanner.exitcodes import ExitCode

from .config import CONFIG_FILE, LANGS, load_config

#: config keys that are no command-line option (read from config_data())
NOT_OPTIONS = ("notify", "max_as_of_drift_days")
#: the commands that read the config file; a mistake in it does not stop the others
CONFIG_COMMANDS = ("scan", "gate", "history")


def report_formats(gate: bool = False) -> list[str]:
    """The registered report formats (looked up when needed: help text, option checks)."""
    from ledgerguard.reports.base import format_names

    return format_names(gate)


def demo_formats() -> list[str]:
    """The demo writes every format but pdf, which needs a Chromium (``--format pdf`` adds it)."""
    return [f for f in report_formats() if f != "pdf"]


class FormatsOption(click.Option):
    """``--format``: its help lists the registered formats, looked up only when help is shown
    (the report modules are not imported for every command)."""

    def __init__(self, *args: Any, gate: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = gate

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = f"Comma-separated: {','.join(report_formats(self.gate))}."
        return super().get_help_record(ctx)


class InputPath(click.Path):
    """``click.Path`` that refuses a NUL byte (only a config file or a caller can pass one;
    ``os.stat`` would raise ValueError on it) as a usage error, exit 2."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if "\x00" in str(value):
            self.fail(f"{str(value)!r} holds a NUL byte, which no path can contain", param, ctx)
        return super().convert(value, param, ctx)


def report_error(exc: LedgerguardError) -> int:
    """Print a library error's located problems on stderr; its exit code."""
    from .console import inert

    problems = getattr(exc, "problems", None) or [Problem(str(exc))]
    for p in problems:
        click.secho(f"error: {inert(p)}", fg="red", err=True)
    if len(problems) > 1:
        click.echo(f"{len(problems)} problems found", err=True)
    return int(exc.exit_code)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so a command ends like on Ctrl-C: workers stopped,
    temp folders removed by their ``finally``, a message and exit 3 (no verdict)."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def handle_errors(fn):
    """Turn library errors into located messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import signal
        import threading

        ctx = click.get_current_context()
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
            ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))
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
        except (KeyboardInterrupt, Terminated) as exc:
            what = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
            click.secho(f"error: interrupted by {what}: stopped, no verdict and no reports written",
                        fg="red", err=True)
            ctx.exit(int(ExitCode.NOT_EVALUABLE))
        except RecursionError:  # a last guard: every reader refuses nesting past limits.MAX_DEPTH itself
            if ctx.find_root().params.get("debug"):
                raise
            click.secho("error: an input is nested too deeply to process", fg="red", err=True)
            ctx.exit(int(ExitCode.BAD_INPUT))
        except Exception as exc:
            if ctx.find_root().params.get("debug"):
                raise
            from .console import inert

            click.secho(f"internal error: {type(exc).__name__}: {inert(exc)} (rerun with --debug for details)",
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
        import difflib

        hints = [f"did you mean {m[0]}?" for n in unknown if (m := difflib.get_close_matches(n, allowed, n=1))]
        raise click.BadParameter(
            f"unknown format(s) {', '.join(unknown)} (choose from {', '.join(allowed)})"
            + (f"; {' '.join(hints)}" if hints else ""), param_hint="'--format'")
    return list(dict.fromkeys(names))


def _config_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """The config file's keys → click default_map for scan and gate (flags still win)."""
    options = {k: v for k, v in data.items() if k not in NOT_OPTIONS}
    if "formats" in options:
        options["formats"] = ",".join(split_formats(options["formats"]))
    for key, param in (("snapshot", "snapshot_dir"), ("policy", "only"), ("skip_policy", "skip")):
        if key in options:
            options[param] = options.pop(key)
    gate_keys = ("sources", "baseline", "history")
    return {"scan": options, "gate": {k: v for k, v in options.items() if k not in gate_keys},
            "history": {k: v for k, v in options.items() if k == "history"}}


def config_data() -> dict[str, Any]:
    """The loaded config file (empty when there is none): for the keys that are no option."""
    return click.get_current_context().find_root().meta.get("ledgerguard.config", {})


class Main(click.Group):
    """The root group; keeps the command line as given, for the scan's provenance."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["ledgerguard.argv"] = ["ledgerguard", *args]
        return super().parse_args(ctx, args)


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ledgerguard")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks of internal errors.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), metavar="PATH",
              help=f"Configuration file (docs/configuration.md), read by scan, gate and history. "
                   f"Default: ./{CONFIG_FILE} when present.")
@click.option("--color", "color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Colours on the terminal. auto: only on a terminal, and never when NO_COLOR is set.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the result line, failures and errors.")
@click.pass_context
def main(ctx: click.Context, verbose: int, debug: bool, config_path: str | None, color: str, quiet: bool) -> None:
    """Policy-as-code compliance scanner for finance-system access and accounting archives.

    \b
    Exit codes: 0 nothing at or above --fail-on · 1 findings at or above it
                2 bad input (message names file:line:column) · 3 data or policy not evaluable
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    ctx.color = {"always": True, "never": False}.get(color, False if os.environ.get("NO_COLOR") else None)
    if ctx.invoked_subcommand not in CONFIG_COMMANDS:
        return
    path = config_path or (CONFIG_FILE if Path(CONFIG_FILE).is_file() else None)
    if path is None:
        return
    try:
        data = load_config(path)
        ctx.default_map = _config_defaults(data)
    except LedgerguardError as exc:
        ctx.exit(report_error(exc))
    ctx.meta["ledgerguard.config"] = data
    ctx.meta["ledgerguard.config_path"] = path


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
        click.option("--policies", "policies", multiple=True, type=InputPath(),
                     help="Policy file or folder (repeatable); 'builtin' is the built-in pack. "
                          "Default: the built-in cn_finance pack."),
        click.option("--policy", "only", multiple=True, metavar="ID",
                     help="Run only the policies whose id matches this glob (repeatable; e.g. 'ACC-*')."),
        click.option("--skip-policy", "skip", multiple=True, metavar="ID",
                     help="Skip the policies matching this glob (repeatable): they are reported as skipped."),
        click.option("--as-of", "as_of", metavar="YYYY-MM-DD",
                     help="What 'today' is (00:00 in the snapshot timezone). Default: the snapshot's taken_at."),
        click.option("--format", "formats", cls=FormatsOption, gate=gate, default="json", show_default=True),
        click.option("--out", "out", type=InputPath(file_okay=False), default="out", show_default=True,
                     help="Folder the reports are written to; reports of other formats left there by an "
                          "earlier run are removed, so the folder never mixes two runs."),
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
@click.option("--snapshot", "snapshot_dir", type=InputPath(), help="Snapshot folder to scan.")
@click.option("--sources", "sources", type=InputPath(),
              help="Collect these sources first (into a temporary snapshot), then scan.")
@click.option("--waivers", "waivers", type=InputPath(dir_okay=False), metavar="WAIVERS.yaml",
              help="Accepted findings with reason, approver and expiry (docs/waivers.md).")
@click.option("--baseline", "baseline", type=InputPath(dir_okay=False), metavar="FINDINGS.json",
              help="An earlier findings.json: mark findings new/existing and list resolved ones.")
@click.option("--fail-on-new-only", "fail_on_new_only", is_flag=True,
              help="Exit 1 only for findings new since --baseline (or whose waiver expired).")
@click.option("--previous-snapshot", "previous_dir", type=InputPath(file_okay=False), metavar="DIR",
              help="An earlier snapshot: grants and enablements between the two need a change record.")
@click.option("--history", "history", type=InputPath(dir_okay=False), metavar="HISTORY.sqlite",
              help="Record this scan in a SQLite history (created when missing); reports then show the trend "
                   "and `ledgerguard history` the changes since the previous scan.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="dask: evaluate as partition tasks on a Dask cluster (pip install 'ledgerguard[dask]'; "
                   "docs/performance.md).")
@click.option("--scheduler", metavar="ADDRESS", help="--engine dask: the scheduler (tcp://host:8786); "
              "default: a local cluster of one worker process per core.")
@click.option("--dask-dir", "dask_dir", type=InputPath(file_okay=False), metavar="DIR",
              help="--engine dask: where the Parquet partitions are written; every worker must read it.")
@scan_options()
@handle_errors
def scan(snapshot_dir: str | None, sources: str | None, waivers: str | None, baseline: str | None,
         fail_on_new_only: bool, previous_dir: str | None, history: str | None, engine: str,
         scheduler: str | None, dask_dir: str | None, policies: tuple[str, ...],
         only: tuple[str, ...], skip: tuple[str, ...], as_of: str | None, formats: str, out: str, fail_on: str,
         lang: str, jobs: int | None) -> None:
    """Evaluate policies against a snapshot and write findings and reports."""
    from ledgerguard.scanner.findings import exit_code
    from ledgerguard.scanner.kinds.base import KINDS
    from ledgerguard.scanner.policy import all_policies
    from ledgerguard.scanner.scan import resolve_now, run_scan
    from ledgerguard.scanner.snapshot import read_snapshot

    from .console import print_collect_summary, print_summary, print_warnings

    if bool(snapshot_dir) == bool(sources):
        raise click.UsageError("give either --snapshot DIR or --sources SOURCES.yaml")
    if fail_on_new_only and not baseline:
        raise click.UsageError("--fail-on-new-only needs --baseline FINDINGS.json")
    fmts = split_formats(formats)
    with _collector_paused():
        packs = _packs(policies, only, skip)
        notify_urls = _notify_urls()
        snapshot = read_snapshot(snapshot_dir) if snapshot_dir else None
    if sources:
        import tempfile

        from .collect import collect

        with tempfile.TemporaryDirectory(prefix="ledgerguard-") as tmp:
            # partial: a failed source is recorded, so the policies needing it end in error
            result = collect(sources, Path(tmp) / "snapshot", partial=True)
            print_collect_summary(result)
            snapshot = read_snapshot(result.path)
    now = resolve_now(as_of, snapshot)
    evaluator = None
    if engine == "dask":
        from ledgerguard.scanner.dask_engine import dask_evaluator
        from ledgerguard.scanner.workers import usable_cores

        evaluator = dask_evaluator(scheduler, workdir=dask_dir, workers=usable_cores())
    previous = read_snapshot(previous_dir) if previous_dir else None
    if previous is not None and not any(KINDS.get(p.kind).uses_previous_snapshot
                                        for p in all_policies(packs) if p.enabled):
        click.echo("note: no enabled policy compares two snapshots; --previous-snapshot is not used", err=True)
    doc = run_scan(snapshot, packs, now, fail_on=fail_on, jobs=jobs, new_only=fail_on_new_only, previous=previous,
                   evaluator=evaluator,
                   provenance=_provenance(as_of, snapshot, only, skip, waivers=waivers, baseline=baseline),
                   **_waivers_and_baseline(waivers, baseline, now))
    code = exit_code(doc)
    new = None
    if history:
        new = _record_history(history, doc, code)
    written = _write_reports(doc, fmts, Path(out), lang)
    print_warnings(doc)
    print_summary(doc, code, [str(p) for p in written])
    _notify(doc, code, new if new is not None else _new_since_baseline(doc, baseline), notify_urls)
    sys.exit(int(code))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a scan reads its policy packs and snapshot,
    and what they made frozen (``gc.freeze``) after: the imports they start (pandas, pyarrow,
    jsonschema) and the tables create objects by the hundred thousand but hardly any garbage
    cycles (~2,000 objects at bench size M), and they live as long as the scan. Left to the
    collector they set off ~200 collections (~0.06 CPU-s at M, on the scan's critical path), and
    unfrozen, the first collection after the pause would visit them all (~0.03 s)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if paused:
            gc.enable()


def _packs(policies: tuple[str, ...], only: tuple[str, ...], skip: tuple[str, ...]) -> list[Any]:
    """--policies, then --policy / --skip-policy."""
    from ledgerguard.scanner.policy import load_packs, select_policies

    return select_policies(load_packs(list(policies) or None), only, skip)


def _provenance(as_of: str | None, snapshot: Any, only: tuple[str, ...], skip: tuple[str, ...],
                **files: str | None) -> dict[str, Any]:
    """The scan's provenance fields, with the --as-of guard rail's warning."""
    from .provenance import DEFAULT_MAX_DRIFT_DAYS, as_of_drift, provenance

    warnings = []
    if as_of:
        drift = as_of_drift(as_of, snapshot.taken_at,
                            config_data().get("max_as_of_drift_days", DEFAULT_MAX_DRIFT_DAYS))
        if drift:
            warnings.append(drift)
    root = click.get_current_context().find_root()
    return provenance(root.meta["ledgerguard.argv"], warnings, {"policy": list(only), "skip_policy": list(skip)},
                      config=root.meta.get("ledgerguard.config_path"), **files)


def _write_reports(doc: dict[str, Any], fmts: list[str], out: Path, lang: str) -> list[Path]:
    """Write the reports, after removing those of other formats an earlier run left in ``out``."""
    from ledgerguard.reports.base import remove_stale, write_reports

    from .console import print_removed

    print_removed(remove_stale(out, fmts))
    return write_reports(doc, fmts, out, lang)


def _record_history(path: str, doc: dict[str, Any], code: ExitCode) -> int:
    """Record the scan; put the trend into the document for the reports; findings new since
    the previous scan."""
    from ledgerguard.scanner.contract import verdict
    from ledgerguard.scanner.history import History

    with History(path) as hist:
        sid = hist.record(doc, verdict(doc), int(code))
        doc["scan"]["history"] = {"path": str(path), "scan_id": sid}
        doc["trend"] = hist.trend()
        diff = hist.diff(sid)
        return diff.count("new") if diff.previous else 0


def _new_since_baseline(doc: dict[str, Any], baseline: str | None) -> int | None:
    if not baseline:
        return None
    return sum(f.get("baseline") == "new" for f in doc["findings"])


def _notify_urls() -> list[str]:
    """The configured notification URLs, resolved before scanning (a missing one is bad input)."""
    from .notify import resolve_urls

    settings = config_data().get("notify")
    return resolve_urls(settings["urls"]) if settings else []


def _notify(doc: dict[str, Any], code: ExitCode, new: int | None, urls: list[str]) -> None:
    """Send the configured notification; a failure to send is a warning, not a verdict."""
    if not urls:
        return
    from .config import NOTIFY_ON
    from .console import print_warning
    from .notify import notice, send

    message = notice(doc, code, new, config_data()["notify"].get("when") or list(NOTIFY_ON))
    if message is None:
        return
    for failure in send(urls, message):
        print_warning(failure)


def _waivers_and_baseline(waivers: str | None, baseline: str | None, now: Any) -> dict[str, Any]:
    """run_scan's waivers= and baseline= from their files (expiry judged against the as-of date)."""
    from ledgerguard.scanner.contract import read_findings
    from ledgerguard.scanner.waivers import load_waivers

    return {
        "waivers": load_waivers([waivers], now.date()) if waivers else None,
        "baseline": read_findings(baseline) if baseline else None,
    }


@main.command()
@click.option("--snapshot", "snapshot_dir", required=True, type=InputPath(),
              help="Snapshot folder: the current state the change is applied to.")
@click.option("--change", "change", required=True, multiple=True, type=InputPath(dir_okay=False),
              metavar="CHANGE.yaml", help="The proposed changes (docs/ci.md). Repeatable: "
              "the files' changes are applied in order and judged together.")
@click.option("--waivers", "waivers", type=InputPath(dir_okay=False), metavar="WAIVERS.yaml",
              help="Accepted findings with reason, approver and expiry (docs/waivers.md).")
@click.option("--full", is_flag=True, help="Evaluate every policy on the whole current and proposed states "
              "(default: only what the change can affect; docs/performance.md).")
@click.option("--no-cache", "no_cache", is_flag=True, help="Neither read nor write the base cache kept beside "
              "the snapshot (.ledgerguard/: what the gate derives from the snapshot and packs alone).")
@scan_options(gate=True)
@handle_errors
def gate(snapshot_dir: str, change: tuple[str, ...], waivers: str | None, full: bool, no_cache: bool,
         policies: tuple[str, ...],
         only: tuple[str, ...], skip: tuple[str, ...], as_of: str | None, formats: str, out: str, fail_on: str,
         lang: str, jobs: int | None) -> None:
    """Judge a change file before it is applied: only the findings it introduces fail.

    --format also takes github (workflow-command annotations, printed to stdout) and
    gitlab (Code Quality JSON). Exit 1 when an introduced finding reaches --fail-on.
    """
    import contextlib

    from ledgerguard.reports.github import annotations, problem_annotations, stop_commands
    from ledgerguard.scanner.findings import exit_code
    from ledgerguard.scanner.policy import select_policies

    from .console import describe, print_summary, print_warnings

    fmts = split_formats(formats, gate=True)
    try:
        with _collector_paused():  # as for a scan, the table libraries' imports included
            from ledgerguard.scanner.changes import load_changes
            from ledgerguard.scanner.gate import gate_tables, run_gate
            from ledgerguard.scanner.gatecache import load_packs_cached
            from ledgerguard.scanner.gatetables import read_gate_snapshot
            from ledgerguard.scanner.scan import resolve_now

            changes = load_changes(list(change))
            packs = select_policies(load_packs_cached(list(policies) or None, None if no_cache else snapshot_dir),
                                    only, skip)
            snapshot = read_gate_snapshot(snapshot_dir, None if full else gate_tables(packs), cache=not no_cache)
        now = resolve_now(as_of, snapshot)
        doc = run_gate(snapshot, packs, changes, now, fail_on=fail_on, jobs=jobs, incremental=not full,
                       cache=not no_cache,
                       waivers=_waivers_and_baseline(waivers, None, now)["waivers"],
                       provenance=_provenance(as_of, snapshot, only, skip, waivers=waivers,
                                              **{f"change {i}": c for i, c in enumerate(change, 1)}))
    except LedgerguardError as exc:
        if "github" not in fmts:
            raise
        # bad input in a pull request: annotate its lines; the messages quote it, so fence them
        for line in problem_annotations(exc.problems if isinstance(exc, InputError) else []):
            click.echo(line, err=True)
        with stop_commands(lambda text: click.echo(text, err=True)):
            code = report_error(exc)
        sys.exit(code)
    written = _write_reports(doc, fmts, Path(out), lang)
    code = exit_code(doc)
    fenced = contextlib.nullcontext()
    if "github" in fmts:
        for line in annotations(doc):
            click.echo(line)
        fenced = stop_commands(click.echo)
    with fenced:
        for line in describe(doc):
            click.echo(line)
        print_warnings(doc)
        print_summary(doc, code, [str(p) for p in written])
    sys.exit(int(code))


@main.command()
@click.option("--sources", "sources", required=True, type=InputPath(), help="The sources file.")
@click.option("--out", "out", required=True, type=InputPath(file_okay=False),
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
@click.argument("paths", nargs=-1, required=True, type=InputPath())
@click.option("--schema-only", "schema_only", is_flag=True,
              help="Check the files alone: not whether a sources file's password variables and files exist here.")
@handle_errors
def validate(paths: tuple[str, ...], schema_only: bool) -> None:
    """Check policy, waiver, sources, change and config files (folders: every file below them);
    print every problem with its place. A findings.json is recognised and described."""
    from .validate import validate_paths

    for line in validate_paths(list(paths), schema_only):
        click.echo(line)


@main.command("test")
@click.argument("paths", nargs=-1, required=True, type=InputPath())
@handle_errors
def test_cmd(paths: tuple[str, ...]) -> None:
    """Run policy unit tests: every folder below PATHS holding an expected.yaml (docs/testing-policies.md)."""
    from ledgerguard.scanner.policytest import run_tests

    from .console import inert

    run = run_tests(list(paths))
    style = {"passed": ("PASSED", "green"), "failed": ("FAILED", "red"), "error": ("ERROR", "red")}
    for case in run.cases:
        word, colour = style[case.status]
        try:
            name = case.path.relative_to(Path.cwd())
        except ValueError:
            name = case.path
        click.echo(f"{inert(name)} " + click.style(word, fg=colour, bold=True))
        for line in case.failures:
            click.echo(f"    {inert(line)}")
    counts = ", ".join(f"{run.count(s)} {s}" for s in ("passed", "failed", "error") if run.count(s))
    click.echo(f"==== {counts} in {run.seconds:.2f}s ====")
    sys.exit(run.exit_code)


@main.group()
def policies() -> None:
    """What a policy pack contains."""


@policies.command("list")
@click.option("--policies", "paths", multiple=True, type=InputPath(),
              help="Policy file or folder (repeatable). Default: the built-in pack.")
@click.option("--lang", type=click.Choice(LANGS), default="en", show_default=True)
@click.option("--controls", "show_controls", is_flag=True,
              help="Show the controls (requirements) and the policies that check each, with manual procedures.")
@handle_errors
def policies_list(paths: tuple[str, ...], lang: str, show_controls: bool) -> None:
    """List the policies of the loaded packs (or, with --controls, the requirement → policy map)."""
    from ledgerguard.scanner.policy import load_packs

    from .console import inert

    packs = load_packs(list(paths) or None)
    if show_controls:
        _print_controls(packs, lang)
        return
    for pack in packs:
        click.secho(inert(f"{pack.name} {pack.version}  ({pack.path})"), bold=True)
        for p in pack.policies:
            state = "" if p.enabled else "  [disabled]"
            click.echo(inert(f"  {p.id:<10} {p.severity:<8} {p.kind:<22} {p.title[lang]}{state}"))


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
@click.option("--policies", "paths", multiple=True, type=InputPath(),
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
        import difflib

        close = difflib.get_close_matches(policy_id, list(found), n=3)
        raise InputError(Problem(f"no policy {policy_id!r} in the loaded packs"
                                 + (f"; did you mean {', '.join(close)}?" if close else "")))
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


@main.command("history")
@click.option("--history", "history", required=True, type=click.Path(dir_okay=False, exists=True),
              metavar="HISTORY.sqlite", help="The history file scans were recorded in (scan --history).")
@click.option("--show", "show", type=int, metavar="SCAN_ID", is_flag=False, flag_value=-1, default=None,
              help="One scan against the scan before it: new, resolved and still open findings per policy "
                   "(no SCAN_ID: the last scan).")
@click.option("--limit", "limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many of the last scans to list.")
@handle_errors
def history_cmd(history: str, show: int | None, limit: int) -> None:
    """List the recorded scans, or show what changed in one of them."""
    from ledgerguard.scanner.history import History

    from .console import print_history, print_history_diff

    with History(history) as hist:
        if show is None:
            print_history(hist.scans(limit))
        else:
            print_history_diff(hist.diff(None if show == -1 else show))


@main.command()
@click.option("--findings", "findings", required=True, type=InputPath(dir_okay=False),
              metavar="FINDINGS.json", help="A findings.json written by scan or gate.")
@click.option("--format", "formats", cls=FormatsOption, gate=True, default="html,xlsx", show_default=True)
@click.option("--out", "out", type=InputPath(file_okay=False), default="out", show_default=True,
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
    from .console import inert

    for path in write_reports(doc, fmts, Path(out), lang):
        click.echo(f"wrote {inert(path)}")


@main.command()
@click.option("--out", "out", type=InputPath(file_okay=False), default="out", show_default=True,
              help="Folder for the reports; the demo snapshot goes to OUT/snapshot.")
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD",
              help="The demo's 'today': its data is generated relative to it. Default: today (Asia/Shanghai), "
                   "at the latest the last day the installed Chinese business-day calendar covers.")
@click.option("--format", "formats", cls=FormatsOption, default=lambda: ",".join(demo_formats()),
              show_default="all but pdf")
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


def entry() -> None:
    """The ``ledgerguard`` console script: ``main``, then the end of the process without the
    interpreter's teardown. A scan holds millions of small Python objects (the snapshot's
    strings, the finding records), and freeing them one by one after everything is written
    took 0.15–0.3 s at bench size M. Exit handlers still run (atexit: logging, temporary
    folders, worker pools); when another thread or a child process is still alive, the
    ordinary exit waits for it as always. In process (CliRunner, tests) ``main`` is called."""
    import atexit
    import contextlib
    import threading

    try:
        main()
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    mp = sys.modules.get("multiprocessing")  # imported by whatever started worker processes
    if others or (mp and mp.active_children()) or not isinstance(code, int | None):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # the reader went away; nothing more can be said to it
            stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":  # pragma: no cover
    entry()
