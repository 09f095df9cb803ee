"""The gate's row index beside the snapshot (scanner/gatecache.py ``RowIndex``): the sorted
columns the gate cuts its region by. Used when its key matches; a stale, foreign, damaged or
truncated file is never trusted — the gate then finds the rows by hashing and writes the same
document as without the cache, and the file is written again.

"Used" is proven by planting: an index of the right key whose entry for the accounts' ids
leaves out the changed account (its CRC-32 made to match) makes the gate believe the account
does not exist — an input error at the change's line — exactly when the gate trusts the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_gate_cache import _gate, demo  # noqa: F401 (a fixture)
from test_incremental import _comparable

from ledgerguard.scanner import gatecache
from ledgerguard.scanner.errors import InputError
from ledgerguard.scanner.gate import relevant
from ledgerguard.scanner.gatecache import GateCache, RowIndex, block_crcs
from ledgerguard.scanner.policy import all_policies, load_packs


def _index_path(snap, now) -> Path:
    policies = [p for p in all_policies(load_packs(None)) if relevant(p)]
    return GateCache(snap, policies, now.isoformat()).path.with_suffix(".index")


def _parse(path: Path) -> tuple[dict, bytes]:
    """(header, data) of an index file as RowIndex writes it."""
    raw = path.read_bytes()
    assert raw[:8] == b"LGGIDX01"
    size = int.from_bytes(raw[8:16], "little")
    return json.loads(raw[16:16 + size]), raw[16 + size:]


def _entry(header: dict, data: bytes, name: str) -> tuple[bytes, bytes]:
    head = header["entries"][name]
    start, count, width = head["offset"], head["count"], head["width"]
    blob = data[start:start + count * (width + 4)]
    return blob[:count * width], blob[count * width:]


def _unparse(path: Path, header: dict, data: bytes) -> None:
    text = json.dumps({**header, "data": len(data)}).encode()
    path.write_bytes(b"LGGIDX01" + len(text).to_bytes(8, "little") + text + data)


def _replace(header: dict, data: bytes, name: str, keys: bytes, rows: bytes,
             head: dict | None = None) -> tuple[dict, bytes]:
    """The file with entry ``name`` replaced by ``keys``/``rows`` (its CRC-32s made to match:
    a file the checksums cannot tell from a good one)."""
    old = header["entries"][name]
    blob = keys + rows
    new_data = data[:old["offset"]] + blob + data[old["offset"] + old["count"] * (old["width"] + 4):]
    shift = len(blob) - old["count"] * (old["width"] + 4)
    entries = {n: ({**e, "offset": e["offset"] + shift} if e["offset"] > old["offset"] else e)
               for n, e in header["entries"].items()}
    crcs = block_crcs(np.frombuffer(keys, dtype=f"S{old['width']}"))
    entries[name] = {**old, "count": len(rows) // 4, "crc32": crcs, **(head or {})}
    return {**header, "entries": entries}, new_data


def _without_account(path: Path, account_id: str) -> tuple[dict, bytes]:
    """The index with the rows of ``account_id`` left out of accounts.account_id."""
    header, data = _parse(path)
    keys, rows = _entry(header, data, "accounts.account_id")
    width = header["entries"]["accounts.account_id"]["width"]
    pairs = [(keys[i:i + width], rows[j:j + 4]) for i, j in zip(range(0, len(keys), width), range(0, len(rows), 4),
                                                                   strict=True)]
    kept = [(k, r) for k, r in pairs if k.rstrip(b"\0") != account_id.encode()]
    assert len(kept) < len(pairs)
    return _replace(header, data, "accounts.account_id", b"".join(k for k, _ in kept), b"".join(r for _, r in kept))


def _valid(path: Path, snap, now) -> bool:
    header, _ = _parse(path)
    policies = [p for p in all_policies(load_packs(None)) if relevant(p)]
    return header["key"] == json.dumps(GateCache(snap, policies, now.isoformat()).key, sort_keys=True)


@pytest.fixture()
def indexed(demo):  # noqa: F811 (the fixture of test_gate_cache)
    snap, now, changes, _ = demo
    expected = _comparable(_gate(snap, now, changes))
    assert _comparable(_gate(snap, now, changes, cache=True)) == expected  # writes the index
    path = _index_path(snap, now)
    assert path.is_file() and _valid(path, snap, now)
    account = next(c.account for c in changes if c.account and c.action != "create")
    return snap, now, changes, expected, path, account


def test_a_matching_index_is_used(indexed):
    snap, now, changes, expected, path, (_, account_id) = indexed
    assert _comparable(_gate(snap, now, changes, cache=True)) == expected  # read, not written again
    _unparse(path, *_without_account(path, account_id))
    with pytest.raises(InputError, match="unknown account"):
        _gate(snap, now, changes, cache=True)  # trusted: the account is not found
    _gate(snap, now, changes)  # without the cache: not read


def test_a_stale_or_foreign_index_is_not_used(indexed):
    snap, now, changes, expected, path, (_, account_id) = indexed
    header, data = _without_account(path, account_id)
    # another snapshot's, another as-of's or another version's file under this key's name
    for key in (json.dumps({"as_of": "1999-01-01"}), header["key"].replace(now.isoformat(), "1999-01-01")):
        _unparse(path, {**header, "key": key}, data)
        assert _comparable(_gate(snap, now, changes, cache=True)) == expected
        assert _valid(path, snap, now)  # written again with its own key
    # an entry written for a table of another length (the snapshot's table is not the one indexed)
    good_header, good_data = _parse(path)
    keys, rows = _entry(*_without_account(path, account_id), "accounts.account_id")
    entry = good_header["entries"]["accounts.account_id"]
    _unparse(path, *_replace(good_header, good_data, "accounts.account_id", keys, rows, {"rows": entry["rows"] - 1}))
    assert _comparable(_gate(snap, now, changes, cache=True)) == expected


@pytest.mark.parametrize("damage", ["flipped", "truncated", "empty", "header", "not json", "rows elsewhere"])
def test_a_damaged_or_truncated_index_is_not_used_and_is_written_again(indexed, damage):
    snap, now, changes, expected, path, (_, account_id) = indexed
    raw = path.read_bytes()
    header, data = _parse(path)
    if damage == "flipped":  # a byte of each of the accounts' ids (so any search reads one): a CRC-32 differs
        head = header["entries"]["accounts.account_id"]
        start = len(raw) - len(data) + head["offset"]
        flipped = bytearray(raw)
        for at in range(start, start + head["count"] * head["width"], head["width"]):
            flipped[at] ^= 0x20
        path.write_bytes(bytes(flipped))
    elif damage == "truncated":
        path.write_bytes(raw[:-100])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "header":
        path.write_bytes(raw[:20])
    elif damage == "not json":
        path.write_bytes(b"LGGIDX01" + (5).to_bytes(8, "little") + b"{nope" + data)
    else:  # the changed account's rows point at other rows, CRC-32 made to match: the rows found are checked
        keys, rows = _entry(header, data, "accounts.account_id")
        width = header["entries"]["accounts.account_id"]["width"]
        count = len(rows) // 4
        at = [i for i in range(count) if keys[i * width:(i + 1) * width].rstrip(b"\0") == account_id.encode()]
        other = (at[0] + 1) % count
        moved = bytearray(rows)
        for i in at:
            moved[i * 4:(i + 1) * 4] = rows[other * 4:(other + 1) * 4]
        _unparse(path, *_replace(header, data, "accounts.account_id", keys, bytes(moved)))
    damaged = path.read_bytes()
    assert _comparable(_gate(snap, now, changes, cache=True)) == expected
    assert path.read_bytes() != damaged and _valid(path, snap, now)  # found damaged, written again
    assert _comparable(_gate(snap, now, changes, cache=True)) == expected  # and used


def test_lookups_by_the_index_and_by_hashing_agree(indexed):
    """Every indexed column, for values present (several rows each), absent, empty and longer
    than the column's widest value: the same rows, in the same order, with and without the file."""
    snap, now, *_ = indexed
    columns = gatecache_columns()
    policies = [p for p in all_policies(load_packs(None)) if relevant(p)]
    cache = GateCache(snap, policies, now.isoformat())
    indexed_rows, hashed_rows = RowIndex(snap.tables, columns, cache), RowIndex(snap.tables)
    checked = 0
    for name, cols in columns.items():
        for column in cols:
            if name not in snap.tables or column not in snap.tables[name].columns:
                continue
            distinct = list(snap.tables[name][column].dropna().astype("str").unique())
            for present in (distinct[:7], distinct[:gatecache.SEARCHED + 100]):  # a few; many (NumPy's search)
                values = {*present, "no-such-value", "", "x" * 500, *(v + "\0" for v in present[:1])}
                got = indexed_rows.positions(name, column, values)
                assert got.tolist() == hashed_rows.positions(name, column, values).tolist(), (name, column)
                checked += bool(len(got))
    assert checked >= 8
    assert not gatecache_hashed(indexed_rows, columns, snap)  # every one answered from the file


def gatecache_columns() -> dict[str, tuple[str, ...]]:
    from ledgerguard.scanner.gate import LOOKED_UP

    return LOOKED_UP


def gatecache_hashed(rows: RowIndex, columns: dict, snap) -> list[tuple[str, str]]:
    """The indexed columns ``rows`` holds no usable entry for."""
    return [(n, c) for n, cols in columns.items() for c in cols
            if n in snap.tables and c in snap.tables[n].columns and gatecache._indexable(snap.tables[n][c])
            and rows._entry(n, c) is None]


def test_no_index_where_the_folder_cannot_be_written(demo, monkeypatch):  # noqa: F811
    """Nothing is sorted when it could not be kept (the sorting would cost more than hashing)."""
    snap, now, changes, _ = demo
    folder = Path(snap.path) / gatecache.FOLDER
    folder.write_text("a file where the folder would go", encoding="utf-8")
    monkeypatch.setattr(gatecache, "_sorted_column", lambda values: pytest.fail("sorted a column"))
    assert _comparable(_gate(snap, now, changes, cache=True)) == _comparable(_gate(snap, now, changes))
