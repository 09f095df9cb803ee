"""Loading and validating ``sources.yaml`` (SPEC §4).

The schema is built from the CONNECTORS registry — each kind owns its
``settings_schema`` — so it never drifts from the code. Every error of the file is
reported at once with its line and column (exit 2).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledgerguard.scanner.errors import InputError, Problem
from ledgerguard.scanner.timeutil import check_timezone
from ledgerguard.scanner.yamlload import YamlDoc, load_yaml, validate

from ._common import url_without_secret
from .base import CONNECTORS, Connector

NAME_SCHEMA = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", "maxLength": 64}


@dataclass
class Source:
    name: str
    kind: str
    settings: dict[str, Any]

    def connector(self, base_dir: Path, timezone: str) -> Connector:
        return CONNECTORS.get(self.kind)(self.name, self.settings, base_dir, timezone)


@dataclass
class SourcesFile:
    path: Path
    timezone: str
    sources: list[Source] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def top_schema() -> dict[str, Any]:
    """The file's outer shape; each entry is then checked against its kind's schema."""
    return {
        "type": "object",
        "required": ["sources"],
        "additionalProperties": False,
        "properties": {
            "timezone": {"type": "string", "description": "snapshot timezone (default UTC)"},
            "sources": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name", "kind"],
                    "properties": {"name": NAME_SCHEMA, "kind": {"enum": CONNECTORS.names()}},
                },
            },
        },
    }


def source_schema(kind: str) -> dict[str, Any]:
    """One entry of kind ``kind``: name, kind and the kind's own settings, nothing else."""
    settings = CONNECTORS.get(kind).settings_schema
    schema = {k: v for k, v in settings.items() if k not in ("properties", "required")}
    schema.update(
        type="object",
        additionalProperties=False,
        required=["name", "kind", *settings.get("required", [])],
        properties={"name": NAME_SCHEMA, "kind": {"const": kind},
                    **settings.get("properties", {})},
    )
    return schema


def load_sources(path: str | Path) -> SourcesFile:
    """Parse and validate a sources file; InputError (exit 2) lists every problem."""
    doc = load_yaml(path)
    problems = validate(doc, top_schema())
    if problems:
        raise InputError(problems)
    problems = []
    seen: dict[str, int] = {}
    sources = []
    for i, entry in enumerate(doc.data["sources"]):
        problems.extend(_inline_url_secrets(doc, i))  # first: masks them before any message can quote them
        problems.extend(validate(doc, source_schema(entry["kind"]), ("sources", i)))
        line = doc.positions.values[("sources", i)][0]
        name = entry["name"]
        if name in seen:
            problems.append(doc.positions.problem(
                ("sources", i, "name"), f"duplicate source name {name!r} (first at line {seen[name]})"))
        else:
            seen[name] = line
        if isinstance(entry.get("encoding"), str) and not _known_encoding(entry["encoding"]):
            problems.append(doc.positions.problem(("sources", i, "encoding"),
                                                  f"unknown encoding {entry['encoding']!r} (e.g. utf-8-sig, gb18030)"))
        settings = {k: v for k, v in entry.items() if k not in ("name", "kind")}
        sources.append(Source(name, entry["kind"], settings))
    tz = doc.data.get("timezone") or "UTC"
    try:
        check_timezone(tz)
    except ValueError as exc:
        problems.append(doc.positions.problem(("timezone",), str(exc)))
    problems = _explain_secrets(doc, problems)
    if problems:
        raise InputError(sorted(problems, key=lambda p: (p.line or 0, p.column or 0)))
    return SourcesFile(Path(path), tz, sources)


def _inline_url_secrets(doc: YamlDoc, i: int) -> list[Problem]:
    """A password inside a source's ``url`` (``user:password@``, ``?password=``): refused at its
    place, and masked in the document so no later schema message echoes it."""
    entry = doc.data["sources"][i]
    urls = entry.get("url")
    places = [((), urls)] if isinstance(urls, str) else list(enumerate(urls)) if isinstance(urls, list) else []
    problems = []
    for place, url in places:
        masked = url_without_secret(url) if isinstance(url, str) else None
        if masked is None:
            continue
        path = ("url", *(place if isinstance(place, tuple) else (place,)))
        problems.append(doc.positions.problem(
            ("sources", i, *path),
            f"the url {masked} carries a password: give it with password_env or password_file"))
        if isinstance(urls, list):
            urls[place] = masked
        else:
            entry["url"] = masked
    return problems


def _known_encoding(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


_INLINE_SECRETS = ("password", "bind_password", "secret")


def _explain_secrets(doc: YamlDoc, problems: list[Problem]) -> list[Problem]:
    """An inline ``password`` is refused by the schemas; say why, not just 'unknown key'.

    Both ``password_env`` and ``password_file`` is ambiguous for every kind: refused here,
    at the second key, in words rather than as a schema combinator.
    """
    out = [p for p in problems
           if not any(p.message.startswith(f"unknown key {k!r}") for k in _INLINE_SECRETS)]
    for i, entry in enumerate(doc.data["sources"]):
        if "password_env" in entry and "password_file" in entry:
            out.append(doc.positions.problem(
                ("sources", i, "password_file"),
                "give either password_env or password_file, not both", key=True))
        for key in _INLINE_SECRETS:
            if key in entry:
                out.append(doc.positions.problem(
                    ("sources", i, key),
                    f"{key!r} may not be written inline: use password_env or password_file",
                    key=True))
    return out
