"""Change files (``gate --change``): their schema, and each change with its place in the file.

A change file lists grants, revokes, enables, disables, creates, deletes and ``modify``
of a person's position (a mover). It is loaded with the position of every value, so
each change knows its line, and every problem of every file is reported at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError, Problem
from .snapshot import VOCABULARIES
from .yamlload import load_checked

ACTIONS = VOCABULARIES["changes"]["action"]
#: actions that add access: a finding is attributed to one of these before the others
ADDING = ("grant", "enable", "create", "modify")
_ID = {"type": ["string", "number"], "minLength": 1}  # a number keeps its written text (_written)
_TEXT = {"type": "string", "minLength": 1}
_DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}"}


def _needs(actions: list[str], keys: list[str]) -> dict[str, Any]:
    return {"if": {"properties": {"action": {"enum": actions}}, "required": ["action"]},
            "then": {"required": keys}}


SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["changes"],
    "properties": {
        "changes": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["action"],
                "properties": {
                    "action": {"enum": list(ACTIONS)},
                    "change_id": _ID,
                    "system": _ID,
                    "account_id": _ID,
                    "role": _ID,
                    "scope": _ID,
                    "person_id": _ID,
                    "position": _TEXT,
                    "transfer_date": _DATE,
                    "display_name": _TEXT,
                    # a built-in account is the product's own: no change request creates one
                    "account_type": {"enum": [t for t in VOCABULARIES["accounts"]["account_type"]
                                              if t != "builtin"]},
                    "owner_person_id": _ID,
                    "request_id": _ID,
                    "requested_by": _ID,
                    "approved_by": _ID,
                    "approved_at": _DATE,
                    "approval_status": {"enum": ["approved", "pending", "rejected"]},
                    "performed_by": _ID,
                    "verified_by": _ID,
                    "emergency": {"type": "boolean"},
                    "reason": _TEXT,
                },
                "allOf": [
                    _needs(["grant", "revoke"], ["system", "account_id", "role"]),
                    _needs(["enable", "disable", "create", "delete"], ["system", "account_id"]),
                    _needs(["modify"], ["person_id", "position"]),
                ],
            },
        },
    },
}


@dataclass(frozen=True)
class Change:
    """One change of the file, its values as text, and where it is written."""

    file: str
    number: int  # 1-based position in its file
    line: int
    column: int
    values: dict[str, str]

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    @property
    def action(self) -> str:
        return self.values["action"]

    @property
    def change_id(self) -> str:
        """The change's own ``change_id``, else ``<file stem>-<number>`` (subject ``change:…``)."""
        return self.values.get("change_id") or f"{Path(self.file).stem}-{self.number}"

    @property
    def account(self) -> tuple[str, str] | None:
        system, account_id = self.get("system"), self.get("account_id")
        return (system, account_id) if system and account_id else None

    def problem(self, message: str) -> Problem:
        return Problem(f"change {self.number} ({self.action}): {message}", self.file, self.line, self.column)


def _written(path: str | Path) -> list[dict[str, str]]:
    """Each change's scalar values as written in the file.

    YAML reads ``account_id: 00123`` as the octal number 83 and ``1.50`` as 1.5; an id
    must stay the text the user wrote, or the gate would judge another account. The
    file has already loaded cleanly (size, aliases), so composing it again is safe.
    """
    root = yaml.compose(Path(path).read_text(encoding="utf-8-sig"), Loader=yaml.SafeLoader)
    items = next(v for k, v in root.value if k.value == "changes").value
    return [{k.value: v.value for k, v in item.value if isinstance(v, yaml.ScalarNode)} for item in items]


_DATES = [key for key, schema in SCHEMA["properties"]["changes"]["items"]["properties"].items() if schema is _DATE]


def _valid_date(text: str) -> bool:
    """``2026-02-30`` has the shape of a date and is none (the schema checks the shape only)."""
    try:
        dt.date.fromisoformat(text[:10])
        if len(text) > 10:
            dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _text(value: Any, written: str | None) -> str:
    return written if isinstance(value, int | float) and written is not None else str(value)


def load_changes(paths: list[str | Path]) -> list[Change]:
    """Read and schema-check change files, in order; every problem with its
    file:line:column at once (exit 2). Change ids are unique across the files."""
    changes: list[Change] = []
    problems: list[Problem] = []
    seen: dict[str, Change] = {}
    for path in paths:
        doc, found = load_checked(path, SCHEMA, "change", "changes")
        if doc is None or found:
            problems.extend(found)
            continue
        written = _written(path)
        for i, item in enumerate(doc.data["changes"]):
            problems.extend(doc.positions.problem(("changes", i, key), f"{key}: {item[key]!r} is not a valid date")
                            for key in _DATES if key in item and not _valid_date(item[key]))
            line, column = doc.positions.values[("changes", i)]
            values = {k: _text(v, written[i].get(k)) for k, v in item.items()}
            change = Change(str(path), i + 1, line, column, values)
            first = seen.setdefault(change.change_id, change)
            if first is not change:
                problems.append(doc.positions.problem(
                    ("changes", i, "change_id"),
                    f"duplicate change_id {change.change_id!r} (first at {first.file}:{first.line})"))
            changes.append(change)
    if problems:
        raise InputError(problems)
    return changes
