"""unrecorded_change — the live systems drifted from the change log (未审批、越权操作).

Every permission change must be recorded in ``changes``; a periodic audit checks that
nothing happened outside that process. Two views of the same question:

* ``grant_without_change``: a grant whose ``granted_at`` local date is at most
  ``window_days`` before as-of has no ``grant`` change of the same system, account and
  role performed within ``tolerance_days`` days of it (local dates, either side; a
  change without ``performed_at`` — a proposed one — counts as performed today).
  Grants without ``granted_at`` cannot be dated and are judged only by the comparison below.
* With an earlier snapshot (``scan --previous-snapshot DIR``), what changed between the
  two: a grant that appeared (``grant_appeared_without_change``) or an account that is
  enabled now and was disabled or absent then (``account_enabled_without_change``) needs
  an *approved* change (``grant``; ``enable`` or ``create``) performed since the earlier
  snapshot was taken (less ``tolerance_days``); a grant that disappeared needs a
  ``revoke`` of it or a ``delete`` of the account (``grant_removed_without_revoke``).
  Without an earlier snapshot this comparison cannot be made, and the policy says so
  with one ``info`` finding, ``previous_snapshot_missing`` (subject
  ``snapshot:previous``) — never a silent pass.
"""

from __future__ import annotations

from collections.abc import Callable

from ..context import Context, glob_mask, isin, positions
from ..lazy import numpy as np
from ..lazy import pandas as pd
from ..timeutil import parse_instant
from .base import (
    KINDS,
    SYSTEMS_PARAM,
    PolicyKind,
    account_subject,
    blank,
    concat_findings,
    emit,
    emit_where,
    glob_counts,
    text,
)

_KEY = ["system", "account_id", "role"]


@KINDS.register("unrecorded_change")
class UnrecordedChange(PolicyKind):
    subject = "account (account:SYSTEM:ID, the role as key)"
    tables = ("grants", "changes")
    uses_previous_snapshot = True
    codes = {
        "grant_without_change": "a grant dated in the window has no matching grant change record",
        "grant_appeared_without_change": "a grant new since the previous snapshot has no approved grant change",
        "account_enabled_without_change": "an account enabled (or created) since the previous snapshot has no "
                                          "approved enable/create change",
        "grant_removed_without_revoke": "a grant gone since the previous snapshot has no revoke (or delete) record",
        "previous_snapshot_missing": "no --previous-snapshot was given: the comparison of two states was not made",
    }
    params_schema = {
        "type": "object",
        "properties": {
            "systems": SYSTEMS_PARAM,
            "window_days": {"type": "integer", "minimum": 0, "default": 90,
                            "description": "Grants whose granted_at is at most this many days before as-of "
                                           "are matched against the change log."},
            "tolerance_days": {"type": "integer", "minimum": 0, "default": 1,
                               "description": "Days (local dates, inclusive) a change's performed_at may be "
                                              "away from the grant's granted_at, or before the previous "
                                              "snapshot was taken."},
        },
    }

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        grants = ctx.table("grants")
        systems = glob_counts(grants["system"], self.params["systems"])
        grants = grants[glob_mask(grants["system"], self.params["systems"])]
        self.cover(len(grants), "grants of the listed systems", systems=systems)
        changes = ctx.table("changes")
        changes = changes.assign(_action=changes["action"].astype("str").str.strip().str.lower(),
                                 _day=ctx.local_day(changes["performed_at"]).fillna(ctx.today))
        parts = [self._undated_in_log(ctx, grants, changes)]
        previous = ctx.previous_table("grants")
        if previous is None:
            parts.append(emit(pd.DataFrame({"note": [1]}), code="previous_snapshot_missing",
                              subject="snapshot:previous", severity="info",
                              message="grants and enablements between two snapshots were not compared: scan "
                                      "with --previous-snapshot DIR (an earlier snapshot) to check them"))
        else:
            parts += self._compared(ctx, grants, previous, changes)
        return concat_findings(parts)

    @staticmethod
    def _person(ctx: Context, rows: pd.DataFrame) -> pd.Series:
        """The person of each row's account (missing when none): only the accounts ``rows`` can
        name (one hash lookup of the id) are looked at, each row's by its account code."""
        accounts = ctx.optional("accounts")
        if accounts is None:
            return pd.Series(None, index=rows.index, dtype=object)
        accounts = accounts[isin(accounts["account_id"], rows["account_id"]).to_numpy()]
        at = positions(ctx.account_codes(rows), ctx.account_codes(accounts))
        return pd.Series(accounts["person_id"].array.take(at, allow_fill=True), index=rows.index)

    def _emit(self, ctx: Context, rows: pd.DataFrame, recorded: np.ndarray, *, code: str,
              tail: Callable[[pd.DataFrame], pd.Series], evidence: list[str]) -> pd.DataFrame:
        """A finding per grant of ``rows`` without a record (``recorded`` false): its subject,
        person and text ("role R on S:A" + ``tail``) built for those rows only."""
        return emit_where(rows, ~pd.Series(recorded, index=rows.index), code=code, subject=account_subject,
                          person_id=lambda r: self._person(ctx, r), key="role",
                          extend=lambda r: r.assign(tolerance_days=self.params["tolerance_days"]),
                          message=lambda r: "role " + text(r["role"]) + " on " + r["system"].astype("str") + ":"
                          + r["account_id"].astype("str") + tail(r), evidence=evidence)

    def _matched(self, rows: pd.DataFrame, changes: pd.DataFrame, on: list[str], *, near: pd.Series | None = None,
                 since: pd.Timestamp | None = None) -> pd.Series:
        """Which ``rows`` have a change on the same ``on`` keys, performed within tolerance of
        ``near`` (a day per row) or on/after ``since`` less the tolerance."""
        tol = pd.Timedelta(days=self.params["tolerance_days"])
        left = rows[on].astype("str").assign(_row=rows.index)
        if near is not None:
            left["_near"] = near.to_numpy()
        pairs = left.merge(changes[[*on, "_day"]].astype({c: "str" for c in on}), on=on, sort=False)
        ok = pd.Series(True, index=pairs.index)
        if near is not None:
            ok &= (pairs["_day"] - pairs["_near"]).abs() <= tol
        if since is not None:
            ok &= pairs["_day"] >= since - tol
        return rows.index.isin(pairs.loc[ok, "_row"]) if len(pairs) else pd.Series(False, index=rows.index).to_numpy()

    def _undated_in_log(self, ctx: Context, grants: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
        day = ctx.local_day(grants["granted_at"])
        rows = grants[day.notna() & ((ctx.today - day).dt.days <= self.params["window_days"])].copy()
        if rows.empty:
            return concat_findings([])
        rows["_near"] = day[rows.index]
        recorded = self._matched(rows, changes[changes["_action"] == "grant"], _KEY, near=rows["_near"])
        return self._emit(ctx, rows, recorded, code="grant_without_change",
                          tail=lambda r: " was granted on " + text(r["granted_at"])
                          + " but the change log has no grant of it within "
                          + str(self.params["tolerance_days"]) + " days",
                          evidence=["system", "account_id", "role", "granted_at", "granted_by", "tolerance_days"])

    def _compared(self, ctx: Context, grants: pd.DataFrame, previous: pd.DataFrame,
                  changes: pd.DataFrame) -> list[pd.DataFrame]:
        taken = ctx.previous.taken_at
        since = pd.Timestamp(parse_instant(taken, ctx.tz).date()) if taken else None
        approved = changes[(changes["approval_status"].astype("str").str.strip().str.lower() == "approved")
                           & ~blank(changes["approved_by"])]
        previous = previous[glob_mask(previous["system"], self.params["systems"])]
        before = previous[_KEY].astype("str").drop_duplicates()
        now = grants[_KEY].astype("str")
        appeared = grants[~now.merge(before.assign(_old=True), how="left", on=_KEY)["_old"].notna().to_numpy()].copy()
        gone = previous[~previous[_KEY].astype("str").merge(now.drop_duplicates().assign(_new=True), how="left",
                                                              on=_KEY)["_new"].notna().to_numpy()].copy()
        out = []
        if not appeared.empty:
            ok = self._matched(appeared, approved[approved["_action"] == "grant"], _KEY, since=since)
            out.append(self._emit(
                ctx, appeared, ok, code="grant_appeared_without_change",
                tail=lambda r: " appeared since the previous snapshot (" + (taken or "date unknown")
                + ") without an approved grant change",
                evidence=["system", "account_id", "role", "granted_at", "granted_by", "tolerance_days"]))
        if not gone.empty:
            revoked = self._matched(gone, changes[changes["_action"] == "revoke"], _KEY, since=since)
            deleted = self._matched(gone, changes[changes["_action"] == "delete"], ["system", "account_id"],
                                    since=since)
            out.append(self._emit(
                ctx, gone, revoked | deleted, code="grant_removed_without_revoke",
                tail=lambda r: " was removed since the previous snapshot (" + (taken or "date unknown")
                + ") without a revoke record",
                evidence=["system", "account_id", "role", "granted_at", "tolerance_days"]))
        out.append(self._enabled(ctx, approved, since, taken))
        return out

    def _enabled(self, ctx: Context, approved: pd.DataFrame, since: pd.Timestamp | None,
                 taken: str | None) -> pd.DataFrame:
        accounts, before = ctx.optional("accounts"), ctx.previous_table("accounts")
        if accounts is None:
            return concat_findings([])
        acc = accounts[accounts["enabled"] & glob_mask(accounts["system"], self.params["systems"])]
        acc = acc.drop_duplicates(["system", "account_id"]).copy()
        old = before[["system", "account_id", "enabled"]].astype({"system": "str", "account_id": "str"})
        state = acc[["system", "account_id"]].astype("str").merge(
            old.drop_duplicates(["system", "account_id"]), how="left", on=["system", "account_id"])["enabled"]
        acc["previous_state"] = state.map({True: "enabled", False: "disabled"}).fillna("absent").to_numpy()
        acc = acc[acc["previous_state"] != "enabled"]
        if acc.empty:
            return concat_findings([])
        ok = self._matched(acc, approved[approved["_action"].isin(["enable", "create"])], ["system", "account_id"],
                           since=since)
        acc["subject"] = "account:" + acc["system"].astype("str") + ":" + acc["account_id"].astype("str")
        acc["tolerance_days"] = self.params["tolerance_days"]
        return emit_where(acc, ~pd.Series(ok, index=acc.index), code="account_enabled_without_change",
                          message=acc["subject"] + " is enabled but was " + acc["previous_state"]
                          + " in the previous snapshot (" + (taken or "date unknown")
                          + "), and no approved enable/create change records it",
                          person_id="person_id",
                          evidence=["system", "account_id", "enabled", "previous_state", "created_at",
                                    "tolerance_days"])
