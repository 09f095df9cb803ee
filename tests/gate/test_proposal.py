"""The proposed rows as the snapshot types them (scanner/proposal.py ``_append``): a column
that every new row leaves empty is not parsed but filled as the snapshot fills an absent
column — which must give exactly the frame that typing the empty values gives."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from ledgerguard.scanner.proposal import _append, empty_table
from ledgerguard.scanner.snapshot import TABLES, VOCABULARIES, type_table

TZ = "Asia/Shanghai"
#: a value for each column type the tables the gate appends to hold
_VALUES = {"time": "2026-11-23T10:00:00+08:00", "bool": "true", "int": "7", "digest": "ab" * 32}


def _record(name: str, filled: set[str], n: int) -> dict[str, str | None]:
    row = {c.name: (_VALUES.get(c.type, f"x{n}") if c.name in filled or c.required else None) for c in TABLES[name]}
    for column, words in VOCABULARIES.get(name, {}).items():  # a closed column: one of its words
        if row.get(column) is not None:
            row[column] = next(iter(words))
    return row


@pytest.mark.parametrize("name", ["grants", "accounts", "changes", "identities"])
@pytest.mark.parametrize("filled", ["required only", "every column"])
def test_empty_columns_left_out_type_as_typed_empty_values(name, filled):
    columns = {c.name for c in TABLES[name]} if filled == "every column" else set()
    records = [_record(name, columns, 1), _record(name, set(), 2)]
    table = empty_table(name, TZ)
    got = _append(name, table, records, TZ, {})
    typed = type_table(name, pd.DataFrame(records, dtype="str"), TZ, name)
    expected = pd.concat([table, typed[table.columns]], ignore_index=True)
    assert_frame_equal(got, expected)
