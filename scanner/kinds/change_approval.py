"""change_approval — every permission change is requested and approved first, and verified
by a second person afterwards (SPEC §5, §5.1; 双重核验 / 变更结果验证).

Judges the ``changes`` rows whose ``performed_at`` local date is at most ``window_days``
before the as-of date (changes dated after as-of, and changes without ``performed_at`` —
the proposed changes ``gate`` evaluates — are judged too). A change whose action is in
``actions`` [grant, enable, create] needs a request and an approval:

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

A change whose action is in ``verify_actions`` [none by default] needs a verification
(``verified_by`` names the person who checked the result, ``verified_at`` when):

* ``not_verified``: no verifier or no ``verified_at``, and more than ``verify_within_days``
  days have passed since the performed date (inside the limit the change is still
  pending verification; a proposed change is never due, verification follows it);
* ``verified_late``: ``verified_at``'s local date more than ``verify_within_days`` days
  after ``performed_at``'s;
* ``verifier_is_performer``: ``verified_by`` = ``performed_by``;
* ``verified_before_performed``: ``verified_at`` is an earlier instant than ``performed_at``.

performed_by / requested_by / approved_by are person_ids. The kind reads only context
tables, so ``gate`` runs it on a snapshot whose ``changes`` table holds the proposed
changes (``Snapshot.with_tables``).
"""

from __future__ import annotations

from ..context import ACCOUNT, Context
from ..lazy import pandas as pd
from .base import KINDS, PolicyKind, blank, concat_findings, emit_checks, text

_EVIDENCE = ["action", "system", "account_id", "role", "performed_by", "performed_at", "request_id",
             "approved_by", "approved_at", "approval_status", "verified_by", "verified_at"]
_ACTIONS = ["grant", "revoke", "enable", "disable", "create", "delete", "modify"]


def _what(rows: pd.DataFrame) -> pd.Series:
    """The change a finding is about, which every message starts with."""
    role = (text(rows["role"]) + " to ").where(~blank(rows["role"]), "")
    return ("change " + rows["change_id"].astype("str") + " (" + text(rows["action"]) + " " + role
            + text(rows["system"]) + ":" + text(rows["account_id"]) + ")")


@KINDS.register("change_approval")
class ChangeApproval(PolicyKind):
    subject = "change (change:CHANGE_ID)"
    tables = ("changes", "accounts")
    joins = frozenset({"_accounts", "_accounts_in_order", "keyed:accounts", "keyed:changes", "identities", "people"})
    codes = {
        "missing_request": "the change has no request_id",
        "not_approved": "approval_status is not 'approved', or approved_by is empty",
        "approved_after_performed": "approved_at is later than performed_at",
        "approver_is_performer": "the person who approved the change also performed it",
        "self_grant": "the performer changed their own account's access",
        "approver_position": "the approver's current position is not in approver_positions",
        "not_verified": "nobody verified the change within verify_within_days days",
        "verified_late": "the change was verified more than verify_within_days days after it was performed",
        "verifier_is_performer": "the person who performed the change also verified it",
        "verified_before_performed": "verified_at is earlier than performed_at",
    }
    params_schema = {
        "type": "object",
        "properties": {
            "window_days": {"type": "integer", "minimum": 0, "default": 90,
                            "description": "Changes performed at most this many days before as-of are judged."},
            "actions": {"type": "array", "uniqueItems": True, "items": {"enum": _ACTIONS},
                        "default": ["grant", "enable", "create"],
                        "description": "Change actions that need a request and an approval ([] = none)."},
            "verify_actions": {"type": "array", "uniqueItems": True, "items": {"enum": _ACTIONS}, "default": [],
                               "description": "Change actions whose result a second person must verify "
                                              "(verified_by, verified_at); [] = not checked."},
            "verify_within_days": {"type": "integer", "minimum": 0, "default": 1,
                                   "description": "Days after performed_at (local dates) by which the "
                                                  "verification is due (inclusive)."},
            "approver_positions": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": [],
                                   "description": "Positions (identities.position) allowed to approve; "
                                                  "empty = any position (not checked)."},
        },
    }

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        ch = ctx.table("changes")
        in_window = ch["performed_at"].isna() | (ctx.days_since(ch["performed_at"]) <= self.params["window_days"])
        action = ch["action"].astype("str").str.strip().str.lower()
        approve, verify = action.isin(self.params["actions"]), action.isin(self.params["verify_actions"])
        judged = in_window & (approve | verify)
        ch, approve, verify = ch[judged].copy(), approve[judged], verify[judged]
        self.cover(len(ch), f"changes ({', '.join(sorted({*self.params['actions'], *self.params['verify_actions']}))}) "
                   f"in the last {self.params['window_days']} days")
        if ch.empty:
            return concat_findings([])
        ch["target_person"] = self._target_person(ctx, ch)
        ch["subject"] = "change:" + ch["change_id"].astype("str")
        performer, approver = ch["performed_by"], ch["approved_by"]
        no_approver = blank(approver)
        status = ch["approval_status"].astype("str").str.strip().str.lower()
        approved = (status == "approved") & ~no_approver
        # (code, mask, message tail: text, or a function of the matching rows, so that texts
        # are built for findings only — most checks find nothing, and each text operation
        # costs ~0.5 ms however few the rows, most of the time on a gate's few changes)
        checks = [
            ("missing_request", blank(ch["request_id"]), " has no request_id"),
            ("not_approved", ~approved,
             lambda r: " is not approved (status " + text(r["approval_status"]).replace("", "empty")
             + ", approver " + text(r["approved_by"]).replace("", "none") + ")"),
            ("approved_after_performed",
             ch["approved_at"].notna() & ch["performed_at"].notna() & (ch["approved_at"] > ch["performed_at"]),
             " was approved after it was performed"),
            ("approver_is_performer", ~no_approver & (approver == performer),
             lambda r: " was approved by its performer " + text(r["performed_by"])),
            ("self_grant", ~blank(performer) & (performer == ch["target_person"]),
             lambda r: " was performed by " + text(r["performed_by"]) + " on their own account"),
        ]
        # the checks in groups that share their evidence (the approval checks, the approver's
        # position, the verification checks), each group emitted at once (emit_checks)
        groups = [([(code, approve & mask, tail) for code, mask, tail in checks], {})]
        if self.params["approver_positions"]:
            code, mask, tail, extra = self._approver_position(ctx, ch, no_approver)
            groups.append(([(code, approve & mask, tail)], extra))
        if verify.any():
            checks, extra = self._verification(ctx, ch)
            groups.append(([(code, verify & mask, tail) for code, mask, tail in checks], extra))
        evidence = {**{c: ch[c] for c in _EVIDENCE}, "target_person": ch["target_person"]}
        return concat_findings([emit_checks(ch, checks, person_id="target_person", evidence={**evidence, **extra},
                                            head=_what) for checks, extra in groups])

    def _verification(self, ctx: Context, ch: pd.DataFrame) -> tuple[list[tuple], dict[str, pd.Series]]:
        """The checks of the second person's verification (performed changes only) and the
        evidence they add; adds the column ``days_to_verify`` to ``ch``."""
        limit = self.params["verify_within_days"]
        performed, verified_at, verifier = ch["performed_at"], ch["verified_at"], ch["verified_by"]
        no_verifier = blank(verifier)
        verified = ~no_verifier & verified_at.notna()
        ch["days_to_verify"] = days_to_verify = (ctx.local_day(verified_at) - ctx.local_day(performed)).dt.days
        extra = {"verify_within_days": pd.Series(limit, index=ch.index),
                 "days_to_verify": days_to_verify}
        return [
            ("not_verified", performed.notna() & ~verified & (ctx.days_since(performed) > limit),
             lambda r: " performed on " + text(r["performed_at"]) + " was not verified by a second person within "
             + str(limit) + " days"),
            ("verified_late", performed.notna() & verified & (days_to_verify > limit),
             lambda r: " was verified by " + text(r["verified_by"]) + " on " + text(r["verified_at"]) + ", "
             + r["days_to_verify"].astype("Int64").astype("str") + " days after it was performed (limit "
             + str(limit) + ")"),
            ("verifier_is_performer", ~no_verifier & (verifier == ch["performed_by"]),
             lambda r: " was verified by its own performer " + text(r["verified_by"])),
            ("verified_before_performed", performed.notna() & verified_at.notna() & (verified_at < performed),
             lambda r: " was verified (" + text(r["verified_at"]) + ") before it was performed ("
             + text(r["performed_at"]) + ")"),
        ], extra

    @staticmethod
    def _target_person(ctx: Context, ch: pd.DataFrame) -> pd.Series:
        row = ctx.account_rows(ctx.keyed("changes").loc[ch.index, ACCOUNT])  # each change's account
        person = pd.Series(ctx.keyed("accounts")["person_id"].array.take(row, allow_fill=True), index=ch.index)
        if "person_id" in ch.columns:
            person = ch["person_id"].where(~blank(ch["person_id"]), person)
        return person

    def _approver_position(self, ctx: Context, ch: pd.DataFrame, no_approver: pd.Series) -> tuple:
        """The approver_position check, with the approver's position in its evidence (and in
        the column ``approver_position`` it adds to ``ch``)."""
        ch["approver_position"] = position = ctx.of_person(ch["approved_by"], "position")
        allowed = position.isin(self.params["approver_positions"])
        return ("approver_position", ~no_approver & ~allowed,
                lambda r: " was approved by " + text(r["approved_by"]) + " whose position "
                + text(r["approver_position"]).replace("", "(unknown)") + " may not approve it", {
                    "approver_position": position,
                    "approver_positions": pd.Series([list(self.params["approver_positions"])] * len(ch),
                                                    index=ch.index),
                })
