"""A proposed state: the snapshot with a change file applied to copies of its tables.

Each change is checked against the state as it goes — an unknown account, role or
person, or a ``change_id`` the snapshot already records, is an input error at the
change's line (an account is known once an earlier change creates it) — and becomes a
row of the proposed ``changes`` table, so the change itself is judged by the same
``change_approval`` kind as recorded changes (see ``_change_row``).

Choices, written down in docs/ci.md:

* ``performed_by`` is the change's ``performed_by`` key, else its ``requested_by``:
  whoever asks for a change in CI is who has it applied, so an approver equal to the
  requester is ``approver_is_performer``, and requesting access to one's own account is
  a ``self_grant`` (ask your manager or the system owner to file it).
* ``performed_at`` is empty — the change has not been performed yet; the kind judges
  such rows whatever its window, and ``approved_after_performed`` cannot apply.
* ``approval_status`` is the change's key, else ``approved`` when ``approved_by`` is set.
* ``verified_by`` is who will check the result (双重核验); ``verified_at`` stays empty: a
  proposed change is not due for verification yet (verification follows the change), but
  a planned verifier equal to the performer is reported at once.
* ``emergency: true`` exempts the change from the period-close freeze; without it a
  change proposed inside the freeze (judged on the as-of date) is a finding.
* A mover keeps no grace: ``modify`` records ``previous_position`` but sets
  ``transfer_date`` only when the change gives one, so a move that keeps the old roles
  is reported at once — the change request is where they should be revoked.
* A grant of a role the account already holds, or a revoke of one it does not hold, is
  a no-op (the snapshot may be fresher than the request).
"""

from __future__ import annotations

from typing import Any

from .changes import Change
from .errors import InputError, Problem
from .lazy import pandas as pd
from .snapshot import TABLES, Snapshot, type_table
from .timeutil import parse_instant

#: tables a change can touch; policies reading none of them are not evaluated
TOUCHED = ("identities", "accounts", "grants", "changes")


def empty_table(name: str, tz: str) -> pd.DataFrame:
    cols = [c.name for c in TABLES[name]]
    return type_table(name, pd.DataFrame(columns=cols, dtype="str"), tz, name)


def _as_text(value: Any) -> str | None:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, pd.Timestamp) else str(value)


#: rows of a table as text, typed and aligned to a table's columns (``_append``): one gate
#: applies its change file to two cuts of the snapshot (the region, the handover cut), whose
#: tables have the same columns, typing and aligning the same rows each time
Typed = dict[tuple, pd.DataFrame]


def _append(name: str, df: pd.DataFrame, records: list[dict[str, Any]], tz: str, typed: Typed) -> pd.DataFrame:
    """``df`` plus ``records``, typed as the snapshot types the table: a column a record
    leaves out is empty (false, no time, no text), never a mixed-type column a policy
    trips on. ``typed`` keeps the typed rows, aligned to ``df``'s columns and types, for the
    next proposal of the same changes."""
    text = tuple(tuple((k, _as_text(v)) for k, v in r.items()) for r in records)
    key = (name, tz, text, tuple(df.columns), tuple(df.dtypes))
    if key not in typed:
        # a table column empty in every record is left to type_table, which fills an absent
        # one with the same empty values as it types from nothing, without parsing (~half its
        # cost on one row)
        optional = {c.name for c in TABLES[name] if not c.required}
        empty = {k for k in optional if all(dict(r).get(k, None) is None for r in text)}
        new = type_table(name, pd.DataFrame([{k: v for k, v in r if k not in empty} for r in text], dtype="str"),
                         tz, name)
        for col in df.columns.difference(new.columns):
            new[col] = df[col].iloc[:0].reindex(new.index)
        typed[key] = new[[*df.columns, *new.columns.difference(df.columns)]]
    return pd.concat([df, typed[key]], ignore_index=True)


class _Proposal:
    """The tables a change file modifies, applied change by change, checking as it goes."""

    def __init__(self, snapshot: Snapshot, changes: list[Change], now: pd.Timestamp,
                 typed: Typed | None = None) -> None:
        self.snapshot, self.changes, self.now, self.tz = snapshot, changes, now, snapshot.timezone
        self.typed = {} if typed is None else typed
        self.tables: dict[str, pd.DataFrame] = {}
        self.problems: list[Problem] = []

    def table(self, name: str) -> pd.DataFrame:
        if name not in self.tables:
            # a failed source raises TableUnavailable (exit 3); an absent table is empty
            self.tables[name] = (self.snapshot.table(name) if self.snapshot.has(name)
                                 else empty_table(name, self.tz))
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
        self.tables["changes"] = _append("changes", self.table("changes"), rows, self.tz, self.typed)
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
        # roles held by grants outside the snapshot's rows (the gate's region: changes never
        # touch those rows) still exist
        known |= {r for s, r in self.snapshot.roles_elsewhere if s == system}
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
        }], self.tz, self.typed)

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
        }], self.tz, self.typed)

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
        "verified_by": change.get("verified_by"), "emergency": change.get("emergency"),
    }


def propose(snapshot: Snapshot, changes: list[Change], now: pd.Timestamp, typed: Typed | None = None) -> Snapshot:
    """The snapshot with the changes applied (copies; the snapshot is not modified).

    ``snapshot`` may be the gate's region of a whole snapshot (gate.Region): it holds every row
    the changes are checked against, and which roles grants outside it hold
    (``Snapshot.roles_elsewhere``). ``typed``: a dict shared by the proposals of one change
    file (``_append``)."""
    return snapshot.with_tables(**_Proposal(snapshot, changes, now, typed).apply())
