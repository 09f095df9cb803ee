"""GitHub Actions workflow commands: one ``::error``/``::warning``/``::notice`` per finding.

``gate --format github`` prints them to stdout, where the runner turns each into an
annotation on the change file's line in the pull request (and also writes them to
``github-annotations.txt`` in ``--out``). Finding text comes from the scanned
systems and the change file, so it is escaped the way the runner unescapes it:
``%``, CR and LF in the message; additionally ``:`` and ``,`` in properties (file,
title). A command is one line, so no value can start a second one. Everything else
the CLI prints is fenced with ``::stop-commands::<random token>`` … ``::<token>::``
(``stop_commands``), so a user name in the terminal summary is never read as a command
(the runner also reads legacy ``##[command]`` anywhere in a line, which only the fence
stops). A gate that ends in bad input (exit 2) prints one ``::error`` per problem at its
file:line:column, then the fenced messages, all on stderr so their order holds.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ledgerguard.scanner.contract import NO_VERDICT, Finding, is_failing, severity_key, verdict
from ledgerguard.scanner.errors import Problem
from ledgerguard.scanner.fsutil import atomic_write_text

from .base import FORMATS, Reporter
from .safe import shown

FAILING_LEVEL = "error"
OTHER_LEVEL = {"critical": "warning", "high": "warning", "medium": "warning", "low": "notice", "info": "notice"}


def escape_data(text: str) -> str:
    return shown(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(level: str, message: str, **props: Any) -> str:
    given = ",".join(f"{k}={escape_property(str(v))}" for k, v in props.items() if v not in (None, ""))
    return f"::{level}{' ' + given if given else ''}::{escape_data(message)}"


def _level(finding: Finding, fail_on: str) -> str:
    if finding.get("status") == "waived":
        return "notice"
    if is_failing(finding, fail_on):
        return FAILING_LEVEL
    return OTHER_LEVEL.get(finding.get("severity"), "notice")


def annotations(doc: dict[str, Any]) -> list[str]:
    """One workflow command per finding; a finding without a location annotates the
    change file (gate) or the policy file (scan)."""
    scan = doc.get("scan") or {}
    fail_on = scan.get("fail_on") or "high"
    policy_by_id = {p["id"]: p for p in doc.get("policies") or []}
    lines = []
    for f in sorted(doc.get("findings") or [], key=severity_key):
        loc = f.get("location") or {}
        policy = policy_by_id.get(f["policy_id"], {})
        file = loc.get("file") or scan.get("change_file") or policy.get("file")
        line = loc.get("line") if loc.get("file") else (None if scan.get("change_file") else policy.get("line"))
        waived = " (waived)" if f.get("status") == "waived" else ""
        lines.append(_command(
            _level(f, fail_on), f"{f.get('subject')}: {f.get('message')}{waived}",
            file=file, line=line, col=loc.get("column"),
            title=f"ledgerguard {f['policy_id']} {f.get('severity')} {f.get('code')}"))
    for f in doc.get("resolved") or []:
        lines.append(_command("notice", f"resolved: {f.get('subject')}: {f.get('message')}",
                              title=f"ledgerguard {f['policy_id']} resolved"))
    return lines + no_verdict_annotations(doc)


def no_verdict_annotations(doc: dict[str, Any]) -> list[str]:
    """Why the scan has NO VERDICT: one ``::error`` per policy in error or inconclusive (at
    the policy's line) and per failed source; nothing when there is a verdict."""
    if verdict(doc) != NO_VERDICT:
        return []
    lines = [_command("error", f"{NO_VERDICT}: {p['status']}: {p.get('error')}", file=p.get("file"),
                      line=p.get("line"), title=f"ledgerguard {p['id']} {p['status']}")
             for p in doc.get("policies") or [] if p.get("status") in ("error", "inconclusive")]
    sources = ((doc.get("scan") or {}).get("snapshot") or {}).get("sources") or []
    return lines + [_command("error", f"{NO_VERDICT}: source {s.get('name')} failed: {s.get('error')}",
                             title="ledgerguard source error")
                    for s in sources if s.get("status") == "error"]


def problem_annotations(problems: Iterable[Problem]) -> list[str]:
    """One ``::error`` per input problem (exit 2), at its file:line:column: a broken change
    file is annotated on the line of the pull request that broke it."""
    return [_command("error", p.message + (f" [schema: {p.schema_path}]" if p.schema_path else ""),
                     file=p.file, line=p.line, col=p.column, title="ledgerguard: bad input")
            for p in problems]


@contextmanager
def stop_commands(echo: Callable[[str], None]) -> Iterator[None]:
    """Whatever ``echo`` prints inside is fenced by ``::stop-commands::<random token>`` …
    ``::<token>::``: the runner reads none of it as a command (nobody can guess the token)."""
    token = secrets.token_hex(16)
    echo(f"::stop-commands::{token}")
    try:
        yield
    finally:
        echo(f"::{token}::")


@FORMATS.register("github")
class GithubReporter(Reporter):
    filename = "github-annotations.txt"
    gate_only = True

    def render(self, doc: dict[str, Any], out_dir: Path, lang: str = "en") -> Path:
        path = out_dir / self.filename
        atomic_write_text(path, "".join(line + "\n" for line in annotations(doc)))
        return path
