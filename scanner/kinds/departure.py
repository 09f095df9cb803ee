"""revoke_on_departure — departed staff keep no access (SPEC §5, §5.1).

Finds, for people whose identity status is ``departed``:

* an enabled account past ``departure_date + grace_days`` (inclusive: on that day it
  is not yet late), or with no departure date at all;
* a revocation done late: ``disabled_at``'s local date after that deadline, for
  departures within ``lookback_days`` (an expiry already reached is read like
  ``disabled_at``; the earlier of the two counts);
* activity after departure: ``last_login_at`` or a successful ``logins`` row on a later date
  than the departure date, and archive access in ``access_log`` by one of their accounts
  or by the person (every departed person, with or without accounts: access by
  person_id belongs to no system); ``logins`` and ``access_log`` are used when present;
* grants left on a departed person's disabled account (hygiene: re-enabling it
  would restore every role).
"""

from __future__ import annotations

from ..context import Context, glob_mask, isin
from ..lazy import pandas as pd
from .base import (
    KINDS,
    SEVERITY,
    SYSTEMS_PARAM,
    PolicyKind,
    account_subject,
    concat_findings,
    emit,
    glob_counts,
    joined_per,
    text,
)


@KINDS.register("revoke_on_departure")
class RevokeOnDeparture(PolicyKind):
    subject = "account (archive access by a person: person)"
    tables = ("identities", "accounts")
    codes = {
        "enabled_after_departure": "account still enabled after departure_date + grace_days",
        "late_revocation": "account disabled, but after departure_date + grace_days",
        "activity_after_departure": "login on a later date than the departure date",
        "archive_access_after_departure": "archive viewed/downloaded/… after the departure date",
        "grants_on_disabled_account": "a departed person's disabled account still holds roles",
    }
    params_schema = {
        "type": "object",
        "properties": {
            "systems": SYSTEMS_PARAM,
            "grace_days": {"type": "integer", "minimum": 0, "default": 0,
                           "description": "Days after departure_date an account may stay enabled."},
            "lookback_days": {"type": "integer", "minimum": 0, "default": 365,
                              "description": "Late revocations are reported for departures this recent."},
            "leftover_grants_severity": {**SEVERITY, "default": "low",
                                         "description": "Severity of grants_on_disabled_account."},
        },
    }

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        departed = ctx.people[ctx.people["status"] == "departed"]
        acc = ctx.table("accounts")
        in_scope = glob_mask(acc["system"], self.params["systems"])
        self.cover(int(in_scope.sum()), "accounts of the listed systems",
                   systems=glob_counts(acc["system"], self.params["systems"]))
        if departed.empty:
            return concat_findings([])
        # departures are few: narrow the accounts before joining the identities
        # with the columns findings use only: each selection below takes every column
        acc = acc.loc[in_scope & isin(acc["person_id"], departed["person_id"]),
                      ["system", "account_id", "person_id", "display_name", "enabled", "expired", "expires_at",
                       "disabled_at", "last_login_at"]]
        acc = ctx.with_identity(acc, departed[["person_id", "departure_date"]])
        acc["departed_on"] = ctx.local_day(acc["identity.departure_date"])
        acc["deadline"] = acc["departed_on"] + pd.Timedelta(days=self.params["grace_days"])
        acc["subject"] = account_subject(acc)
        acc["who"] = (acc["display_name"].fillna(acc["account_id"]) + " ("
                      + acc["person_id"].astype("str") + ")")
        parts = [
            self._still_enabled(ctx, acc),
            self._late(ctx, acc),
            self._logins_after(ctx, acc),
            self._archive_access_after(ctx, acc),
            self._leftover_grants(ctx, acc),
        ]
        return concat_findings(parts)

    def _still_enabled(self, ctx: Context, acc: pd.DataFrame) -> pd.DataFrame:
        late = acc["enabled"] & (acc["departed_on"].isna() | (acc["deadline"] < ctx.today))
        rows = acc[late]
        overdue = (ctx.today - rows["deadline"]).dt.days
        return emit(
            rows, code="enabled_after_departure", subject=rows["subject"], person_id=rows["person_id"],
            message=(rows["who"] + " is still enabled in " + rows["system"] + "; the person left on "
                     + _left_on(rows) + " (grace " + str(self.params["grace_days"]) + " days)"),
            evidence={"departure_date": rows["identity.departure_date"], "enabled": rows["enabled"],
                      "grace_days": pd.Series(self.params["grace_days"], index=rows.index),
                      "days_overdue": overdue, "last_login_at": rows["last_login_at"]},
        )

    def _late(self, ctx: Context, acc: pd.DataFrame) -> pd.DataFrame:
        # an expiry already reached is a revocation too (§5.1): the earlier of the two counts
        revoked = acc["disabled_at"].where(
            ~acc["expired"] | (acc["disabled_at"] <= acc["expires_at"]), acc["expires_at"])
        disabled_on = ctx.local_day(revoked)
        recent = (ctx.today - acc["departed_on"]).dt.days <= self.params["lookback_days"]
        late = ~acc["enabled"] & disabled_on.notna() & (disabled_on > acc["deadline"]) & recent
        rows = acc[late]
        days_late = (disabled_on[late] - rows["deadline"]).dt.days
        return emit(
            rows, code="late_revocation", subject=rows["subject"], person_id=rows["person_id"],
            message=(rows["who"] + " was disabled on " + text(revoked[late]) + ", "
                     + days_late.astype("str") + " day(s) late; the person left on "
                     + _left_on(rows)),
            evidence={"departure_date": rows["identity.departure_date"],
                      "disabled_at": rows["disabled_at"], "expires_at": rows["expires_at"],
                      "days_late": days_late},
        )

    def _logins_after(self, ctx: Context, acc: pd.DataFrame) -> pd.DataFrame:
        """last_login_at and the logins table, one finding per account."""
        keys = ["system", "account_id"]
        events = [acc[[*keys, "last_login_at", "departed_on"]].rename(columns={"last_login_at": "at"})
                  .assign(source="last_login_at")]
        logins = ctx.optional("logins")
        if logins is not None:
            # like dormant_account: a failed attempt is not use (an empty success is false, §5.1)
            ok = logins[logins["success"] & isin(logins["account_id"], acc["account_id"])][[*keys, "at"]]
            events.append(ok.merge(acc[[*keys, "departed_on"]], on=keys).assign(source="logins"))
        ev = pd.concat(events, ignore_index=True).dropna(subset=["at"])
        ev = ev[ctx.local_day(ev["at"]) > ev["departed_on"]]
        if ev.empty:
            return concat_findings([])
        per = ev.assign(login=ev["source"] == "logins").groupby(["system", "account_id"], sort=False).agg(
            last_activity=("at", "max"), first_activity=("at", "min"), login_events=("login", "sum"),
        ).reset_index()
        rows = acc.merge(per, on=["system", "account_id"])
        return emit(
            rows, code="activity_after_departure", subject=rows["subject"], person_id=rows["person_id"],
            message=(rows["who"] + " was used after the person left on "
                     + text(rows["identity.departure_date"]) + " (last activity "
                     + text(rows["last_activity"]) + ")"),
            evidence={"departure_date": rows["identity.departure_date"],
                      **{c: rows[c] for c in ("first_activity", "last_activity", "login_events")}},
        )

    def _archive_access_after(self, ctx: Context, acc: pd.DataFrame) -> pd.DataFrame:
        log = ctx.optional("access_log")
        if log is None or log.empty:
            return concat_findings([])
        by_account = acc.assign(actor=acc["system"] + ":" + acc["account_id"])
        # access by person_id belongs to no system: every departed person is judged,
        # with or without accounts (e.g. borrowing paper archives after leaving)
        people = ctx.identities[ctx.identities["status"] == "departed"].drop_duplicates("person_id")
        people = pd.DataFrame({
            "actor": people["person_id"], "subject": "person:" + people["person_id"].astype("str"),
            "person_id": people["person_id"],
            "who": people["name"].fillna(people["person_id"]) + " (" + people["person_id"] + ")",
            "departed_on": ctx.local_day(people["departure_date"]),
            "identity.departure_date": people["departure_date"]})
        actors = pd.concat([by_account, people], ignore_index=True)[
            ["actor", "subject", "person_id", "who", "departed_on", "identity.departure_date"]]
        hits = log[isin(log["actor"], actors["actor"])].merge(actors, on="actor")  # few events are theirs
        hits = hits[ctx.local_day(hits["at"]) > hits["departed_on"]]
        if hits.empty:
            return concat_findings([])
        per = hits.groupby("actor", sort=False).agg(events=("event_id", "size"), last_access=("at", "max"))
        for column, name, limit in (("archive_id", "archives", 10), ("action", "actions", None)):
            per = per.merge(joined_per(hits, ["actor"], column, name, limit=limit).set_index("actor"),
                            left_index=True, right_index=True, how="left")
        per = per.reset_index()
        rows = actors.drop_duplicates("actor").merge(per, on="actor")
        return emit(
            rows, code="archive_access_after_departure", subject=rows["subject"],
            person_id=rows["person_id"],
            message=(rows["who"] + " accessed archives (" + rows["actions"] + ") "
                     + rows["events"].astype("str") + " time(s) after leaving on "
                     + text(rows["identity.departure_date"])),
            evidence={"departure_date": rows["identity.departure_date"],
                      **{c: rows[c] for c in ("events", "last_access", "archives", "actions")}},
        )

    def _leftover_grants(self, ctx: Context, acc: pd.DataFrame) -> pd.DataFrame:
        grants = ctx.optional("grants")
        if grants is None:
            return concat_findings([])
        disabled = acc[~acc["enabled"]]
        # few accounts are disabled: narrow the grants by id (a hash lookup) before the join
        held = grants[isin(grants["account_id"], disabled["account_id"])].merge(
            disabled[["system", "account_id"]], on=["system", "account_id"])
        if held.empty:
            return concat_findings([])
        per = joined_per(held, ["system", "account_id"], "role", "roles", count="role_count")
        rows = disabled.merge(per, on=["system", "account_id"])
        return emit(
            rows, code="grants_on_disabled_account", subject=rows["subject"], person_id=rows["person_id"],
            message=(rows["who"] + " is disabled but still holds " + rows["role_count"].astype("str")
                     + " role(s): " + rows["roles"]),
            evidence={"departure_date": rows["identity.departure_date"],
                      "role_count": rows["role_count"], "roles": rows["roles"]},
            severity=self.params["leftover_grants_severity"],
        )


def _left_on(rows: pd.DataFrame) -> pd.Series:
    return text(rows["identity.departure_date"]).replace("", "an unrecorded date")
