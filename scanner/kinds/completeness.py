"""archive_completeness — every required period archived, and archive ids (档号) sound.

会计档案管理办法 第六条 lists what must be archived (vouchers, books, reports, others);
DA/T 94-2022 asks for them per fonds and fiscal year; DA/T 70 checks their
completeness (完整性/内容数据完整性) and the ids (真实性/档号规范性, 元数据重复性).

* ``period_missing``: for every group (``group_by``, default fonds × account_set) and
  every fiscal year from the group's first to its last archived year (or the listed
  ``years``), each ``required`` entry ``{category, every: month|quarter|year}`` must
  have an archive of that category in each period (``archives.period``, parsed by
  periods.py). One finding per missing (group, year, category, period), subject
  ``period:GROUP/YEAR/CATEGORY/PERIOD``. Archives of every status count: a destroyed
  archive was archived.
* ``id_duplicate``: one archive id on several rows (one finding per id, with the count);
* ``id_pattern``: an id that does not match ``id_patterns`` for its fonds (a regex,
  full match; ``"*"`` for fonds without their own).
"""

from __future__ import annotations

import re
from typing import Any

from ..context import Context, glob_mask, lookup, repeated
from ..errors import TableUnavailable
from ..lazy import numpy as np
from ..lazy import pandas as pd
from .base import KINDS, PolicyKind, concat_findings, emit, emit_where, text
from .integrity import archive_subject
from .periods import LABELS, period_codes


@KINDS.register("archive_completeness")
class ArchiveCompleteness(PolicyKind):
    subject = "period:GROUP/YEAR/CATEGORY/PERIOD; archive:ARCHIVE_ID"
    tables = ("archives",)
    codes = {
        "period_missing": "no archive of a required category for a fiscal year's period",
        "id_duplicate": "an archive id (档号) used on several rows",
        "id_pattern": "an archive id that does not match its fonds' pattern",
    }
    dat70 = {"period_missing": "完整性/内容数据完整性", "id_duplicate": "真实性/元数据重复性",
             "id_pattern": "真实性/档号规范性"}
    params_schema = {
        "type": "object",
        "properties": {
            "required": {
                "type": "array", "default": [],
                "items": {"type": "object", "required": ["category", "every"], "additionalProperties": False,
                          "properties": {"category": {"type": "string", "minLength": 1},
                                         "every": {"enum": list(LABELS)}}},
                "description": "Categories (globs) and how often each must be archived.",
            },
            "group_by": {"type": "array", "items": {"type": "string", "minLength": 1},
                         "default": ["fonds", "account_set"],
                         "description": "archives columns that each have their own complete set."},
            "years": {"type": "array", "items": {"type": "integer"}, "default": [],
                      "description": "Fiscal years required; empty: each group's first to last archived year."},
            "id_patterns": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1},
                            "default": {},
                            "description": "fonds → regex an archive id must fully match ('*': any other fonds)."},
        },
    }

    @classmethod
    def check(cls, params: dict[str, Any]) -> list[tuple[tuple, str]]:
        out = []
        for fonds, pattern in (params.get("id_patterns") or {}).items():
            try:
                re.compile(pattern)
            except re.error as exc:
                out.append((("id_patterns", fonds), f"not a regular expression: {exc}"))
        return out

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        arc = ctx.table("archives")
        missing = [c for c in self.params["group_by"] if c not in arc.columns]
        if missing:
            raise TableUnavailable(f"table 'archives' has no column(s) {', '.join(missing)} named in group_by")
        categories = pd.Series(pd.unique(arc["category"].dropna()), dtype=object)
        self.cover(len(arc), "archives",
                   required={r["category"]: int(glob_mask(categories, [r["category"]]).sum())
                             for r in self.params["required"]})
        return concat_findings([self._periods(arc), *self._ids(arc)])

    def _periods(self, arc: pd.DataFrame) -> pd.DataFrame:
        """Missing (group, year, category, period) as integer keys: each key column and the
        period column are coded once, and each row's (group, year, category, period) packs
        into one integer cell. The rules look at the distinct cells only (a few thousand of
        the 10M rows at bench size L: 4 rules × 4 passes over every row cost ~0.7 CPU-s
        there); each rule's required grid is one ``np.isin`` over its present keys; text is
        built for the missing ones only."""
        rules = self.params["required"]
        if not rules or arc.empty:
            return concat_findings([])
        keys = self.params["group_by"]
        group = np.zeros(len(arc), dtype="int64")
        uniques = []
        for k in keys:
            c, u = pd.factorize(arc[k], use_na_sentinel=False)
            group = group * len(u) + c
            uniques.append(u)
        fy = arc["fiscal_year"]
        known = fy.notna().to_numpy()
        year = fy.to_numpy(dtype="float64", na_value=np.nan)[known].astype("int64")
        seen = [*self.params["years"], *([int(year.min()), int(year.max())] if len(year) else [])]
        if not seen:
            return concat_findings([])
        y0, span = min(seen), max(seen) - min(seen) + 1  # year offsets pack into the keys
        group = group[known]
        req_group, req_year = self._years(group, year)
        if any(r["every"] != "year" for r in rules):
            pcode, plabels = period_codes(arc["period"])
        else:
            pcode, plabels = np.zeros(len(arc), dtype="int64"), np.array(["Y"], dtype=object)
        category, categories = pd.factorize(arc["category"])  # -1: empty
        ncat, nper = len(categories) + 1, len(plabels)
        cell = ((group * span + (year - y0)) * ncat + category[known] + 1) * nper + pcode[known]
        cell, period = np.divmod(pd.unique(cell), nper)
        cell, category = np.divmod(cell, ncat)  # cell: group × span + year offset
        missing = []
        for rule in rules:
            labels = LABELS[rule["every"]]
            hit = np.append(False, glob_mask(pd.Series(categories), [rule["category"]]).to_numpy())[category]
            if rule["every"] == "year":
                pos = np.zeros(len(cell), dtype="int64")
            else:  # a monthly report of a quarter's last month does not count for the quarter
                lut = np.array([labels.index(x) if x in labels else -1 for x in plabels], dtype="int64")
                pos = lut[period]
                hit &= pos >= 0
            present = cell[hit] * len(labels) + pos[hit]
            req = ((req_group * span + (req_year - y0))[:, None] * len(labels) + np.arange(len(labels))).ravel()
            gone = req[~np.isin(req, present)]
            missing.append((rule["category"], labels, gone))
        frames = []
        for category, labels, gone in missing:
            if not len(gone):
                continue
            label, rest = gone % len(labels), gone // len(labels)
            frame = {"fiscal_year": (rest % span + y0).astype("int64")}
            rest //= span
            for k, u in zip(reversed(keys), reversed(uniques), strict=True):
                frame[k] = pd.Series(u, dtype=object).iloc[rest % len(u)].fillna("").astype("str").to_numpy()
                rest //= len(u)
            frame.update(category=category, period=np.array(labels, dtype=object)[label])
            frames.append(pd.DataFrame(frame))
        if not frames:
            return concat_findings([])
        gaps = pd.concat(frames, ignore_index=True)
        name = gaps[keys].agg("/".join, axis=1) if keys else pd.Series("", index=gaps.index)
        where = name + "/" + gaps["fiscal_year"].astype("str") + "/" + gaps["category"] + "/" + gaps["period"]
        return emit(gaps, code="period_missing", subject="period:" + where,
                    message="no " + gaps["category"] + " archived for " + where,
                    evidence=[*keys, "fiscal_year", "category", "period"])

    def _years(self, group: np.ndarray, year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every (group code, fiscal year) that must be complete: the listed ``years``, else
        each group's first to last archived year."""
        at, groups = pd.factorize(group, sort=True)  # each row's position among the sorted groups
        if self.params["years"]:
            listed = np.array(self.params["years"], dtype="int64")
            return np.repeat(groups, len(listed)), np.tile(listed, len(groups))
        first = np.full(len(groups), year.max(initial=0))
        last = np.full(len(groups), year.min(initial=0))
        np.minimum.at(first, at, year)
        np.maximum.at(last, at, year)
        lengths = last - first + 1
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return np.repeat(groups, lengths), np.repeat(first, lengths) + offsets

    def _ids(self, arc: pd.DataFrame) -> list[pd.DataFrame]:
        ids = arc["archive_id"]
        dup, first = repeated(ids)
        parts = []
        if dup.any():
            counts = ids[dup].value_counts()
            rows = arc[first]
            n = ids[rows.index].map(counts)
            parts.append(emit(rows, code="id_duplicate", subject=archive_subject(rows),
                              message="archive id " + text(rows["archive_id"]) + " is used on " + n.astype("str")
                              + " rows", evidence={"rows": n, "fonds": rows["fonds"]}))
        patterns = self.params["id_patterns"]
        if patterns:
            fonds = text(arc["fonds"])
            pattern = lookup(fonds, {f: patterns.get(f, patterns.get("*")) for f in pd.unique(fonds)})
            bad = pd.Series(False, index=arc.index)
            for pat in pd.unique(pattern.dropna()):
                sel = pattern == pat
                bad[sel] = ~text(ids[sel]).str.fullmatch(pat)
            parts.append(emit_where(arc.assign(pattern=pattern), bad, code="id_pattern", subject=archive_subject,
                                    message=lambda r: "archive id " + text(r["archive_id"])
                                    + " does not match its fonds' pattern " + text(r["pattern"]),
                                    evidence=["fonds", "pattern"]))
        return parts
