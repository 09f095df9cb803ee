"""retention_period — accounting archives are kept for their full period (SPEC §5, §5.1).

Retention arithmetic (会计档案管理办法 第十四条: periods run from the first day after the
fiscal year ends):

* ``N`` years for fiscal year ``Y`` runs from ``(Y+1)-01-01`` through ``(Y+N)-12-31``; the
  archive is *destroyable from* ``(Y+N+1)-01-01``;
* ``permanent`` never ends (never destroyable);
* ``{years: N, from: COLUMN}`` (固定资产卡片: 5 years after disposal) runs from the day
  after the local date ``d`` of that column through ``d + N years`` (29 Feb → 28 Feb),
  so the archive is destroyable from ``d + N years + 1 day``. While the column is empty
  the period has not started: the archive is not destroyable.

An archive counts as destroyed when its status is ``destroyed`` or ``destroyed_at`` is
set. Findings, one per archive and code:

* ``destroyed_early``: destroyed on a local date before it was destroyable (or never
  destroyable: permanent / period not running); destroyed without a date while even
  the as-of date is before it was destroyable;
* ``destroyed_on_hold``: destroyed while ``hold`` (unsettled debts, open matters);
* ``destruction_undocumented``: destroyed without ``destruction_register_id`` and
  ``destruction_approved_by`` both set (销毁清册 and its approval);
* ``destroyed_before_appraisal``: destroyed with ``appraised_at`` empty or on a later
  local date than ``destroyed_at`` (same day is fine);
* ``due_for_appraisal`` (info): status active (an empty status counts as active),
  destroyable date ≤ as-of date, ``appraised_at`` empty, not on ``hold`` (never destroyable);
* ``unknown_category``: a category the schedule does not list, at
  ``unknown_category_severity``. The other checks still apply to such archives where
  they do not need the period.
"""

from __future__ import annotations

from typing import Any

from ..context import Context, lookup
from ..errors import TableUnavailable
from ..lazy import numpy as np
from ..lazy import pandas as pd
from .base import KINDS, SEVERITY, PolicyKind, Words, blank, concat_findings, emit_where, text

YEARS = {"type": "integer", "minimum": 1, "maximum": 200}

#: 会计档案管理办法 附表1 (企业和其他组织会计档案保管期限表)
ENTERPRISE_SCHEDULE: dict[str, Any] = {
    "原始凭证": 30, "记账凭证": 30, "总账": 30, "明细账": 30, "日记账": 30,
    "固定资产卡片": {"years": 5, "from": "disposed_at"},
    "其他辅助性账簿": 30, "月度、季度、半年度财务会计报告": 10, "年度财务会计报告": "permanent",
    "银行存款余额调节表": 10, "银行对账单": 10, "纳税申报表": 10, "会计档案移交清册": 30,
    "会计档案保管清册": "permanent", "会计档案销毁清册": "permanent", "会计档案鉴定意见书": "permanent",
}


#: archive columns every finding shows (after category, fiscal_year and the retention text)
EVIDENCE = ["destroyable_from", "status", "destroyed_at", "hold", "destruction_register_id",
            "destruction_approved_by", "appraised_at", "disposed_at"]


def _period_text(entry: Any) -> str:
    if entry == "permanent":
        return "permanent"
    if isinstance(entry, dict):
        return f"{entry['years']} years from {entry['from']}"
    return f"{entry} years"


@KINDS.register("retention_period")
class RetentionPeriod(PolicyKind):
    subject = "archive (archive:ARCHIVE_ID)"
    tables = ("archives",)
    codes = {
        "destroyed_early": "destroyed before the retention period ended (or a permanent archive destroyed)",
        "destroyed_on_hold": "destroyed while on hold (unsettled debts or open matters)",
        "destruction_undocumented": "destroyed without destruction_register_id and destruction_approved_by",
        "destroyed_before_appraisal": "destroyed with no appraisal, or appraised after the destruction",
        "due_for_appraisal": "active, retention period over, not yet appraised (info)",
        "unknown_category": "category not in the schedule",
    }
    dat70 = {**dict.fromkeys(("destroyed_early", "destroyed_on_hold", "destruction_undocumented",
                              "destroyed_before_appraisal", "due_for_appraisal"), "安全性/过程安全性"),
             "unknown_category": "真实性/元数据值域符合度"}
    params_schema = {
        "type": "object",
        "properties": {
            "schedule": {
                "type": "object", "minProperties": 1, "default": ENTERPRISE_SCHEDULE,
                "description": "category → years (counted after the fiscal year), 'permanent', or "
                               "{years, from: disposed_at|archived_at|created_at} (counted from that "
                               "date). Default: 会计档案管理办法 附表1, enterprise schedule.",
                "additionalProperties": {"oneOf": [
                    YEARS,
                    {"const": "permanent"},
                    {"type": "object", "additionalProperties": False, "required": ["years", "from"],
                     "properties": {"years": YEARS,
                                    "from": {"enum": ["disposed_at", "archived_at", "created_at"]}}},
                ]},
            },
            "unknown_category_severity": {**SEVERITY, "default": "medium",
                                          "description": "Severity of unknown_category findings."},
        },
    }

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        arc = ctx.table("archives")
        schedule = self.params["schedule"]
        froms = {e["from"] for e in schedule.values() if isinstance(e, dict)}
        missing = sorted(froms - set(arc.columns))
        if missing:
            raise TableUnavailable(f"table 'archives' has no column(s) {', '.join(missing)} named in schedule")
        # only the columns findings show: every finding's rows are taken from this frame
        arc = arc[list(dict.fromkeys(["archive_id", "category", "fiscal_year", *EVIDENCE[1:], *froms]))]
        codes, categories = pd.factorize(arc["category"])
        counts = dict(zip(categories, np.bincount(codes[codes >= 0], minlength=len(categories)), strict=True))
        self.cover(len(arc), "archives", categories={c: int(counts.get(c, 0)) for c in schedule})
        arc = arc.assign(destroyable_from=self._destroyable_from(arc, schedule, codes, categories))
        # status words and categories are a handful of values: each is judged once
        status = Words(arc["status"])
        destroyed = pd.Series(status.where(lambda w: w == "destroyed"), index=arc.index) | arc["destroyed_at"].notna()
        known = pd.Series(np.append([c in schedule for c in categories], False)[codes], index=arc.index)
        active = pd.Series(status.where(lambda w: w in ("active", "")), index=arc.index)
        # an archive on hold is never destroyable (§3), so it is not due for appraisal either
        due = (active & ~destroyed & ~arc["hold"] & arc["destroyable_from"].notna()
               & (arc["destroyable_from"] <= ctx.today) & arc["appraised_at"].isna())
        # the destruction checks look at destroyed archives only: a small share of the store
        gone = arc[destroyed]
        destroyed_on, appraised_on = ctx.local_day(gone["destroyed_at"]), ctx.local_day(gone["appraised_at"])
        dest = gone["destroyable_from"]
        early = known[destroyed] & (dest.isna() | (destroyed_on < dest) | (destroyed_on.isna() & (dest > ctx.today)))
        register_missing = blank(gone["destruction_register_id"])
        approval_missing = blank(gone["destruction_approved_by"])
        checks = [
            (gone, "destroyed_early", early,
             lambda r: _name(r) + _destroyed(r) + "; retention " + r["retention"].fillna("")
             + ", destroyable from " + _until(r)),
            (gone, "destroyed_on_hold", gone["hold"], lambda r: _name(r) + _destroyed(r) + " while on hold"),
            (gone, "destruction_undocumented", register_missing | approval_missing,
             lambda r: _name(r) + _destroyed(r) + " without " + _lacking(register_missing[r.index],
                                                                    approval_missing[r.index])),
            (gone, "destroyed_before_appraisal", appraised_on.isna() | (appraised_on > destroyed_on),
             lambda r: _name(r) + _destroyed(r) + (r["appraised_at"].isna().map(
                 {True: " without an appraisal", False: " before its appraisal on "}) + text(r["appraised_at"]))),
            (arc, "due_for_appraisal", due,
             lambda r: _name(r) + " has been destroyable since " + _until(r) + " and awaits appraisal"),
            (arc, "unknown_category", ~known,
             lambda r: _name(r) + " has a category the retention schedule does not list"),
        ]
        severity = {"due_for_appraisal": "info", "unknown_category": self.params["unknown_category_severity"]}
        periods = {c: _period_text(e) for c, e in schedule.items()}
        parts = [emit_where(frame, mask, code=code, message=message, severity=severity.get(code),
                            subject=lambda r: "archive:" + r["archive_id"].astype("str"),
                            extend=lambda r: r.assign(retention=lookup(r["category"], periods)),
                            evidence=["category", "fiscal_year", "retention", *EVIDENCE])
                 for frame, code, mask, message in checks]
        return concat_findings(parts)

    @staticmethod
    def _destroyable_from(arc: pd.DataFrame, schedule: dict[str, Any], codes: np.ndarray,
                          categories: pd.Index) -> pd.Series:
        """First local date each archive may be destroyed (NaT: not destroyable / unknown);
        ``codes`` and ``categories``: the category column factorised."""
        out = np.full(len(arc), np.datetime64("NaT"), dtype="datetime64[us]")
        # per distinct category, then per row through the codes (-1, no category: the last, NaN)
        years = np.array([*(float(e) if isinstance(e := schedule.get(c), int) else np.nan for c in categories),
                          np.nan])
        first = arc["fiscal_year"].to_numpy(dtype="float64", na_value=np.nan) + years[codes] + 1
        rows = ~np.isnan(first)
        # Jan 1 of the first destroyable year, through numpy's year unit (no per-row parsing)
        out[rows] = (first[rows].astype("int64") - 1970).astype("datetime64[Y]").astype("datetime64[us]")
        counted = {(e["from"], e["years"]): [c for c, x in schedule.items() if x == e]
                   for e in schedule.values() if isinstance(e, dict)}
        for (column, n), names in counted.items():
            rows = np.isin(codes, [i for i, c in enumerate(categories) if c in names])
            start = Context.local_day(arc.loc[rows, column])
            out[rows] = (start + pd.DateOffset(years=n) + pd.Timedelta(days=1)).to_numpy(dtype="datetime64[us]")
        return pd.Series(out, index=arc.index)


def _name(r: pd.DataFrame) -> pd.Series:
    return "archive " + r["archive_id"] + " (" + r["category"] + ", " + r["fiscal_year"].astype("str") + ")"


def _destroyed(r: pd.DataFrame) -> pd.Series:
    return " destroyed " + text(r["destroyed_at"]).replace("", "on an unrecorded date")


def _until(r: pd.DataFrame) -> pd.Series:
    return text(r["destroyable_from"]).replace("", "never (period not running or permanent)")


def _lacking(register_missing: pd.Series, approval_missing: pd.Series) -> pd.Series:
    return (register_missing.map({True: "a destruction register", False: ""})
            + (register_missing & approval_missing).map({True: " and ", False: ""})
            + approval_missing.map({True: "an approver", False: ""}))
