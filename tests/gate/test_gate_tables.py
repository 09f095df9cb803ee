"""The gate's typed table copies beside the snapshot (scanner/gatetables.py): the same frames as
``read_snapshot``, used when their key matches, never when stale, foreign or corrupt.

"Used" is proven by poisoning: a copy rewritten under its own key with one value changed
shows that value in the gate's snapshot when — and only when — the gate trusts the copy.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from test_incremental import _comparable, _demo, _generated, _random_changes

from ledgerguard.scanner import gatetables
from ledgerguard.scanner.gate import gate_tables
from ledgerguard.scanner.gatecache import FOLDER
from ledgerguard.scanner.gatetables import read_gate_snapshot
from ledgerguard.scanner.policy import load_packs
from ledgerguard.scanner.snapshot import read_snapshot

ONLY = None  # the gate's tables of the built-in pack, set once


def _only() -> set[str]:
    global ONLY
    ONLY = ONLY or gate_tables(load_packs(None))
    return ONLY


def _copies(root: Path) -> dict[str, Path]:
    return {p.name.rsplit("-", 1)[0][len("table-"):]: p for p in sorted((root / FOLDER).glob("table-*.arrow"))}


def _same(a, b) -> None:
    assert list(a.tables) == list(b.tables)
    for name in a.tables:
        assert a.tables[name].dtypes.equals(b.tables[name].dtypes), name
        assert a.tables[name].index.equals(b.tables[name].index), name
        assert a.tables[name].equals(b.tables[name]), name
    assert (a.table_hashes, a.rows, a.timezone, a.unusable, a.sources) == \
        (b.table_hashes, b.rows, b.timezone, b.unusable, b.sources)


@pytest.mark.parametrize("make", [_demo, _generated], ids=["demo-csv", "generated-parquet"])
def test_copies_give_exactly_the_frames_read_snapshot_gives(make, tmp_path):
    root, _ = make(tmp_path / "snap")
    plain = read_snapshot(root, only=_only())
    first = read_gate_snapshot(root, _only())  # reads, writes the copies
    assert set(_copies(root)) == set(plain.tables)
    second = read_gate_snapshot(root, _only())  # from the copies
    _same(first, plain)
    _same(second, plain)


def _poison(path: Path, column: str, value: str) -> None:
    """Rewrite a copy under its own key with ``column``'s first value changed."""
    with pa.OSFile(str(path)) as fh:
        table = pa.ipc.open_file(fh).read_all()
    meta = table.schema.metadata
    values = table.column(column).to_pylist()
    values[0] = value
    table = table.set_column(table.schema.get_field_index(column), column, pa.array(values, table.column(column).type))
    with pa.OSFile(str(path), "wb") as fh, pa.ipc.new_file(fh, table.schema.with_metadata(meta)) as writer:
        writer.write_table(table)


def test_a_matching_copy_is_used_and_a_stale_foreign_or_corrupt_one_is_not(tmp_path):
    root, _ = _demo(tmp_path / "snap")
    read_gate_snapshot(root, _only())
    path = _copies(root)["identities"]
    _poison(path, "name", "planted")
    assert read_gate_snapshot(root, _only()).tables["identities"]["name"].iloc[0] == "planted"  # trusted
    assert read_snapshot(root).tables["identities"]["name"].iloc[0] != "planted"
    assert read_gate_snapshot(root, _only(), cache=False).tables["identities"]["name"].iloc[0] != "planted"

    # another key in the file (another table file, timezone or version): foreign, rewritten
    with pa.OSFile(str(path)) as fh:
        table = pa.ipc.open_file(fh).read_all()
    with pa.OSFile(str(path), "wb") as fh, pa.ipc.new_file(
            fh, table.schema.with_metadata({b"ledgerguard.gate.table": b'{"sha256": "0"}'})) as writer:
        writer.write_table(table)
    assert read_gate_snapshot(root, _only()).tables["identities"]["name"].iloc[0] != "planted"
    assert _copies(root)["identities"] == path and path.stat().st_size > 0  # rewritten

    for damage in (b"", b"ARROW1 not arrow", path.read_bytes()[:200]):
        path.write_bytes(damage)
        _same(read_gate_snapshot(root, _only()), read_snapshot(root, only=_only()))
        assert len(path.read_bytes()) > 200  # rewritten

    # the table's file changes: its copy is another key; the old copy is removed on writing
    _poison(path, "name", "planted")
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    file = root / manifest["tables"]["identities"]["file"]
    text = file.read_text(encoding="utf-8")
    file.write_text(text.replace("\n", "\r\n", 1) if "\r\n" not in text else text.replace("\r\n", "\n", 1),
                    encoding="utf-8")
    del manifest["tables"]["identities"]["sha256"]  # else read_snapshot reports the edited file
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    snap = read_gate_snapshot(root, _only())
    assert snap.tables["identities"]["name"].iloc[0] != "planted"
    assert _copies(root)["identities"] != path and not path.exists()


def test_a_table_whose_file_differs_from_the_manifest_is_an_error_not_a_copy(tmp_path):
    root, _ = _demo(tmp_path / "snap")
    read_gate_snapshot(root, _only())
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    file = root / manifest["tables"]["grants"]["file"]
    file.write_bytes(file.read_bytes() + b"\n")
    from ledgerguard.scanner.errors import InputError

    with pytest.raises(InputError, match="differs from the manifest"):
        read_gate_snapshot(root, _only())


def test_cli_gate_uses_the_copies_and_no_cache_writes_none(tmp_path, cli, monkeypatch):
    root, now = _generated(tmp_path / "snap")
    snap = read_snapshot(root)
    change = tmp_path / "c.yaml"
    change.write_text(yaml.safe_dump({"changes": _random_changes(snap, random.Random(11), 4)}, allow_unicode=True),
                      encoding="utf-8")
    args = ["gate", "--snapshot", str(root), "--change", str(change), "--as-of", now.date().isoformat(),
            "--format", "json", "--fail-on", "never"]
    assert cli(*args, "--no-cache", "--out", str(tmp_path / "a")).exit_code in (0, 3)
    assert _copies(root) == {}
    loaded: list[str] = []
    real = gatetables._load
    monkeypatch.setattr(gatetables, "_load", lambda path, key: loaded.append(path.name) or real(path, key))
    for out in ("b", "c", "d"):  # writes the copies, then reads them
        assert cli(*args, "--out", str(tmp_path / out)).exit_code in (0, 3)
    assert cli(*args, "--full", "--out", str(tmp_path / "e")).exit_code in (0, 3)
    assert set(_copies(root)) == _only() & set(snap.tables)
    docs = [_comparable(json.loads((tmp_path / d / "findings.json").read_text(encoding="utf-8"))) for d in "abcde"]
    assert all(d == docs[0] for d in docs)
    assert len(loaded) == 3 * len(_copies(root))


def test_cli_gate_reads_its_tables_with_the_collector_resting_and_runs_it_after(tmp_path, cli, monkeypatch):
    """Like the scan, the gate pauses the cyclic garbage collector while its change files, packs
    and tables load (app/cli.py ``_collector_paused``), and it runs again for the evaluation."""
    import gc

    root, now = _generated(tmp_path / "snap")
    change = tmp_path / "c.yaml"
    change.write_text(yaml.safe_dump({"changes": _random_changes(read_snapshot(root), random.Random(3), 2)},
                                     allow_unicode=True), encoding="utf-8")
    seen: list[bool] = []
    real = gatetables.read_gate_snapshot
    monkeypatch.setattr(gatetables, "read_gate_snapshot", lambda *a, **k: seen.append(gc.isenabled()) or real(*a, **k))
    result = cli("gate", "--snapshot", str(root), "--change", str(change), "--as-of", now.date().isoformat(),
                 "--format", "json", "--fail-on", "never", "--out", str(tmp_path / "out"))
    assert result.exit_code in (0, 3) and seen == [False]
    assert gc.isenabled() and gc.get_freeze_count() > 0
    gc.unfreeze()
