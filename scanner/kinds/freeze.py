"""period_close_freeze — no permission change or handover during period close (月末、季末、年末).

Closing the books is when a wrong permission does the most harm and nobody has time
to check one, so changes (``changes``) and handovers (``handovers``, when the snapshot
has the table) are kept out of the last ``freeze_business_days`` business days of each
month, quarter or year (``period``). The freeze runs from the first of those business
days through the period's last calendar day (a weekend or holiday at the end of the
period is frozen too). A row marked ``emergency`` is exempt.

Business days follow the Chinese calendar of the State Council's yearly holiday notice:
public holidays are off, and the weekend days made working days (调休) count. They come
from ``chinesecalendar`` (pip ``chinesecalendar``), which is updated each year when the
notice is published and refuses a year it does not know — so does this kind: a judged
date outside the years the library covers ends the policy in status ``error`` naming the
row, never a guess.

Judged rows: changes whose ``action`` is in ``actions`` and handovers whose date is at
most ``window_days`` before the as-of date, and later ones. A change without
``performed_at`` (a proposed change, ``gate``) would be performed today: it is judged
on the as-of date.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import chinese_calendar

from ..context import Context
from ..errors import EvaluationError
from ..lazy import pandas as pd
from .base import KINDS, PolicyKind, concat_findings, emit_where, text

_ACTIONS = ["grant", "revoke", "enable", "disable", "create", "delete", "modify"]
_MONTHS = {"month": 1, "quarter": 3, "year": 12}


class CalendarRangeError(EvaluationError):
    """A date the business-day calendar does not cover: no verdict, never a guess."""


def calendar_years() -> tuple[int, int]:
    """The first and last year the installed chinesecalendar knows holidays and 调休 for."""
    days = list(chinese_calendar.holidays) + list(chinese_calendar.workdays)
    return min(days).year, max(days).year


def _period_end(day: dt.date, period: str) -> dt.date:
    step = _MONTHS[period]
    month = ((day.month - 1) // step + 1) * step  # last month of the period
    first_of_next = dt.date(day.year + month // 12, month % 12 + 1, 1)
    return first_of_next - dt.timedelta(days=1)


@cache
def freeze_start(end: dt.date, business_days: int) -> dt.date:
    """The first of the last ``business_days`` business days of the month ending ``end``."""
    workdays = chinese_calendar.get_workdays(end.replace(day=1), end)
    return workdays[-business_days] if len(workdays) >= business_days else end.replace(day=1)


@KINDS.register("period_close_freeze")
class PeriodCloseFreeze(PolicyKind):
    subject = "change (change:CHANGE_ID) or handover (handover:HANDOVER_ID)"
    tables = ("changes",)
    codes = {
        "change_in_freeze": "a permission change performed in the period-close freeze without an emergency marker",
        "handover_in_freeze": "a handover done in the period-close freeze without an emergency marker",
    }
    params_schema = {
        "type": "object",
        "properties": {
            "period": {"enum": list(_MONTHS), "default": "month",
                       "description": "Which period ends are frozen: month (every month end, so quarter and "
                                      "year ends too), quarter or year."},
            "freeze_business_days": {"type": "integer", "minimum": 1, "maximum": 10, "default": 2,
                                     "description": "The last this many Chinese business days of the period "
                                                    "(and any day after them in the period) are frozen."},
            "window_days": {"type": "integer", "minimum": 0, "default": 90,
                            "description": "Changes and handovers at most this many days before as-of are judged."},
            "actions": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": _ACTIONS},
                        "default": _ACTIONS, "description": "Change actions that the freeze applies to."},
        },
    }

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        ch = ctx.table("changes")
        action = ch["action"].astype("str").str.strip().str.lower()
        ch = ch[action.isin(self.params["actions"])]
        handovers = ctx.optional("handovers")
        judged = [(ch, "performed_at", "change_id", "change", "change_in_freeze")]
        if handovers is not None:
            judged.append((handovers, "handed_over_at", "handover_id", "handover", "handover_in_freeze"))
        judged = [(rows[self._in_window(ctx, rows[at])], at, *rest) for rows, at, *rest in judged]
        self.cover(sum(len(rows) for rows, *_ in judged),
                   f"changes ({', '.join(self.params['actions'])}) and handovers of the last "
                   f"{self.params['window_days']} days")
        return concat_findings([self._judge(ctx, *j) for j in judged])

    def _in_window(self, ctx: Context, at: pd.Series) -> pd.Series:
        """Rows done within window_days (a proposed change, not yet done, counts as today)."""
        day = ctx.local_day(at).fillna(ctx.today)
        return (ctx.today - day).dt.days <= self.params["window_days"]

    def _judge(self, ctx: Context, rows: pd.DataFrame, at: str, id_col: str, what: str,
               code: str) -> pd.DataFrame:
        """The findings among ``rows`` (those in the window). Texts and evidence columns are
        built for the frozen rows only: a gate judges the whole handover register, of which
        few or none are in a freeze, and each pandas step costs ~1 ms however few its rows."""
        if rows.empty:
            return concat_findings([])
        day = ctx.local_day(rows[at]).fillna(ctx.today).dt.date  # a proposed change: performed today
        periods = {d: self._start(d, rows, day, id_col, what) for d in day.unique()}
        frozen = (day >= day.map(lambda d: periods[d][0])) & ~rows["emergency"]
        if not frozen.any():
            return concat_findings([])

        def dated(found: pd.DataFrame) -> pd.DataFrame:
            """The frozen rows with the dates their findings name."""
            found = found.copy()
            found_day = day[found.index]
            found["freeze_from"] = found_day.map(lambda d: periods[d][0].isoformat())
            found["period_end"] = found_day.map(lambda d: periods[d][1].isoformat())
            found["judged_on"] = found_day.map(dt.date.isoformat)
            found["subject"] = what + ":" + found[id_col].astype("str")
            return found

        n, period = self.params["freeze_business_days"], self.params["period"]

        def message(found: pd.DataFrame) -> pd.Series:
            on = found["judged_on"]
            when = ("is proposed for " + on).where(found[at].isna(), "was done on " + on)
            return (what + " " + text(found[id_col]) + " " + when + ", inside the " + period + "-end freeze (the "
                    "last " + str(n) + " business days: " + found["freeze_from"] + " to " + found["period_end"]
                    + ") without an emergency marker")

        evidence = [c for c in ("action", "system", "account_id", "role", "from_person_id", "to_person_id")
                    if c in rows.columns]
        return emit_where(rows, frozen, code=code, message=message, extend=dated,
                          evidence=[at, *evidence, "emergency", "judged_on", "freeze_from", "period_end"],
                          person_id="from_person_id" if "from_person_id" in rows.columns else None)

    def _start(self, day: dt.date, rows: pd.DataFrame, days: pd.Series, id_col: str,
               what: str) -> tuple[dt.date, dt.date]:
        """(freeze start, period end) of ``day``'s period; a year the calendar lacks is an error
        naming the rows (of ``rows``, whose dates are ``days``) on that day."""
        end = _period_end(day, self.params["period"])
        try:
            return freeze_start(end, self.params["freeze_business_days"]), end
        except NotImplementedError:
            first, last = calendar_years()
            ids = rows.loc[days == day, id_col].astype("str").tolist()
            raise CalendarRangeError(
                f"{what} {', '.join(ids[:3])} on {day.isoformat()}: the Chinese business-day calendar "
                f"(chinesecalendar) covers {first}–{last} only, not the period ending {end.isoformat()}; "
                "update chinesecalendar (pip install -U chinesecalendar) once the State Council has "
                "published that year's holidays") from None
