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

from ..context import Context, in_halves, positions
from ..errors import TableUnavailable
from ..lazy import numpy as np
from ..lazy import pandas as pd
from ..lazy import pyarrow as pa
from ..timeutil import iso_text, local_day
from .base import FINDING_COLUMNS, KINDS, SEVERITY, PolicyKind, Words, blank, findings_frame

YEARS = {"type": "integer", "minimum": 1, "maximum": 200}

#: 会计档案管理办法 附表1 (企业和其他组织会计档案保管期限表)
ENTERPRISE_SCHEDULE: dict[str, Any] = {
    "原始凭证": 30, "记账凭证": 30, "总账": 30, "明细账": 30, "日记账": 30,
    "固定资产卡片": {"years": 5, "from": "disposed_at"},
    "其他辅助性账簿": 30, "月度、季度、半年度财务会计报告": 10, "年度财务会计报告": "permanent",
    "银行存款余额调节表": 10, "银行对账单": 10, "纳税申报表": 10, "会计档案移交清册": 30,
    "会计档案保管清册": "permanent", "会计档案销毁清册": "permanent", "会计档案鉴定意见书": "permanent",
}


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
        # the checks, as NumPy masks over every archive; the two halves of the table are judged
        # in two threads (Arrow and NumPy release the GIL: the archives are independent rows)
        entries = list(schedule.values())
        today = np.datetime64(ctx.today.date(), "D")
        entry, destroyed, due = (np.concatenate(parts) for parts in zip(
            *in_halves(lambda part: _judge(part, schedule, today), arc), strict=True))
        counts = np.bincount(entry + 1, minlength=len(entries) + 1)[1:]  # (-1, not listed, counted first)
        self.cover(len(arc), "archives", categories=dict(zip(schedule, counts.tolist(), strict=True)))
        known = entry >= 0
        hold = arc["hold"].to_numpy(dtype=bool)
        # the destruction checks look at destroyed archives only: a small share of the store;
        # destroyable dates are computed for those and for the archives with findings only
        gone = np.flatnonzero(destroyed)
        destroyed_on = _local_days(arc["destroyed_at"], gone)
        appraised_on = _local_days(arc["appraised_at"], gone)
        until = _destroyable_from(arc, entries, entry, gone)
        early = known[gone] & (np.isnat(until) | (destroyed_on < until) | (np.isnat(destroyed_on) & (until > today)))
        found = [
            ("destroyed_early", gone[early]),
            ("destroyed_on_hold", gone[hold[gone]]),
            ("destruction_undocumented", gone[(blank(arc["destruction_register_id"].take(gone))
                                               | blank(arc["destruction_approved_by"].take(gone))).to_numpy()]),
            ("destroyed_before_appraisal", gone[np.isnat(appraised_on) | (appraised_on > destroyed_on)]),
            ("due_for_appraisal", np.flatnonzero(due)),
            ("unknown_category", np.flatnonzero(~known)),
        ]
        periods = [*map(_period_text, entries), None]
        at = np.unique(np.concatenate([at for _, at in found]))
        rows = _Rows(arc, at, _destroyable_from(arc, entries, entry, at), entry, periods)
        severity = {"due_for_appraisal": "info", "unknown_category": self.params["unknown_category_severity"]}
        columns: dict[str, list] = {c: [] for c in FINDING_COLUMNS}
        for code, at in found:
            subject, message, evidence = rows.findings(code, at)
            for column, values in (("code", [code] * len(at)), ("subject", subject), ("message", message),
                                   ("evidence", evidence), ("severity", [severity.get(code)] * len(at))):
                columns[column] += values
        none = [None] * len(columns["code"])
        return findings_frame(**{**columns, "person_id": none, "key": none, "messages": none})


def _judge(arc: pd.DataFrame, schedule: dict[str, Any], today: np.datetime64) -> tuple[np.ndarray, ...]:
    """Over archives ``arc``: each one's entry in the schedule (-1: a category it does not list),
    whether it is destroyed, and whether it is due for appraisal."""
    entries = list(schedule.values())
    entry = positions(arc["category"], list(schedule))  # (by one hash lookup)
    destroyed, active = _status(arc["status"])
    destroyed |= arc["destroyed_at"].notna().to_numpy()
    # an archive on hold is never destroyable (§3), so it is not due for appraisal either
    due = (active & ~destroyed & ~arc["hold"].to_numpy(dtype=bool) & arc["appraised_at"].isna().to_numpy()
           & _destroyable_by(arc, entries, entry, today))
    return entry, destroyed, due


def _status(status: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(destroyed, active) by status word: stripped, lower case, empty = active (``Words``).
    The snapshot's closed vocabulary makes nearly every value one of its exact words or empty:
    those are compared byte by byte (~1 ms per million rows, a tenth of hashing them); ``Words``
    judges the others."""
    import pyarrow.compute as pc  # here, not at import: start-up (app/lazy.py)

    if not (isinstance(status.dtype, pd.StringDtype) and status.dtype.storage == "pyarrow"):
        return _by_words(Words(status))
    arr = pa.array(status)

    def equal(word: str) -> pa.Array:  # (Arrow's bitmaps: one byte per row only for the answers)
        return pc.fill_null(pc.equal(arr, word), False)

    destroyed, active = equal("destroyed"), pc.or_(equal("active"), pc.is_null(arr))
    plain = pc.or_(pc.or_(destroyed, active), equal("transferred"))
    destroyed, active = (a.to_numpy(zero_copy_only=False) for a in (destroyed, active))
    if not pc.all(plain).as_py():
        rest = np.flatnonzero(~plain.to_numpy(zero_copy_only=False))
        destroyed[rest], active[rest] = _by_words(Words(status.take(rest)))
    return destroyed, active


def _by_words(status: Words) -> tuple[np.ndarray, np.ndarray]:
    return status.where(lambda w: w == "destroyed"), status.where(lambda w: w in ("active", ""))


def _destroyable_from(arc: pd.DataFrame, entries: list[Any], entry: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """First local date each archive at ``rows`` may be destroyed, as a day array (NaT: not
    destroyable / unknown); ``entry``: each archive's position in the schedule's ``entries``
    (-1: none)."""
    # per schedule entry, then per row through ``entry`` (-1, not listed: the last, NaN)
    years = np.array([*(float(e) if isinstance(e, int) else np.nan for e in entries), np.nan])
    first = arc["fiscal_year"].take(rows).to_numpy(dtype="float64", na_value=np.nan) + years[entry[rows]] + 1
    empty = np.isnan(first)
    year = np.where(empty, 1970, first).astype("int64") - 1970
    low, high = int(year.min(initial=0)), int(year.max(initial=0))
    if high - low <= 10_000:  # Jan 1 of each first destroyable year, once per distinct year
        out = np.arange(low, high + 1).astype("datetime64[Y]").astype("datetime64[D]")[year - low]
    else:  # (absurd fiscal years: no table that wide)
        out = year.astype("datetime64[Y]").astype("datetime64[D]")
    out[empty] = np.datetime64("NaT")
    for at, e in enumerate(entries):
        if isinstance(e, dict):
            mine = np.flatnonzero(entry[rows] == at)
            out[mine] = _from_column(arc, e, rows[mine])
    return out


def _destroyable_by(arc: pd.DataFrame, entries: list[Any], entry: np.ndarray, today: np.datetime64) -> np.ndarray:
    """Which archives are destroyable on ``today`` — ``_destroyable_from(…) <= today`` for every
    archive without a date per archive: for ``N`` years, fiscal year + N + 1 ≤ today's year
    (the first destroyable day is 1 January of that year)."""
    year = int(today.astype("datetime64[Y]").astype("int64")) + 1970
    last = np.array([*(float(year - 1 - e) if isinstance(e, int) else -np.inf for e in entries), -np.inf])
    out = arc["fiscal_year"].to_numpy(dtype="float64", na_value=np.nan) <= last[entry]  # (NaN: never)
    for at, e in enumerate(entries):
        if isinstance(e, dict):
            mine = np.flatnonzero(entry == at)
            out[mine] = _from_column(arc, e, mine) <= today  # (NaT: never)
    return out


def _from_column(arc: pd.DataFrame, e: dict[str, Any], rows: np.ndarray) -> np.ndarray:
    """``{years: N, from: COLUMN}``: N years from the column's local date, the day after
    (29 Feb + N years: 28 Feb), as a day array for ``rows`` (NaT: the period has not started)."""
    start = local_day(arc[e["from"]].take(rows))
    return (start + pd.DateOffset(years=e["years"]) + pd.Timedelta(days=1)).to_numpy(dtype="datetime64[D]")



def _local_days(times: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Local calendar dates of ``times`` at ``rows`` (NaT where empty)."""
    return local_day(times.take(rows)).to_numpy(dtype="datetime64[D]")


NEVER = "never (period not running or permanent)"


class _Rows:
    """The archives with findings (``at``, positions): their texts and evidence read once,
    in plain Python — a few thousand of a million rows, where a pandas call per code and
    text would cost more than the work it does."""

    def __init__(self, arc: pd.DataFrame, at: np.ndarray, destroyable: np.ndarray, entry: np.ndarray,
                 periods: list[str | None]) -> None:
        """``destroyable``: the destroyable dates of the rows ``at``."""
        def values(column: str) -> list:
            return arc[column].array.take(at).to_numpy(dtype=object, na_value=None).tolist()

        # the three time columns' set values (most are empty) as ISO text, in one formatting
        times = ("destroyed_at", "appraised_at", "disposed_at")
        valid = [np.flatnonzero(~arc[c].array.take(at).isna()) for c in times]
        text = iter(iso_text(pd.concat([arc[c].take(at[v]) for c, v in zip(times, valid, strict=True)])).tolist())
        iso = {c: [None] * len(at) for c in times}
        for c, v in zip(times, valid, strict=True):
            for i in v.tolist():
                iso[c][i] = next(text)

        days, spread = np.unique(destroyable, return_inverse=True)  # (a few distinct days)
        self.at = at
        self._given = np.zeros(len(at), dtype=bool)  # whose evidence a finding already holds
        archive, category, year = values("archive_id"), values("category"), values("fiscal_year")
        self.subject = [f"archive:{a}" for a in archive]
        # (an empty category or year was a missing message, NaN in findings.json, before)
        self.name = [f"archive {a} ({c or 'no category'}, {'no fiscal year' if y is None else y})"
                     for a, c, y in zip(archive, category, year, strict=True)]
        self.until = np.array(np.where(np.isnat(days), None, np.datetime_as_string(days)))[spread].tolist()
        self.retention = [periods[e] for e in entry[at].tolist()]
        self.register, self.approver = values("destruction_register_id"), values("destruction_approved_by")
        self.destroyed_at, self.appraised_at = iso["destroyed_at"], iso["appraised_at"]
        self.evidence = [
            {"category": c, "fiscal_year": y, "retention": r, "destroyable_from": u, "status": s, "destroyed_at": d,
             "hold": h, "destruction_register_id": g, "destruction_approved_by": a, "appraised_at": p,
             "disposed_at": x}
            for c, y, r, u, s, d, h, g, a, p, x in zip(
                category, year, self.retention, self.until, values("status"), self.destroyed_at, values("hold"),
                self.register, self.approver, self.appraised_at, iso["disposed_at"], strict=True)]

    def findings(self, code: str, rows: np.ndarray) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        """Subjects, messages and evidence of ``code`` at ``rows`` (positions in the archives).
        Each finding holds its own evidence: an archive's dict goes to its first finding, a copy
        to any other (most archives have one finding: copying all 17.9k at size M cost ~5 ms)."""
        at = np.searchsorted(self.at, rows)
        given = self._given[at].tolist()
        self._given[at] = True
        at = at.tolist()
        message = getattr(self, f"_{code}")
        return ([self.subject[i] for i in at], [message(i) for i in at],
                [self.evidence[i].copy() if again else self.evidence[i] for i, again in zip(at, given, strict=True)])

    def _destroyed(self, i: int) -> str:
        return f"{self.name[i]} destroyed {(self.destroyed_at[i] or '')[:10] or 'on an unrecorded date'}"

    def _destroyed_early(self, i: int) -> str:
        return f"{self._destroyed(i)}; retention {self.retention[i] or ''}, destroyable from {self.until[i] or NEVER}"

    def _destroyed_on_hold(self, i: int) -> str:
        return f"{self._destroyed(i)} while on hold"

    def _destruction_undocumented(self, i: int) -> str:
        lacking = [w for w, v in (("a destruction register", self.register[i]), ("an approver", self.approver[i]))
                   if v is None or not v.strip()]
        return f"{self._destroyed(i)} without {' and '.join(lacking)}"

    def _destroyed_before_appraisal(self, i: int) -> str:
        on = self.appraised_at[i]
        return f"{self._destroyed(i)} " + (f"before its appraisal on {on[:10]}" if on else "without an appraisal")

    def _due_for_appraisal(self, i: int) -> str:
        return f"{self.name[i]} has been destroyable since {self.until[i] or NEVER} and awaits appraisal"

    def _unknown_category(self, i: int) -> str:
        return f"{self.name[i]} has a category the retention schedule does not list"
