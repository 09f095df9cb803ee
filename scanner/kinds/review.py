"""access_review — every enabled account is reviewed regularly (SPEC §5, §5.1).

Only enabled accounts of the listed ``systems`` are judged. The newest review of
(system, account_id) counts, whatever its decision (a ``revoke`` decision is still a
review). Its age is the as-of date minus the local calendar date of ``reviewed_at``:
exactly ``max_age_days`` old is fine, one day more is ``review_overdue``. An account
with no review at all is ``never_reviewed`` once its first review is due: like
dormant_account's never-used rule, the age counts from ``created_at`` (an account
created within the last ``max_age_days`` days is not yet due; an unknown creation date
is due now), so a new hire's account does not fail the check on its first day.
"""

from __future__ import annotations

from ..context import ACCOUNT, Context
from ..lazy import numpy as np
from ..lazy import pandas as pd
from .base import KINDS, SYSTEMS_PARAM, PolicyKind, account_subject, concat_findings, emit, in_systems, text


@KINDS.register("access_review")
class AccessReview(PolicyKind):
    subject = "account"
    tables = ("accounts", "reviews")
    joins = frozenset({"_accounts", "_accounts_in_order", "keyed:accounts", "keyed:reviews"})
    codes = {
        "never_reviewed": "an enabled account created more than max_age_days ago has no review at all",
        "review_overdue": "the newest review is more than max_age_days old",
    }
    params_schema = {
        "type": "object",
        "properties": {
            "systems": SYSTEMS_PARAM,
            "max_age_days": {"type": "integer", "minimum": 0, "default": 90,
                             "description": "Days a review stays valid (inclusive)."},
        },
    }

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        acc = ctx.keyed("accounts")
        judged, systems = in_systems(acc, self.params["systems"], acc["enabled"].to_numpy(dtype=bool))
        acc = acc[[ACCOUNT, "system", "account_id", "person_id", "enabled", "created_at", "last_login_at"]].take(judged)
        self.cover(len(acc), "enabled accounts of the listed systems", systems=systems)
        if acc.empty:
            return concat_findings([])
        reviews = ctx.keyed("reviews")
        newest = _newest(reviews, _judged_row(ctx, reviews, judged), len(judged))
        acc = acc.assign(**{c: pd.api.extensions.take(reviews[c].array, newest, allow_fill=True)
                            for c in ("reviewed_at", "reviewer", "decision")})
        acc["age_days"] = ctx.days_since(acc["reviewed_at"])
        limit = self.params["max_age_days"]
        never = acc[acc["reviewed_at"].isna() & ~(ctx.days_since(acc["created_at"]) <= limit)]
        overdue = acc[acc["age_days"] > limit]
        never, overdue = (rows.assign(subject=account_subject(rows)) for rows in (never, overdue))
        return concat_findings([
            emit(never, code="never_reviewed", subject=never["subject"], person_id=never["person_id"],
                 message=never["subject"].str.slice(8) + " is enabled and has never been reviewed",
                 evidence=["enabled", "created_at", "last_login_at"]),
            emit(overdue, code="review_overdue", subject=overdue["subject"], person_id=overdue["person_id"],
                 message=(overdue["subject"].str.slice(8) + " was last reviewed on " + text(overdue["reviewed_at"])
                          + ", " + overdue["age_days"].astype("int64").astype("str") + " days ago (limit "
                          + str(limit) + ")"),
                 evidence={"reviewed_at": overdue["reviewed_at"], "reviewer": overdue["reviewer"],
                           "decision": overdue["decision"], "age_days": overdue["age_days"],
                           "max_age_days": pd.Series(limit, index=overdue.index)}),
        ])


def _judged_row(ctx: Context, reviews: pd.DataFrame, judged: np.ndarray) -> np.ndarray:
    """Each review's account among the ``judged`` rows of the accounts (-1: not judged)."""
    among = np.full(len(ctx.keyed("accounts")) + 1, -1)  # (-1, no account, picks the last: -1)
    among[judged] = np.arange(len(judged))
    return among[ctx.account_rows(reviews[ACCOUNT])]


def _newest(reviews: pd.DataFrame, account: np.ndarray, accounts: int) -> np.ndarray:
    """Per account (``account``: each review's, a position below ``accounts``; -1: none), the row
    of its newest review (-1: none): the latest ``reviewed_at``, of equal ones the last row, as
    a stable sort keeping each account's last row would pick it. Maxima per account over
    integers, no sort of the 173k reviews and no merge (~70 → ~15 ms at size M)."""
    time = reviews["reviewed_at"].array
    rows = np.flatnonzero((account >= 0) & ~time.isna())
    account, time = account[rows], time.asi8[rows]
    latest = np.full(accounts, np.iinfo("int64").min)
    np.maximum.at(latest, account, time)
    tie = time == latest[account]
    newest = np.full(accounts, -1)
    np.maximum.at(newest, account[tie], rows[tie])
    return newest
