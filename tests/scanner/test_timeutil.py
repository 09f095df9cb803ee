"""timeutil.iso_text: the ISO text evidence and messages show for a time column."""

from __future__ import annotations

import pandas as pd

from ledgerguard.scanner.timeutil import iso_text


def test_iso_text_of_local_midnight_a_full_time_and_an_empty_column():
    stamps = pd.to_datetime(["2024-01-01 00:00:00", "2024-01-01 03:04:05", None], format="ISO8601")
    times = pd.Series(stamps).dt.tz_localize("Asia/Shanghai")
    assert iso_text(times).tolist() == ["2024-01-01", "2024-01-01T03:04:05+08:00", None]
    # an empty column is an empty list, not an Arrow error (the kinds format only the rows with findings)
    assert iso_text(times.iloc[:0]).tolist() == []
