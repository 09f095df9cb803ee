"""Accounting periods as archives record them: one parser shared by the completeness kinds.

``archives.period`` holds the period within ``fiscal_year``: a month (``3``, ``03``,
``M03``, ``2025-03``, ``2025年3月``), a quarter (``Q1``, ``2025-Q1``, ``第1季度``), or
nothing or the bare year (``2025``, ``2025年度``) for a yearly record such as a ledger.
Each distinct value is parsed once (periods repeat millions of times), to a label
``M01``…``M12``, ``Q1``…``Q4`` or ``Y``.
A value that is none of these is an error naming the row and the value, never a guess.
"""

from __future__ import annotations

import re

from ..errors import TableUnavailable
from ..lazy import numpy as np
from ..lazy import pandas as pd

_PERIOD = re.compile(
    r"^(?:\d{4}\s*[-/.年]?\s*)?(?:"
    r"(?:M|m)?(?P<m>0?[1-9]|1[0-2])\s*月?"
    r"|(?:Q|q|第)\s*(?P<q>[1-4一二三四])\s*(?:季度|季)?"
    r")$"
)
_YEAR = re.compile(r"^\d{4}\s*(?:年度?)?$")  # a yearly record may name its year
_CN = {"一": "1", "二": "2", "三": "3", "四": "4"}
LABELS = {"month": [f"M{m:02d}" for m in range(1, 13)], "quarter": [f"Q{q}" for q in range(1, 5)], "year": ["Y"]}


def parse_one(value: object) -> str | None:
    """The label of one period value; None when it cannot be read."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "Y"
    text = str(value).strip()
    if not text or _YEAR.match(text):
        return "Y"
    m = _PERIOD.match(text)
    if not m:
        return None
    if m.group("m"):
        return f"M{int(m.group('m')):02d}"
    return "Q" + _CN.get(m.group("q"), m.group("q"))


def period_codes(periods: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, the distinct labels): each distinct value parsed once, no text per row."""
    codes, uniques = pd.factorize(periods, use_na_sentinel=True)
    parsed = [parse_one(u) for u in uniques]
    bad = [i for i, p in enumerate(parsed) if p is None]
    if bad:
        first = int(np.flatnonzero(codes == bad[0])[0])
        raise TableUnavailable(
            f"table 'archives' data row {first + 1}, column 'period': {uniques[bad[0]]!r} is not a month "
            "(3, 03, M03, 2025-03), a quarter (Q1, 2025-Q1) or empty (a yearly record)")
    labels, inverse = np.unique(np.array([*parsed, "Y"], dtype=object), return_inverse=True)
    return inverse[codes], labels  # the NA sentinel (-1) picks the last entry: "Y"


def period_labels(periods: pd.Series) -> pd.Series:
    """Every row's period label."""
    codes, labels = period_codes(periods)
    return pd.Series(labels[codes], index=periods.index, dtype="str")
