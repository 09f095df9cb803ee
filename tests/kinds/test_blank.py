"""``blank`` reads Arrow text's first bytes instead of stripping every value (kinds/base.py):
it must say exactly what ``str.strip() == ""`` says, for every character there is."""

from __future__ import annotations

import pandas as pd

from ledgerguard.scanner.kinds.base import blank


def stripped_empty(s: pd.Series) -> list[bool]:
    """The definition blank() implements: missing, or nothing left after str.strip."""
    return (s.isna() | (s.astype("str").str.strip() == "")).tolist()


def every_character() -> list[str]:
    return [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def test_every_code_point_alone_and_around_text() -> None:
    chars = every_character()
    for values in (chars, [c + "x" for c in chars], [c * 2 for c in chars], ["x" + c for c in chars]):
        s = pd.Series(values, dtype="str")
        assert blank(s).tolist() == stripped_empty(s)


def test_missing_empty_sliced_and_object_values() -> None:
    values = ["", " ", "\t\n", "\u3000", "\xa0", "a ", None, " b", "\u200b", "中", "、", "\u3000x", "", None]
    s = pd.Series(values, dtype="str")
    for part in (s, s.iloc[3:], s.iloc[::-1], s[s.index % 2 == 1], s.iloc[:0],
                 pd.Series(values, dtype=object), pd.Series([None, None], dtype="str")):
        got = blank(part)
        assert got.tolist() == stripped_empty(part)
        assert got.index.equals(part.index)
