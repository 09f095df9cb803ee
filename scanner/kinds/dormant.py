"""dormant_account — enabled accounts nobody uses (SPEC §5, §5.1).

Only enabled accounts of the listed ``systems`` are judged. The last use is the newest
of ``last_login_at`` and, when the snapshot has a ``logins`` table, its successful
rows (``success`` true; an empty success is false, §5.1 — a failed attempt is not
use). Idle days = as-of date − local date of the last use: exactly ``max_idle_days``
is fine, one more is ``dormant``. An account never used is counted from
``created_at`` (``never_used``); without a creation date it is reported too, since
nothing shows it is new.

Active Directory: ``lastLogonTimestamp`` is replicated lazily and lags the real last
logon by up to 14 days (``msDS-LogonTimeSyncInterval``), so an AD account can look up
to 14 days idler than it is; keep ``max_idle_days`` well above 14, or feed the
per-DC ``lastLogon`` / sign-in events through the ``logins`` table.
"""

from __future__ import annotations

from ..context import Context
from ..lazy import pandas as pd
from .base import KINDS, SYSTEMS_PARAM, PolicyKind, account_subject, concat_findings, emit, in_systems, text


@KINDS.register("dormant_account")
class DormantAccount(PolicyKind):
    subject = "account"
    tables = ("accounts",)
    joins = frozenset({"_accounts"})
    codes = {
        "dormant": "no login for more than max_idle_days",
        "never_used": "never logged in, created more than max_idle_days ago (or creation date unknown)",
    }
    params_schema = {
        "type": "object",
        "properties": {
            "systems": SYSTEMS_PARAM,
            "max_idle_days": {"type": "integer", "minimum": 0, "default": 90,
                              "description": "Days without a login an enabled account may stay enabled (inclusive)."},
        },
    }

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        acc = ctx.table("accounts")
        judged, systems = in_systems(acc, self.params["systems"], acc["enabled"].to_numpy(dtype=bool))
        acc = acc[["system", "account_id", "person_id", "last_login_at", "created_at"]].take(judged)
        self.cover(len(acc), "enabled accounts of the listed systems", systems=systems)
        if acc.empty:
            return concat_findings([])
        acc["last_use"] = acc["last_login_at"]
        logins = ctx.optional("logins")
        if logins is not None:
            ok = logins[logins["success"]].dropna(subset=["at"])
            newest = ok.groupby(["system", "account_id"], sort=False)["at"].max().rename("login_at").reset_index()
            login_at = acc[["system", "account_id"]].merge(newest, how="left", on=["system", "account_id"],
                                                           sort=False)["login_at"]
            login_at.index = acc.index
            later = login_at.notna() & (acc["last_use"].isna() | (login_at > acc["last_use"]))
            acc["last_use"] = acc["last_use"].where(~later, login_at)
        limit = self.params["max_idle_days"]
        used = acc["last_use"].notna()
        acc["idle_days"] = ctx.days_since(acc["last_use"].where(used, acc["created_at"]))
        dormant = acc[used & (acc["idle_days"] > limit)]
        never = acc[~used & (acc["created_at"].isna() | (acc["idle_days"] > limit))]
        dormant, never = (rows.assign(subject=account_subject(rows)) for rows in (dormant, never))
        limit_s = " (limit " + str(limit) + ")"
        created = ("created on " + text(never["created_at"])).where(never["created_at"].notna(),
                                                                    "creation date unknown")
        never_days = never["idle_days"].astype("Int64").astype("str").fillna("?")
        return concat_findings([
            emit(dormant, code="dormant", subject=dormant["subject"], person_id=dormant["person_id"],
                 message=(dormant["subject"].str.slice(8) + " has not logged in since "
                          + text(dormant["last_use"]) + ", "
                          + dormant["idle_days"].astype("int64").astype("str") + " days" + limit_s),
                 evidence={"last_use": dormant["last_use"], "last_login_at": dormant["last_login_at"],
                           "idle_days": dormant["idle_days"],
                           "max_idle_days": pd.Series(limit, index=dormant.index)}),
            emit(never, code="never_used", subject=never["subject"], person_id=never["person_id"],
                 message=(never["subject"].str.slice(8) + " has never logged in; " + created
                          + (", " + never_days + " days ago").where(never["created_at"].notna(), "")
                          + limit_s),
                 evidence={"created_at": never["created_at"], "idle_days": never["idle_days"],
                           "max_idle_days": pd.Series(limit, index=never.index)}),
        ])
