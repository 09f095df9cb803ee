"""change_approval — every permission change is requested and approved first (SPEC §5, §5.1).

Judges the ``changes`` rows whose action is in ``actions`` [grant, enable, create] and
whose ``performed_at`` local date is at most ``window_days`` before the as-of date
(changes dated after as-of, and changes without ``performed_at`` — the proposed
changes ``gate`` evaluates — are judged too). Each change may produce:

* ``missing_request``: no ``request_id``;
* ``not_approved``: ``approval_status`` other than ``approved`` (case-insensitive; an
  empty status is not approved) or an empty ``approved_by``;
* ``approved_after_performed``: ``approved_at`` later than ``performed_at`` (instants);
* ``approver_is_performer``: ``approved_by`` = ``performed_by``;
* ``self_grant``: ``performed_by`` is the target account's person (``accounts.person_id``
  of (system, account_id), or the change's own ``person_id`` column when it carries one,
  e.g. a ``create`` in a change file);
* ``approver_position``: ``approver_positions`` is set and the approver's *current*
  position (identities) is not in it — an approver unknown to identities counts too.

performed_by / requested_by / approved_by are person_ids. The kind reads only context
tables, so ``gate`` runs it on a snapshot whose ``changes`` table holds the proposed
changes (``Snapshot.with_tables``).
"""

from __future__ import annotations

import pandas as pd

from ..context import Context
from .base import KINDS, PolicyKind, blank, concat_findings, emit_where, text

_EVIDENCE = ["action", "system", "account_id", "role", "performed_by", "performed_at", "request_id",
             "approved_by", "approved_at", "approval_status"]


@KINDS.register("change_approval")
class ChangeApproval(PolicyKind):
    subject = "change (change:CHANGE_ID)"
    tables = ("changes", "accounts")
    codes = {
        "missing_request": "the change has no request_id",
        "not_approved": "approval_status is not 'approved', or approved_by is empty",
        "approved_after_performed": "approved_at is later than performed_at",
        "approver_is_performer": "the person who approved the change also performed it",
        "self_grant": "the performer changed their own account's access",
        "approver_position": "the approver's current position is not in approver_positions",
    }
    params_schema = {
        "type": "object",
        "properties": {
            "window_days": {"type": "integer", "minimum": 0, "default": 90,
                            "description": "Changes performed at most this many days before as-of are judged."},
            "actions": {"type": "array", "minItems": 1, "uniqueItems": True,
                        "items": {"enum": ["grant", "revoke", "enable", "disable", "create", "delete", "modify"]},
                        "default": ["grant", "enable", "create"],
                        "description": "Change actions that need a request and an approval."},
            "approver_positions": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": [],
                                   "description": "Positions (identities.position) allowed to approve; "
                                                  "empty = any position (not checked)."},
        },
    }

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        ch = ctx.table("changes")
        in_window = ch["performed_at"].isna() | (ctx.days_since(ch["performed_at"]) <= self.params["window_days"])
        action = ch["action"].astype("str").str.strip().str.lower()
        ch = ch[in_window & action.isin(self.params["actions"])].copy()
        self.cover(len(ch), f"changes ({', '.join(self.params['actions'])}) in the last "
                   f"{self.params['window_days']} days")
        if ch.empty:
            return concat_findings([])
        ch["target_person"] = self._target_person(ctx, ch)
        ch["subject"] = "change:" + ch["change_id"].astype("str")
        role = (text(ch["role"]) + " to ").where(~blank(ch["role"]), "")
        ch["what"] = ("change " + ch["change_id"].astype("str") + " (" + text(ch["action"]) + " " + role
                      + text(ch["system"]) + ":" + text(ch["account_id"]) + ")")
        performer, approver = ch["performed_by"], ch["approved_by"]
        status = ch["approval_status"].astype("str").str.strip().str.lower()
        approved = (status == "approved") & ~blank(approver)
        checks = [
            ("missing_request", blank(ch["request_id"]), " has no request_id"),
            ("not_approved", ~approved,
             " is not approved (status " + text(ch["approval_status"]).replace("", "empty")
             + ", approver " + text(approver).replace("", "none") + ")"),
            ("approved_after_performed",
             ch["approved_at"].notna() & ch["performed_at"].notna() & (ch["approved_at"] > ch["performed_at"]),
             " was approved after it was performed"),
            ("approver_is_performer", ~blank(approver) & (approver == performer),
             " was approved by its performer " + text(performer)),
            ("self_grant", ~blank(performer) & (performer == ch["target_person"]),
             " was performed by " + text(performer) + " on their own account"),
        ]
        if self.params["approver_positions"]:
            checks.append(self._approver_position(ctx, ch, approver))
        evidence = {**{c: ch[c] for c in _EVIDENCE}, "target_person": ch["target_person"]}

        def found(code: str, mask: pd.Series, tail: pd.Series | str, extra: dict | None = None) -> pd.DataFrame:
            return emit_where(ch, mask, code=code, message=ch["what"] + tail, person_id="target_person",
                              evidence={**evidence, **(extra or {})})

        return concat_findings([found(*check) for check in checks])

    @staticmethod
    def _target_person(ctx: Context, ch: pd.DataFrame) -> pd.Series:
        acc = ctx.table("accounts")[["system", "account_id", "person_id"]].drop_duplicates(["system", "account_id"])
        person = ch[["system", "account_id"]].merge(acc, how="left", on=["system", "account_id"],
                                                    sort=False)["person_id"]
        person.index = ch.index
        if "person_id" in ch.columns:
            person = ch["person_id"].where(~blank(ch["person_id"]), person)
        return person

    def _approver_position(self, ctx: Context, ch: pd.DataFrame, approver: pd.Series) -> tuple:
        """The approver_position check, with the approver's position in its evidence."""
        ids = ctx.people.set_index("person_id")["position"]
        position = approver.map(ids)
        allowed = position.isin(self.params["approver_positions"])
        mask = ~blank(approver) & ~allowed
        tail = (" was approved by " + text(approver) + " whose position "
                + text(position).replace("", "(unknown)") + " may not approve it")
        return ("approver_position", mask, tail, {
            "approver_position": position,
            "approver_positions": pd.Series([list(self.params["approver_positions"])] * len(ch), index=ch.index),
        })
