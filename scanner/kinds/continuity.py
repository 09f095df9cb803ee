"""voucher_continuity — voucher numbers without gaps (断号) or repeats (重号).

A voucher number runs from 1 within each account set, fiscal year, month and voucher
type (记/收/付/转): ``keys`` [account_set, fiscal_year, period, voucher_type]. Rows
with a ``voucher_no`` are judged, whatever their status (a destroyed voucher kept
its number). DA/T 70 完整性/连续编号完整性 (连续性元数据项漏号) and 真实性/元数据重复性.

* ``voucher_gap``: one finding per run with missing numbers, the ranges in evidence
  (``missing: ["3-5", "9"]``, the first ``MAX_RANGES``, and their total count);
* ``voucher_duplicate``: one finding per run with numbers used twice, listing them.

Vectorised for 10M archives: each key column is factorised once (periods through
periods.py, each distinct value once), the codes and the number are packed into one
int64, and one sort plus one ``diff`` finds every gap and repeat; only the runs that
have one are turned into text (docs/performance.md has the measurement).
"""

from __future__ import annotations

import itertools

from ..context import Context
from ..errors import TableUnavailable
from ..lazy import numpy as np
from ..lazy import pandas as pd
from .base import KINDS, PolicyKind, blank, concat_findings, emit
from .periods import period_codes

MAX_RANGES = 50  # missing ranges / repeated numbers listed per finding


def _ranges(lo: np.ndarray, hi: np.ndarray) -> list[str]:
    return [str(a) if a == b else f"{a}-{b}" for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]


def _no_run(values: pd.Series, numbered: pd.Series, key: str) -> None:
    """A numbered voucher whose run key is empty belongs to no run: its number cannot be
    judged against any other, and a run named by an empty value would report gaps that are
    not there. That is data the check cannot interpret, so the policy ends in error naming
    the first such row (a yearly record's empty ``period`` is a run of its own: periods.py)."""
    empty = blank(values) & numbered
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise TableUnavailable(
            f"table 'archives' data row {row + 1}, column {key!r}: empty, but the row has a voucher_no; "
            f"every numbered voucher needs its {key} (it decides which numbering run the number is in)")


@KINDS.register("voucher_continuity")
class VoucherContinuity(PolicyKind):
    subject = "vouchers:ACCOUNT_SET/YEAR/PERIOD/TYPE"
    tables = ("archives",)
    codes = {
        "voucher_gap": "voucher numbers missing in a run (断号)",
        "voucher_duplicate": "voucher numbers used twice in a run (重号)",
    }
    dat70 = {"voucher_gap": "完整性/连续编号完整性", "voucher_duplicate": "真实性/元数据重复性"}
    params_schema = {
        "type": "object",
        "properties": {
            "keys": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1,
                     "default": ["account_set", "fiscal_year", "period", "voucher_type"],
                     "description": "archives columns one numbering run is per ('period' is read as a month)."},
            "first_number": {"type": "integer", "default": 1, "description": "Where every run starts."},
        },
    }

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        arc = ctx.table("archives")
        keys = self.params["keys"]
        absent = [k for k in [*keys, "voucher_no"] if k not in arc.columns]
        if absent:
            raise TableUnavailable(f"table 'archives' has no column(s) {', '.join(absent)} (voucher_continuity)")
        numbered = arc["voucher_no"].notna()
        self.cover(int(numbered.sum()), "numbered vouchers")
        if not numbered.any():
            return concat_findings([])
        rows = np.flatnonzero(numbered.to_numpy())
        number = arc["voucher_no"].iloc[rows].to_numpy(dtype="int64")
        codes, uniques = [], []
        for k in keys:
            # coded over the whole column, so that an error names the row of the table; the
            # period of a row without a number is not read
            if k == "period":
                c, u = period_codes(arc[k].where(numbered))
            else:
                _no_run(arc[k], numbered, k)
                c, u = pd.factorize(arc[k], use_na_sentinel=False)
            codes.append(c.astype("int64")[rows])
            uniques.append(u)
        group = np.zeros(len(rows), dtype="int64")
        for c, u in zip(codes, uniques, strict=True):
            group = group * len(u) + c
        first = self.params["first_number"]
        low, span = min(int(number.min()), first), int(number.max()) - min(int(number.min()), first) + 1
        if group.max(initial=0) >= (1 << 62) // span:
            raise TableUnavailable("voucher_continuity: too many runs × numbers to pack (narrow the keys)")
        packed = np.sort(group * span + (number - low))
        g, n = packed // span, packed % span + low
        same = g[1:] == g[:-1]
        step = np.diff(n)
        starts = np.flatnonzero(np.r_[True, ~same])
        # a gap: a step over 1 inside a run, or a run starting above first_number
        gap_at = np.flatnonzero(same & (step > 1))
        lead = starts[n[starts] > first]
        lo = np.r_[n[gap_at] + 1, np.full(len(lead), first)]
        hi = np.r_[n[gap_at + 1] - 1, n[lead] - 1]
        gap_group = np.r_[g[gap_at], g[lead]]
        dup_at = np.flatnonzero(same & (step == 0))
        return concat_findings([
            self._emit("voucher_gap", gap_group, lo, hi, keys, uniques),
            self._emit("voucher_duplicate", g[dup_at], n[dup_at], n[dup_at], keys, uniques),
        ])

    def _emit(self, code: str, group: np.ndarray, lo: np.ndarray, hi: np.ndarray, keys: list[str],
              uniques: list) -> pd.DataFrame:
        if not len(group):
            return concat_findings([])
        order = np.lexsort((lo, group))
        group, lo, hi = group[order], lo[order], hi[order]
        runs, at = np.unique(group, return_index=True)
        bounds = [*at.tolist(), len(group)]
        # the key values of each run, unpacked from the group code
        values, rest = {}, runs.copy()
        for k, u in zip(reversed(keys), reversed(uniques), strict=True):
            values[k] = pd.Series(u).iloc[rest % len(u)].tolist()  # Python scalars for the evidence
            rest //= len(u)
        frame = pd.DataFrame({k: pd.Series(values[k], dtype=object) for k in keys})
        name = frame.astype("str").agg("/".join, axis=1)
        listed, counts = [], []
        for a, b in itertools.pairwise(bounds):
            if code == "voucher_gap":
                counts.append(int((hi[a:b] - lo[a:b] + 1).sum()))
                listed.append(_ranges(lo[a:b][:MAX_RANGES], hi[a:b][:MAX_RANGES]))
            else:
                uniq = np.unique(lo[a:b])
                counts.append(len(uniq))
                listed.append([str(x) for x in uniq[:MAX_RANGES].tolist()])
        counts_s = pd.Series(counts, dtype="int64")
        what = " numbers missing: " if code == "voucher_gap" else " numbers used twice: "
        message = "vouchers " + name + ": " + counts_s.astype("str") + what + pd.Series(
            [", ".join(x) for x in listed], dtype="str")
        evidence = {k: frame[k] for k in keys}
        evidence["missing" if code == "voucher_gap" else "repeated"] = pd.Series(listed, dtype=object)
        evidence["count"] = counts_s
        return emit(frame, code=code, subject="vouchers:" + name, message=message, evidence=evidence)
