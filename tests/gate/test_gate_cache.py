"""The gate's base cache beside the snapshot (scanner/gatecache.py): the same document with
and without it, used when its key matches, never when stale, foreign or corrupt, and an
unwritable folder is no error.

"Used" is proven by poisoning: a finding planted in the cached current-state outcome of
GST-001 (a whole-state policy) shows up as *resolved* when — and only when — the gate
trusts the file.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_incremental import _comparable, _demo, _random_changes

from ledgerguard.scanner import gatecache
from ledgerguard.scanner.changes import load_changes
from ledgerguard.scanner.gate import Region, relevant, run_gate
from ledgerguard.scanner.gatecache import GateCache
from ledgerguard.scanner.policy import all_policies, load_packs
from ledgerguard.scanner.snapshot import read_snapshot

PLANTED = "planted-by-the-test"


@pytest.fixture()
def demo(tmp_path):
    root, now = _demo(tmp_path / "snap")
    snap = read_snapshot(root)
    change = tmp_path / "change.yaml"
    drawn = _random_changes(snap, random.Random(5), 4)
    change.write_text(yaml.safe_dump({"changes": drawn}, allow_unicode=True), encoding="utf-8")
    return snap, now, load_changes([change]), change


def _gate(snap, now, changes, **kw) -> dict:
    return run_gate(snap, load_packs(None), changes, now, fail_on="never", **kw)


def _files(snap) -> list[Path]:
    return sorted((Path(snap.path) / gatecache.FOLDER).glob("gate-*.json"))


def _poison(path: Path) -> None:
    """Plant a finding in the cached current-state outcome of GST-001."""
    data = json.loads(path.read_text(encoding="utf-8"))
    fake = {**data["outcomes"]["GST-001"]["findings"][0]} if data["outcomes"]["GST-001"]["findings"] else None
    assert fake is not None or data["outcomes"]["GST-001"]["status"] in ("pass", "fail")
    fake = {**(fake or {}), "id": PLANTED, "policy_id": "GST-001", "subject": "account:x:planted", "code": "rule",
            "severity": "high", "status": "open", "message": "planted", "evidence": {}, "person_id": None,
            "waiver": None, "baseline": None, "key": None, "location": None, "kind": "table_rule"}
    data["outcomes"]["GST-001"]["findings"].append(fake)
    data["outcomes"]["GST-001"]["status"] = "fail"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _planted(doc: dict) -> bool:
    return any(f["id"] == PLANTED for f in doc["resolved"])


def test_cached_uncached_and_full_gates_write_the_same_document(demo):
    snap, now, changes, _ = demo
    uncached = _gate(snap, now, changes)
    assert _files(snap) == []  # the library default writes nothing
    first = _gate(snap, now, changes, cache=True)  # computes and writes
    assert len(_files(snap)) == 1
    written = _files(snap)[0].stat().st_mtime_ns
    second = _gate(snap, now, changes, cache=True)  # reads
    assert _files(snap)[0].stat().st_mtime_ns == written  # nothing new to write
    full = _gate(snap, now, changes, incremental=False)
    assert _comparable(uncached) == _comparable(first) == _comparable(second) == _comparable(full)


def test_a_matching_cache_is_used_and_a_stale_or_foreign_one_is_not(demo, monkeypatch):
    snap, now, changes, _ = demo
    _gate(snap, now, changes, cache=True)
    [path] = _files(snap)
    _poison(path)
    assert _planted(_gate(snap, now, changes, cache=True))  # same key: trusted (this is how we see it is used)

    # every part of the key leads elsewhere: the poisoned file is not read
    later = now + pd.Timedelta(days=1)
    assert not _planted(_gate(snap, later, changes, cache=True))
    changed = snap.with_tables()
    changed.table_hashes = {**snap.table_hashes, "grants": "0" * 64}
    assert not _planted(_gate(changed, now, changes, cache=True))
    packs = load_packs(None)
    policies = [p for p in all_policies(packs) if relevant(p)]
    key = GateCache(snap, policies, now.isoformat()).key
    edited = [p if p.id != "GST-001" else type(p)(**{**p.__dict__, "severity": "low"}) for p in policies]
    assert GateCache(snap, edited, now.isoformat()).key["policies"] != key["policies"]
    monkeypatch.setattr(gatecache, "__version__", "999.0")
    assert not _planted(_gate(snap, now, changes, cache=True))
    monkeypatch.undo()

    # a file at the right place whose recorded key differs (copied, or another tool's) is foreign
    data = json.loads(path.read_text(encoding="utf-8"))
    data["key"]["as_of"] = "1999-01-01T00:00:00+08:00"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert not _planted(_gate(snap, now, changes, cache=True))
    assert json.loads(path.read_text(encoding="utf-8"))["key"]["as_of"] == now.isoformat()  # rewritten


@pytest.mark.parametrize("damage", ["{not json", "\udcff", '{"key": 1}', "[]", ""])
def test_a_corrupt_cache_is_ignored_and_rewritten(demo, damage):
    snap, now, changes, _ = demo
    expected = _comparable(_gate(snap, now, changes))
    _gate(snap, now, changes, cache=True)
    [path] = _files(snap)
    path.write_bytes(damage.encode("utf-8", "surrogateescape"))
    assert _comparable(_gate(snap, now, changes, cache=True)) == expected
    assert json.loads(path.read_text(encoding="utf-8"))["key"]["snapshot"] == snap.sha256


def test_an_unwritable_cache_folder_is_no_error(demo, cli, tmp_path, caplog):
    snap, now, _, change = demo
    (Path(snap.path) / gatecache.FOLDER).write_text("a file where the folder would go", encoding="utf-8")
    out = tmp_path / "out"
    args = ["gate", "--snapshot", str(snap.path), "--change", str(change), "--as-of", now.date().isoformat(),
            "--format", "json", "--out", str(out), "--fail-on", "never"]
    with caplog.at_level(logging.INFO, logger="ledgerguard.scanner.gatecache"):
        result = cli("-v", *args)
    assert result.exit_code == 0, result.output
    assert "gate cache not written" in caplog.text
    # the regional base (a whole-state evaluation of the local kinds) is not computed when it
    # cannot be kept: the gate evaluates the region's current state instead
    assert ".arrow" not in caplog.text
    written = _comparable(json.loads((out / "findings.json").read_text(encoding="utf-8")))
    computed = _comparable(_gate(snap, now, load_changes([change])))
    assert {**written, "scan": None} == {**computed, "scan": None}  # the CLI's scan adds provenance


def test_cli_writes_the_cache_and_no_cache_neither_reads_nor_writes_it(demo, cli, tmp_path):
    snap, now, _, change = demo
    args = ["gate", "--snapshot", str(snap.path), "--change", str(change), "--as-of", now.date().isoformat(),
            "--format", "json", "--fail-on", "never"]
    assert cli(*args, "--no-cache", "--out", str(tmp_path / "a")).exit_code == 0
    assert _files(snap) == []
    assert cli(*args, "--out", str(tmp_path / "b")).exit_code == 0
    [path] = _files(snap)
    _poison(path)
    assert cli(*args, "--no-cache", "--out", str(tmp_path / "c")).exit_code == 0
    assert cli(*args, "--out", str(tmp_path / "d")).exit_code == 0
    docs = {d: json.loads((tmp_path / d / "findings.json").read_text(encoding="utf-8")) for d in "abcd"}
    assert not _planted(docs["c"]) and _planted(docs["d"])
    assert _comparable(docs["a"]) == _comparable(docs["b"]) == _comparable(docs["c"])


def _regional(snap) -> Path:
    [path] = sorted((Path(snap.path) / gatecache.FOLDER).glob("gate-*.arrow"))
    return path


def _rewrite_regional(path: Path, planted: dict | None = None, key: bytes | None = None) -> None:
    """Rewrite the regional base with a finding planted in it, or with another key in its metadata."""
    import pyarrow as pa

    table = pa.ipc.open_file(pa.py_buffer(path.read_bytes())).read_all()
    meta = dict(table.schema.metadata)
    if planted is not None:
        row = {"subject": [planted["subject"]], "policy_id": [planted["policy_id"]], "n": [10**6],
               "finding": [json.dumps(planted, ensure_ascii=False)]}
        table = pa.concat_tables([table, pa.table(row, schema=table.schema)])
    if key is not None:
        meta[b"ledgerguard.gate.key"] = key
    table = table.replace_schema_metadata(meta)
    with pa.OSFile(str(path), "wb") as fh, pa.ipc.new_file(fh, table.schema) as writer:
        writer.write_table(table)


def test_the_regional_base_is_used_when_its_key_matches_never_when_stale_foreign_or_corrupt(demo):
    """The local kinds' current-state findings (the Arrow file beside the JSON): a finding planted
    there on a proposed change's subject is *resolved* exactly when the gate trusts the file."""
    snap, now, changes, _ = demo
    expected = _comparable(_gate(snap, now, changes))
    assert _comparable(_gate(snap, now, changes, cache=True)) == expected  # computes and writes it
    path = _regional(snap)
    planted = {"id": PLANTED, "policy_id": "CHG-001", "kind": "change_approval", "code": "not_approved",
               "severity": "high", "subject": f"change:{changes[0].change_id}", "person_id": None,
               "message": "planted", "evidence": {}, "status": "open", "waiver": None, "baseline": None,
               "key": None, "location": None}
    _rewrite_regional(path, planted)
    assert _planted(_gate(snap, now, changes, cache=True))  # same key: trusted
    # and HO-001's (narrowed: Handover.gate_cut) on a person the change touches
    person = sorted(Region.of(snap, changes).people)[0]
    _rewrite_regional(path, {**planted, "id": "planted-ho", "policy_id": "HO-001", "kind": "handover",
                             "code": "no_handover", "subject": f"person:{person}"})
    assert "planted-ho" in {f["id"] for f in _gate(snap, now, changes, cache=True)["resolved"]}
    assert not _planted(_gate(snap, now + pd.Timedelta(days=1), changes, cache=True))  # another as-of
    assert not _planted(_gate(snap, now, changes, cache=False))

    # a file whose recorded key differs (copied from another snapshot, another version) is foreign
    _rewrite_regional(path, key=b'{"as_of": "1999-01-01"}')
    assert _comparable(_gate(snap, now, changes, cache=True)) == expected
    assert not _planted(_gate(snap, now, changes, cache=True))  # rewritten with its own key, without the plant

    for damage in (b"", b"ARROW1 not arrow", path.read_bytes()[:100]):
        path.write_bytes(damage)
        assert _comparable(_gate(snap, now, changes, cache=True)) == expected
        assert len(path.read_bytes()) > 100  # rewritten


def test_the_folder_keeps_the_most_recent_keys_only(demo, monkeypatch):
    """A pipeline passing its own --as-of each run makes a new key each run: the folder keeps
    the KEEP most recently written ones and removes the others' files (never a foreign file)."""
    snap, now, changes, _ = demo
    monkeypatch.setattr(gatecache, "KEEP", 2)
    folder = Path(snap.path) / gatecache.FOLDER
    folder.mkdir(exist_ok=True)
    (folder / "notes.txt").write_text("someone else's file", encoding="utf-8")

    def stems() -> set[str]:
        return {p.name.rsplit(".", 1)[0] for p in folder.glob("gate-*")}

    order = []
    for day in range(4):
        before = stems()
        _gate(snap, now + pd.Timedelta(hours=day), changes, cache=True)
        new = stems() - before
        assert len(new) == 1  # each as-of is its own key, and the newest is kept
        order.append(new.pop())
    assert stems() == set(order[-2:])
    assert {p.suffix for p in folder.glob(f"{order[-1]}.*")} == {".json", ".arrow", ".index"}
    assert (folder / "notes.txt").exists()
