"""Time semantics of SPEC §5.1, in one place.

Every time column becomes tz-aware ``datetime64[us, <snapshot tz>]``: bare dates are
00:00 local, naive timestamps are local, values with an offset are converted.
Day limits compare *local calendar dates* (``local_day``), hour limits compare instants.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .lazy import numpy as np
from .lazy import pandas as pd
from .lazy import pyarrow as pa

_OFFSET = r"[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_DATE_OR_TIME = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
#: a value without an offset is this, whole: ``…T00:00:00+0`` is neither (pandas would read it as aware)
_NAIVE = _DATE_OR_TIME + "$"


def clock() -> str:
    """Now on the wall clock, for provenance (a scan's started_at / finished_at)."""
    return dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")


def in_zone(text: str | None, tz: str) -> str | None:
    """An ISO 8601 instant re-expressed in ``tz`` with its offset (provenance shows every
    time in the snapshot's zone); a bare date or unparsable text is returned as given."""
    if not text or len(text) <= 10:
        return text
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.astimezone(ZoneInfo(tz)).isoformat(timespec="seconds")


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r}") from None
    return name


def _matches(text: pd.Series, pattern: str) -> pd.Series:
    """Regex test of each value in Arrow's RE2 (per-value Python regex is the slow path)."""
    import pyarrow.compute as pc  # here, not at import: start-up (app/lazy.py)

    try:
        arr = pa.array(text.array)  # zero-copy for Arrow-backed strings
    except (TypeError, pa.ArrowInvalid):
        arr = pa.array(text.to_numpy(dtype=object, na_value=None), type=pa.string())
    hits = pc.match_substring_regex(arr, pattern).fill_null(False)
    return pd.Series(hits.to_numpy(zero_copy_only=False), index=text.index)


def parse_times(values: pd.Series, tz: str) -> tuple[pd.Series, pd.Series]:
    """Parse a column of ISO 8601 dates/timestamps; returns (times, bad_mask).

    Vectorised: values with an offset and naive ones are parsed in two batches.
    """
    dtype = f"datetime64[us, {tz}]"
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert(tz).astype(dtype), pd.Series(False, index=values.index)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        out = values.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
        return out.astype(dtype), pd.Series(False, index=values.index)
    text = values.astype("str").str.strip()
    present = values.notna() & (text != "")
    shaped = _matches(text, _DATE_OR_TIME)
    has_offset = present & _matches(text, _OFFSET) & shaped
    naive = present & ~has_offset & _matches(text, _NAIVE)
    out = pd.Series(pd.NaT, index=values.index, dtype=dtype)
    if naive.any():
        parsed = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
        out[naive] = parsed.dt.tz_localize(
            tz, ambiguous=np.zeros(int(naive.sum()), dtype=bool), nonexistent="shift_forward"
        ).astype(dtype)
    if has_offset.any():
        parsed = pd.to_datetime(text[has_offset], format="ISO8601", utc=True, errors="coerce")
        out[has_offset] = parsed.dt.tz_convert(tz).astype(dtype)
    bad = present & out.isna()
    return out, bad


def parse_instant(text: str | dt.date | dt.datetime, tz: str) -> pd.Timestamp:
    """One date or timestamp as a tz-aware instant (a bare date is 00:00 local)."""
    times, bad = parse_times(pd.Series([str(text)], dtype="str"), tz)
    if bad.iloc[0] or pd.isna(times.iloc[0]):
        raise ValueError(f"{text!r} is not an ISO 8601 date or timestamp")
    return times.iloc[0]


def local_day(times: pd.Series) -> pd.Series:
    """The local calendar date of each instant, as naive midnight (exact day arithmetic, no DST)."""
    return times.dt.tz_localize(None).dt.normalize()


def days_since(times: pd.Series, today: pd.Timestamp) -> pd.Series:
    """Age in whole days: as-of date − local date of the value (NaN where empty)."""
    return (today - local_day(times)).dt.days


def iso(value: object) -> str | None:
    """JSON-friendly text of a scalar from a typed frame (dates stay short when at midnight)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None or (value.hour, value.minute, value.second, value.microsecond) == (
            0,
            0,
            0,
            0,
        ):
            return value.date().isoformat() if value == value.normalize() else value.isoformat()
        return value.isoformat()
    return str(value)


def iso_text(times: pd.Series) -> pd.Series:
    """Vectorised ISO 8601 text of a time column: a date at local midnight, else a full
    timestamp with offset (``+08:00``); None where empty.

    Arrow's C++ cast does the formatting and offsets are formatted once per distinct
    value (a zone has few): ~10× faster than ``Series.dt.strftime`` on tz-aware data.
    """
    import pyarrow.compute as pc  # here, not at import: start-up (app/lazy.py)

    aware = isinstance(times.dtype, pd.DatetimeTZDtype)
    local = times.dt.tz_localize(None) if aware else times
    vals = local.to_numpy(dtype="datetime64[s]")
    full = pc.replace_substring(pc.cast(pa.array(vals), pa.string()), " ", "T")
    day = pc.utf8_slice_codeunits(full, 0, 10)
    if aware:
        utc = times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[s]")
        offset = np.where(np.isnat(vals), 0, (vals - utc).astype("int64"))
        codes, inverse = np.unique(offset, return_inverse=True)
        labels = pa.array([f"{'-' if o < 0 else '+'}{abs(o) // 3600:02d}:{abs(o) % 3600 // 60:02d}"
                           for o in codes.tolist()], type=pa.string())  # (typed: an empty column has none)
        full = pc.binary_join_element_wise(full, labels.take(pa.array(inverse)), "")
    midnight = (vals - vals.astype("datetime64[D]")).astype("int64") == 0
    out = pc.if_else(pa.array(midnight), day, full)
    return pd.Series(out.to_numpy(zero_copy_only=False), index=times.index, dtype=object)
