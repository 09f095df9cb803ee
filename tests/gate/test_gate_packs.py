"""The gate's packs file beside the snapshot (gatecache.load_packs_cached): exactly the packs
``load_packs`` gives, used when its key matches, never when stale, foreign or corrupt.

"Used" is proven by poisoning: a packs file rewritten under its own key with one policy's
title changed gives that title when — and only when — the gate trusts the file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from ledgerguard.scanner import gatecache
from ledgerguard.scanner.errors import InputError
from ledgerguard.scanner.gatecache import FOLDER, load_packs_cached
from ledgerguard.scanner.policy import builtin_pack_path, load_packs

POISON = "poisoned by the test"


def _files(root: Path) -> list[Path]:
    return sorted((root / FOLDER).glob("packs-*.json"))


def _poison(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data["packs"][0]["policies"][0]["title"] = {"en": POISON, "zh": POISON}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _poisoned(packs) -> bool:
    return packs[0].policies[0].title["en"] == POISON


@pytest.fixture()
def pack(tmp_path) -> Path:
    """A copy of the built-in pack in a folder of its own (its bytes can change)."""
    folder = tmp_path / "pack"
    shutil.copytree(builtin_pack_path(), folder, ignore=shutil.ignore_patterns("tests"))
    return folder


def test_the_packs_file_gives_exactly_the_loaded_packs(pack, tmp_path):
    root = tmp_path / "snap"
    root.mkdir()
    for paths in (None, [str(pack)]):
        first = load_packs_cached(paths, root)  # loads, writes the file
        [path] = _files(root)
        second = load_packs_cached(paths, root)  # from the file
        assert first == second == load_packs(paths)
        assert [p.controls for p in second] == [p.controls for p in load_packs(paths)]
        _poison(path)
        assert _poisoned(load_packs_cached(paths, root))  # the file is what was read
        assert not _poisoned(load_packs_cached(paths, None))  # no folder: loaded
    assert len(_files(root)) == 1  # the other key's file is gone


def test_a_changed_pack_file_or_another_key_is_never_trusted(pack, tmp_path):
    root = tmp_path / "snap"
    root.mkdir()
    load_packs_cached([str(pack)], root)
    [path] = _files(root)
    _poison(path)
    # foreign: the same file name, another key inside
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**data, "key": data["key"].replace('"format"', '"formats"')}), encoding="utf-8")
    assert not _poisoned(load_packs_cached([str(pack)], root))
    _poison(path)
    assert _poisoned(load_packs_cached([str(pack)], root))
    # stale: a pack file changed by one byte is another key; the old key's file is removed
    yaml_file = sorted(pack.glob("*.yaml"))[0]
    yaml_file.write_bytes(yaml_file.read_bytes() + b"\n")
    assert not _poisoned(load_packs_cached([str(pack)], root))
    [new] = _files(root)
    assert new != path and not path.exists()


@pytest.mark.parametrize("damage", ["not json {", '{"key": 1}', "[]", '{"key": null, "packs": [{}]}'])
def test_a_corrupt_packs_file_is_ignored_and_rewritten(pack, tmp_path, damage):
    root = tmp_path / "snap"
    root.mkdir()
    load_packs_cached([str(pack)], root)
    [path] = _files(root)
    key = json.loads(path.read_text(encoding="utf-8"))["key"]
    path.write_text(damage.replace("null", json.dumps(key)), encoding="utf-8")
    assert load_packs_cached([str(pack)], root) == load_packs([str(pack)])
    assert json.loads(path.read_text(encoding="utf-8"))["key"] == key  # rewritten


def test_a_pack_with_a_problem_raises_and_writes_nothing(pack, tmp_path):
    root = tmp_path / "snap"
    root.mkdir()
    yaml_file = sorted(pack.glob("*.yaml"))[0]
    yaml_file.write_text(yaml_file.read_text(encoding="utf-8").replace("severity: high", "severity: hihg", 1),
                         encoding="utf-8")
    with pytest.raises(InputError, match="hihg"):
        load_packs_cached([str(pack)], root)
    assert _files(root) == []


@pytest.mark.parametrize("params", [{"since": dt.date(2026, 1, 1)}, {1: "a number as a key"}], ids=["date", "key"])
def test_packs_json_cannot_hold_exactly_are_not_written(pack, tmp_path, monkeypatch, params):
    root = tmp_path / "snap"
    root.mkdir()
    loaded = load_packs([str(pack)])
    policy = dataclasses.replace(loaded[0].policies[0], params=params)
    dated = [dataclasses.replace(loaded[0], policies=[policy, *loaded[0].policies[1:]]), *loaded[1:]]
    monkeypatch.setattr(gatecache, "load_packs", lambda paths: dated)
    assert load_packs_cached([str(pack)], root) == dated
    assert _files(root) == []


def test_an_unwritable_folder_is_no_error(tmp_path):
    root = tmp_path / "snap"
    root.mkdir()
    (root / FOLDER).write_text("a file where the folder would go", encoding="utf-8")
    assert load_packs_cached(None, root) == load_packs(None)


def test_the_cli_gate_writes_the_packs_file_and_no_cache_does_not(cli, tmp_path):
    import random

    import yaml
    from test_incremental import _demo, _random_changes

    from ledgerguard.scanner.snapshot import read_snapshot

    root, now = _demo(tmp_path / "snap")
    change = tmp_path / "change.yaml"
    drawn = _random_changes(read_snapshot(root), random.Random(5), 2)
    change.write_text(yaml.safe_dump({"changes": drawn}, allow_unicode=True), encoding="utf-8")
    args = ["gate", "--snapshot", str(root), "--change", str(change), "--as-of", now.date().isoformat(),
            "--format", "json", "--fail-on", "never"]

    def titles(out: str) -> set[str]:
        assert cli(*args, "--out", str(tmp_path / out)).exit_code == 0
        doc = json.loads((tmp_path / out / "findings.json").read_text(encoding="utf-8"))
        return {p["title"]["en"] for p in doc["policies"]}

    args.append("--no-cache")
    titles("a")
    assert _files(root) == []
    args.pop()
    assert POISON not in titles("b")
    [path] = _files(root)
    _poison(path)
    assert POISON in titles("c")
    args.append("--no-cache")
    assert POISON not in titles("d")
