"""``ledgerguard gate``: judge a proposed access change before it is applied (SPEC §2, §6).

A change file lists grants, revokes, enables, disables, creates, deletes and
``modify`` of a person's position (a mover). The gate

1. loads it with the position of every value, so each change knows its line;
2. checks it against the snapshot — an unknown account, role or person, or a
   ``change_id`` the snapshot already records, is an input error at the change's line
   (an account is known once an earlier change creates it);
3. applies the changes to copies of the snapshot tables (``Snapshot.with_tables``);
4. evaluates the access policies (those whose kind reads a table a change can touch)
   on the current and the proposed state, and reports only the difference: findings
   the change *introduces* (they can fail the gate) and findings it *resolves* (shown,
   never failing). Each introduced finding carries the ``location`` of the change
   that caused it when its subject names an account, person or change of the file.

The change itself is judged by the same ``change_approval`` kind as recorded changes:
every change becomes a row of the proposed ``changes`` table (see ``_change_row``).
Choices, written down in docs/ci.md:

* ``performed_by`` is the change's ``performed_by`` key, else its ``requested_by``:
  whoever asks for a change in CI is who has it applied, so an approver equal to the
  requester is ``approver_is_performer``, and requesting access to one's own account is
  a ``self_grant`` (ask your manager or the system owner to file it).
* ``performed_at`` is empty — the change has not been performed yet; the kind judges
  such rows whatever its window, and ``approved_after_performed`` cannot apply.
* ``approval_status`` is the change's key, else ``approved`` when ``approved_by`` is set.
* A mover keeps no grace: ``modify`` records ``previous_position`` but sets
  ``transfer_date`` only when the change gives one, so a move that keeps the old roles
  is reported at once — the change request is where they should be revoked.
* A grant of a role the account already holds, or a revoke of one it does not hold, is
  a no-op (the snapshot may be fresher than the request).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .context import Context
from .engine import PolicyOutcome, evaluate
from .errors import InputError, Problem
from .findings import assemble
from .kinds.base import KINDS
from .policy import Policy, PolicyPack, all_policies
from .scan import _clock
from .snapshot import TABLES, Snapshot, type_table
from .timeutil import iso, parse_instant
from .waivers import Waiver, apply_waivers
from .yamlload import load_checked

ACTIONS = ("grant", "revoke", "enable", "disable", "create", "delete", "modify")
#: actions that add access: a finding is attributed to one of these before the others
_ADDING = ("grant", "enable", "create", "modify")
#: tables a change can touch; policies reading none of them are not evaluated
TOUCHED = ("identities", "accounts", "grants", "changes")

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
                    "account_type": {"enum": ["personal", "shared", "service", "admin"]},
                    "owner_person_id": _ID,
                    "request_id": _ID,
                    "requested_by": _ID,
                    "approved_by": _ID,
                    "approved_at": _DATE,
                    "approval_status": {"enum": ["approved", "pending", "rejected"]},
                    "performed_by": _ID,
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


def _empty_table(name: str, tz: str) -> pd.DataFrame:
    cols = [c.name for c in TABLES[name]]
    return type_table(name, pd.DataFrame(columns=cols, dtype="str"), tz, name)


def _as_text(value: Any) -> str | None:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, pd.Timestamp) else str(value)


def _append(name: str, df: pd.DataFrame, records: list[dict[str, Any]], tz: str) -> pd.DataFrame:
    """``df`` plus ``records``, typed as the snapshot types the table: a column a record
    leaves out is empty (false, no time, no text), never a mixed-type column a policy
    trips on."""
    text = pd.DataFrame([{k: _as_text(v) for k, v in r.items()} for r in records], dtype="str")
    new = type_table(name, text, tz, name)
    for col in df.columns.difference(new.columns):
        new[col] = df[col].iloc[:0].reindex(new.index)
    return pd.concat([df, new[[*df.columns, *new.columns.difference(df.columns)]]], ignore_index=True)


class _Proposal:
    """The tables a change file modifies, applied change by change, checking as it goes."""

    def __init__(self, snapshot: Snapshot, changes: list[Change], now: pd.Timestamp) -> None:
        self.snapshot, self.changes, self.now, self.tz = snapshot, changes, now, snapshot.timezone
        self.tables: dict[str, pd.DataFrame] = {}
        self.problems: list[Problem] = []

    def table(self, name: str) -> pd.DataFrame:
        if name not in self.tables:
            # a failed source raises TableUnavailable (exit 3); an absent table is empty
            self.tables[name] = (self.snapshot.table(name) if self.snapshot.has(name)
                                 else _empty_table(name, self.tz))
        return self.tables[name]

    def _account_mask(self, account: tuple[str, str]) -> pd.Series:
        acc = self.table("accounts")
        return (acc["system"] == account[0]) & (acc["account_id"] == account[1])

    def _grant_mask(self, account: tuple[str, str], role: str) -> pd.Series:
        g = self.table("grants")
        return (g["system"] == account[0]) & (g["account_id"] == account[1]) & (g["role"] == role)

    def _known_person(self, person_id: str) -> bool:
        return bool((self.table("identities")["person_id"] == person_id).any())

    def _fail(self, change: Change, message: str) -> None:
        self.problems.append(change.problem(message))

    def apply(self) -> dict[str, pd.DataFrame]:
        rows = []
        recorded = set(self.table("changes")["change_id"].dropna().astype("str"))
        for change in self.changes:
            if change.change_id in recorded:
                # its findings would share ids with the recorded change's and never count as introduced
                self._fail(change, f"change_id {change.change_id!r} is already recorded in the snapshot's "
                                   "changes table (give this change its own change_id)")
            getattr(self, f"_{change.action}")(change)
            rows.append(_change_row(change, self.tz))
        if self.problems:
            raise InputError(self.problems)
        self.tables["changes"] = _append("changes", self.table("changes"), rows, self.tz)
        return self.tables

    def _existing(self, change: Change) -> tuple[str, str] | None:
        account = change.account
        if not self._account_mask(account).any():
            self._fail(change, f"unknown account {account[0]!r}:{account[1]!r} "
                               f"(not in the snapshot and not created earlier in this file)")
            return None
        return account

    def _role_known(self, change: Change) -> bool:
        system, role = change.get("system"), change.get("role")
        known = set(self.table("grants").loc[lambda g: g["system"] == system, "role"].dropna())
        if self.snapshot.has("role_permissions"):
            rp = self.table("role_permissions")
            known |= set(rp.loc[rp["system"] == system, "role"].dropna())
        if role in known:
            return True
        hint = ", ".join(sorted(known)[:12]) or "none"
        self._fail(change, f"unknown role {role!r} in system {system!r} (known: {hint})")
        return False

    def _grant(self, change: Change) -> None:
        account = self._existing(change)
        if account is None or not self._role_known(change) or self._grant_mask(account, change.get("role")).any():
            return
        self.tables["grants"] = _append("grants", self.table("grants"), [{
            "system": account[0], "account_id": account[1], "role": change.get("role"),
            "scope": change.get("scope"), "granted_at": self.now,
            "granted_by": change.get("performed_by") or change.get("requested_by"),
        }], self.tz)

    def _revoke(self, change: Change) -> None:
        account = self._existing(change)
        if account is None or not self._role_known(change):
            return
        g = self.table("grants")
        self.tables["grants"] = g[~self._grant_mask(account, change.get("role"))].reset_index(drop=True)

    def _set_enabled(self, change: Change, enabled: bool) -> None:
        account = self._existing(change)
        if account is None:
            return
        acc = self.table("accounts").copy()
        mask = self._account_mask(account)
        acc.loc[mask, "enabled"] = enabled
        acc.loc[mask, "disabled_at"] = pd.NaT if enabled else self.now
        self.tables["accounts"] = acc

    def _enable(self, change: Change) -> None:
        self._set_enabled(change, True)

    def _disable(self, change: Change) -> None:
        self._set_enabled(change, False)

    def _create(self, change: Change) -> None:
        account = change.account
        if self._account_mask(account).any():
            self._fail(change, f"account {account[0]!r}:{account[1]!r} already exists")
            return
        for key in ("person_id", "owner_person_id"):
            person = change.get(key)
            if person and not self._known_person(person):
                self._fail(change, f"unknown person {person!r} ({key}: not in identities)")
                return
        self.tables["accounts"] = _append("accounts", self.table("accounts"), [{
            "system": account[0], "account_id": account[1], "person_id": change.get("person_id"),
            "display_name": change.get("display_name"), "enabled": True, "created_at": self.now,
            "account_type": change.get("account_type"), "owner_person_id": change.get("owner_person_id"),
        }], self.tz)

    def _delete(self, change: Change) -> None:
        account = self._existing(change)
        if account is None:
            return
        self.tables["accounts"] = self.table("accounts")[~self._account_mask(account)].reset_index(drop=True)
        g = self.table("grants")
        self.tables["grants"] = g[~((g["system"] == account[0]) & (g["account_id"] == account[1]))
                                  ].reset_index(drop=True)

    def _modify(self, change: Change) -> None:
        person = change.get("person_id")
        if not self._known_person(person):
            self._fail(change, f"unknown person {person!r} (not in identities)")
            return
        ids = self.table("identities").copy()
        mask = ids["person_id"] == person
        old = ids.loc[mask, "position"].iloc[0]
        if old == change.get("position"):
            return
        transfer = change.get("transfer_date")
        ids.loc[mask, "previous_position"] = old
        ids.loc[mask, "position"] = change.get("position")
        ids.loc[mask, "transfer_date"] = parse_instant(transfer, self.tz) if transfer else pd.NaT
        self.tables["identities"] = ids


def _change_row(change: Change, tz: str) -> dict[str, Any]:
    """The change as a row of the ``changes`` table, for the change_approval kind."""
    approved_at = change.get("approved_at")
    status = change.get("approval_status") or ("approved" if change.get("approved_by") else "pending")
    return {
        "change_id": change.change_id, "system": change.get("system"),
        "account_id": change.get("account_id"), "action": change.action, "role": change.get("role"),
        "performed_by": change.get("performed_by") or change.get("requested_by"),
        "performed_at": pd.NaT, "request_id": change.get("request_id"),
        "requested_by": change.get("requested_by"), "approved_by": change.get("approved_by"),
        "approved_at": parse_instant(approved_at, tz) if approved_at else pd.NaT,
        "approval_status": status, "person_id": change.get("person_id"),
    }


def propose(snapshot: Snapshot, changes: list[Change], now: pd.Timestamp) -> Snapshot:
    """The snapshot with the changes applied (copies; the snapshot is not modified)."""
    return snapshot.with_tables(**_Proposal(snapshot, changes, now).apply())


def relevant(policy: Policy) -> bool:
    """Does the policy read a table a change can touch? (Others cannot change verdict.)"""
    kind = KINDS.get(policy.kind)
    tables = set(kind.tables) | ({policy.params["table"]} if "table" in policy.params else set())
    return bool(tables & set(TOUCHED))


def _cause(finding: dict[str, Any], changes: list[Change], person_of: dict[tuple[str, str], Any]) -> Change | None:
    """The change a finding is attributed to: its subject's change, account or person.

    Of several, the last that adds access (grant, enable, create, modify) — the one
    that completes the state the finding is about — else the last that touches it.
    """
    kind, _, rest = finding["subject"].partition(":")
    person = finding.get("person_id")

    def touches(c: Change) -> bool:
        if kind == "change":
            return c.change_id == rest
        if kind == "account" and c.account and ":".join(c.account) == rest:
            return True
        who = rest if kind == "person" else person
        return bool(who) and who in (c.get("person_id"), person_of.get(c.account))

    hits = [c for c in changes if touches(c)]
    adding = [c for c in hits if c.action in _ADDING]
    return (adding or hits or [None])[-1]


def _merge(current: PolicyOutcome, proposed: PolicyOutcome) -> PolicyOutcome:
    """One outcome per policy: an error in either state is an error (no verdict)."""
    for o in (proposed, current):
        if o.status == "error":
            return PolicyOutcome(o.policy, "error", [], o.error)
    return proposed


def run_gate(
    snapshot: Snapshot,
    packs: list[PolicyPack],
    changes: list[Change],
    now: pd.Timestamp,
    *,
    fail_on: str = "high",
    waivers: list[Waiver] | None = None,
    jobs: int | None = 1,
) -> dict[str, Any]:
    """The findings document of a gate: introduced findings (located), resolved ones."""
    started = _clock()
    if not snapshot.has("changes"):
        snapshot = snapshot.with_tables(changes=_empty_table("changes", snapshot.timezone))
    proposed = propose(snapshot, changes, now)
    policies = [p for p in all_policies(packs) if relevant(p)]
    before_ctx, after_ctx = Context(snapshot, now), Context(proposed, now)
    before, after = evaluate(policies, before_ctx, jobs), evaluate(policies, after_ctx, jobs)
    outcomes = [_merge(b, a) for b, a in zip(before, after, strict=True)]
    judged = {o.policy.id for o in outcomes if o.status in ("pass", "fail")}
    old = {f["id"]: f for o in before if o.policy.id in judged for f in o.findings}
    new = {f["id"]: f for o in after if o.policy.id in judged for f in o.findings}
    accounts = proposed.tables.get("accounts")
    person_of = ({} if accounts is None else
                 dict(zip(zip(accounts["system"], accounts["account_id"], strict=True),
                          accounts["person_id"], strict=True)))
    introduced = []
    for fid, f in new.items():
        if fid in old:
            continue
        cause = _cause(f, changes, person_of)
        if cause is not None:
            f["location"] = {"file": cause.file, "line": cause.line, "column": cause.column}
            f["evidence"] = {**f["evidence"], "change": cause.number, "change_id": cause.change_id}
        introduced.append({**f, "baseline": "new"})
    introduced.sort(key=lambda f: ((f["location"] or {}).get("line") or 0, f["policy_id"], f["subject"]))
    resolved = [{**f, "baseline": "resolved"} for fid, f in old.items() if fid not in new]
    # waivers are judged on the whole proposed state: one that accepts a finding the
    # change leaves alone is active there, not stale
    still = [f for fid, f in new.items() if fid in old]
    waiver_records = apply_waivers(introduced + still, waivers or [], after_ctx.today.date())
    doc = assemble(
        outcomes=outcomes, findings=introduced, packs=packs, snapshot=snapshot,
        as_of=iso(after_ctx.now), started_at=started, finished_at=_clock(), fail_on=fail_on,
        command="gate", waivers=waiver_records, resolved=resolved,
    )
    files = list(dict.fromkeys(c.file for c in changes))
    doc["scan"]["change_file"] = files[0] if len(files) == 1 else None
    doc["scan"]["change_files"] = files
    doc["scan"]["changes"] = len(changes)
    return doc


def _plain(text: Any) -> str:
    """One terminal line of untrusted text: control and bidi characters shown escaped."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))


def describe(doc: dict[str, Any]) -> Iterable[str]:
    """Terminal lines: what the change introduces (with its place) and what it resolves."""
    findings, resolved = doc["findings"], doc.get("resolved") or []
    files = ", ".join(_plain(f) for f in doc["scan"].get("change_files") or [])
    yield f"  change file(s) {files}: {doc['scan'].get('changes', 0)} change(s)"
    yield f"  introduced: {len(findings)}   resolved: {len(resolved)}"
    for f in findings:
        loc = f.get("location") or {}
        where = f"{loc['file']}:{loc['line']}" if loc.get("line") else "(not attributable)"
        state = "  [waived]" if f["status"] == "waived" else ""
        yield (f"  + {_plain(where)}  {f['policy_id']} {f['severity']}  {_plain(f['subject'])}: "
               f"{_plain(f['message'])}{state}")
    for f in resolved:
        yield f"  - resolved  {f['policy_id']} {f['severity']}  {_plain(f['subject'])}: {_plain(f['message'])}"
