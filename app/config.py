"""The configuration file (``ledgerguard.yaml`` or ``--config PATH``): defaults for a
periodic ``scan`` (and ``gate``), documented key by key in docs/configuration.md.

Every key here is an option's default (a flag on the command line wins), except
``notify``, which has no flag: notification URLs carry tokens, so they are read from
environment variables or files only, never written in the file. The file is validated
like every other input (file:line:column, exit 2), and only by the commands that use
it: a mistake in it does not stop ``policies list`` or ``validate`` of other files.
Relative paths in it are relative to the config file's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledgerguard.scanner.contract import FAIL_ON
from ledgerguard.scanner.errors import InputError, Problem
from ledgerguard.scanner.yamlload import YamlDoc, load_yaml, validate

CONFIG_FILE = "ledgerguard.yaml"
LANGS = ("en", "zh")
NOTIFY_ON = ("fail", "error", "new")

_PATH = {"type": "string", "minLength": 1}
_GLOBS = {"type": "array", "items": {"type": "string", "minLength": 1}}
_SECRET_REF = {
    "type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
    "properties": {"env": {"type": "string", "minLength": 1, "description": "environment variable holding the URL"},
                   "file": {"type": "string", "minLength": 1, "description": "file holding the URL"}},
}

#: key → schema; each has a description (docs/configuration.md lists them, a test compares)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "snapshot": {**_PATH, "description": "snapshot folder to scan (--snapshot)"},
        "sources": {**_PATH, "description": "sources file to collect and scan (--sources)"},
        "policies": {"type": "array", "items": _PATH,
                     "description": "policy files or folders; 'builtin' is the built-in pack (--policies)"},
        "policy": {**_GLOBS, "description": "run only the policies whose id matches one of these globs (--policy)"},
        "skip_policy": {**_GLOBS, "description": "do not run the policies matching these globs (--skip-policy)"},
        "waivers": {**_PATH, "description": "waiver file (--waivers)"},
        "baseline": {**_PATH, "description": "an earlier findings.json (--baseline)"},
        "formats": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                    "description": "report formats (--format)"},
        "out": {**_PATH, "description": "folder the reports are written to (--out)"},
        "fail_on": {"enum": list(FAIL_ON), "description": "lowest severity that fails the scan (--fail-on)"},
        "lang": {"enum": list(LANGS), "description": "report language (--lang)"},
        "as_of": {"type": "string", "description": "what 'today' is (--as-of); usually left to the snapshot"},
        "history": {**_PATH, "description": "SQLite history database every scan is recorded in (--history)"},
        "max_as_of_drift_days": {"type": "integer", "minimum": 0,
                                 "description": "warn when --as-of is more than this many days from the "
                                                "snapshot's taken_at (default 31)"},
        "notify": {
            "type": "object", "additionalProperties": False, "required": ["urls"],
            # 'when', not 'on': YAML 1.1 reads a bare 'on' key as true
            "description": "send a message after a scan (apprise URLs from env or files)",
            "properties": {
                "when": {"type": "array", "items": {"enum": list(NOTIFY_ON)}, "minItems": 1,
                       "description": "when: fail (verdict FAIL), error (no verdict), new (new findings "
                                      "since the previous scan). Default: all three"},
                "urls": {"type": "array", "items": _SECRET_REF, "minItems": 1,
                         "description": "apprise URLs, each {env: VAR} or {file: PATH}"},
            },
        },
    },
}

#: keys that name a path, resolved against the config file's folder
PATH_KEYS = ("snapshot", "sources", "waivers", "baseline", "out", "history")


def load_config(path: str | Path) -> dict[str, Any]:
    """The validated config as a dict (paths resolved against its folder); InputError otherwise."""
    p = Path(path)
    doc = load_yaml(p)
    if doc.data is None:
        return {}
    problems = validate(doc, SCHEMA)
    if not problems:  # a path with a NUL byte would reach os.stat in click's own parsing
        problems = [doc.positions.problem((key, *([i] if i is not None else [])),
                                          f"{key}: a control character is not allowed here")
                    for key, value in doc.data.items()
                    for i, item in (enumerate(value) if isinstance(value, list) else [(None, value)])
                    if isinstance(item, str) and not item.isprintable()]
    if not problems and "as_of" in doc.data:
        from ledgerguard.scanner.timeutil import parse_instant

        try:
            parse_instant(doc.data["as_of"], "UTC")
        except ValueError:
            problems = [doc.positions.problem(("as_of",), f"as_of: {doc.data['as_of']!r} is not a date "
                                                          "(YYYY-MM-DD) or ISO 8601 timestamp")]
    if not problems and "formats" in doc.data:
        problems = _format_problems(doc)
    if problems:
        raise InputError(problems)
    data = dict(doc.data)
    for key in PATH_KEYS:
        if key in data:
            data[key] = str(_relative(p, data[key]))
    if "policies" in data:
        data["policies"] = [v if v == "builtin" else str(_relative(p, v)) for v in data["policies"]]
    if "notify" in data:
        data["notify"] = {**data["notify"], "urls": [
            {k: (str(_relative(p, v)) if k == "file" else v) for k, v in ref.items()}
            for ref in data["notify"]["urls"]]}
    return data


def _format_problems(doc: YamlDoc) -> list[Problem]:
    """Unknown report formats, at their place in the file: a scan would otherwise stop with
    click's usage error, which cannot say that the name came from the config file."""
    from ledgerguard.reports.base import format_names

    allowed = format_names()
    value = doc.data["formats"]
    items = [((), value)] if isinstance(value, str) else [((i,), v) for i, v in enumerate(value)]
    return [doc.positions.problem(("formats", *index), f"formats: unknown format {name!r} "
                                                      f"(choose from {', '.join(allowed)})")
            for index, item in items for name in (n.strip() for n in item.split(","))
            if name and name not in allowed]


def _relative(config: Path, value: str) -> Path:
    v = Path(value).expanduser()
    return v if v.is_absolute() or config.parent == Path() else config.parent / v
