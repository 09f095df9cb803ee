"""Waivers (SPEC §6), all in one place: loading, validation, matching, expiry, stale.

A waiver accepts the findings of one policy on the subjects its glob names, for a
reason, approved by someone, until a date. Rules of this module:

* ``expires`` is required and at most ``MAX_DAYS`` (365) after the as-of date, so
  nothing is waived for ever; a later date is an input error (exit 2) at its line.
* The expiry day itself still waives: ``expires: 2026-12-31`` covers a scan as of
  2026-12-31 and stops on 2027-01-01 (the waiver is ``expired`` when expires < as-of
  date). An expired waiver waives nothing — its findings are ``open`` again — and
  it is listed with status ``expired`` and the number of findings it would match.
* A waived finding is kept, with status ``waived`` and a ``waiver`` object; it
  never fails a scan.
* A waiver that matches no finding is ``stale`` (the violation is gone, or the
  subject is mistyped) so it can be removed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from .contract import Finding
from .errors import InputError, Problem
from .yamlload import load_checked

MAX_DAYS = 365
_TEXT = {"type": "string", "minLength": 1}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["waivers"],
    "properties": {
        "waivers": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["policy", "subject", "reason", "approved_by", "expires"],
                "properties": {
                    "policy": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*$"},
                    "subject": _TEXT,
                    "code": _TEXT,
                    "reason": _TEXT,
                    "approved_by": _TEXT,
                    "approved_at": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}"},
                    "ticket": _TEXT,
                    "expires": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                },
            },
        },
    },
}


@dataclass(frozen=True)
class Waiver:
    policy: str
    subject: str  # glob over subject keys
    reason: str
    approved_by: str
    expires: dt.date
    file: str
    line: int
    code: str | None = None  # glob over finding codes; all codes when absent

    def matches(self, finding: Finding) -> bool:
        return (
            finding["policy_id"] == self.policy
            and fnmatchcase(finding["subject"], self.subject)
            and (self.code is None or fnmatchcase(finding["code"], self.code))
        )

    def expired(self, as_of: dt.date) -> bool:
        """The expiry day still waives; the day after, it does not."""
        return self.expires < as_of

    def record(self) -> dict[str, Any]:
        return {"policy": self.policy, "subject": self.subject, "code": self.code,
                "expires": self.expires.isoformat(), "reason": self.reason,
                "approved_by": self.approved_by, "file": self.file, "line": self.line}


def load_waivers(paths: list[str | Path], as_of: dt.date) -> list[Waiver]:
    """Read and check waiver files; every problem of every file at once (InputError, exit 2)."""
    waivers: list[Waiver] = []
    problems: list[Problem] = []
    latest = as_of + dt.timedelta(days=MAX_DAYS)
    for path in paths:
        doc, found = load_checked(path, SCHEMA, "waiver", "waivers")
        problems.extend(found)
        if doc is None:
            continue
        items = doc.data.get("waivers") if isinstance(doc.data, dict) else None
        for i, w in enumerate(items if isinstance(items, list) else []):
            if not isinstance(w, dict) or not isinstance(w.get("expires"), str):
                continue
            try:
                expires = dt.date.fromisoformat(w["expires"])
            except ValueError:
                problems.append(doc.positions.problem(("waivers", i, "expires"),
                                                      f"expires {w['expires']!r} is not a valid date"))
                continue
            if expires > latest:
                problems.append(doc.positions.problem(
                    ("waivers", i, "expires"),
                    f"expires {expires} is more than {MAX_DAYS} days after the as-of date {as_of} "
                    f"(latest allowed: {latest}); waivers must be renewed at least yearly"))
                continue
            if found:
                continue
            line = doc.positions.values[("waivers", i)][0]
            waivers.append(Waiver(policy=w["policy"], subject=w["subject"], reason=w["reason"],
                                  approved_by=w["approved_by"], expires=expires, file=str(path),
                                  line=line, code=w.get("code")))
    if problems:
        raise InputError(problems)
    return waivers


def apply_waivers(findings: list[Finding], waivers: list[Waiver], as_of: dt.date) -> list[dict[str, Any]]:
    """Mark matched open findings waived (in place); return the ``waivers`` list of findings.json.

    The first active waiver that matches a finding is the one recorded on it; every
    waiver counts all findings it matches, so none that applies is reported stale.
    """
    records = []
    for w in waivers:
        hits = [f for f in findings if w.matches(f)]
        if w.expired(as_of):
            status = "expired"
        else:
            status = "active" if hits else "stale"
            for f in hits:
                if f["status"] == "open":
                    f["status"] = "waived"
                    f["waiver"] = w.record()
        records.append({**w.record(), "status": status, "matched": len(hits)})
    return records
