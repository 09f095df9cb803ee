"""Atomic writes: a file or folder appears whole or not at all, with normal permissions."""

from __future__ import annotations

import os
import stat

import pytest

from ledgerguard.scanner.fsutil import atomic_dir, atomic_file, atomic_write_text


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_written_file_has_the_permissions_open_would_give(tmp_path):
    target = tmp_path / "report.html"
    atomic_write_text(target, "<p>ok</p>")
    assert target.read_text(encoding="utf-8") == "<p>ok</p>"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "findings.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_file(target) as fh:
        fh.write("half")
        raise RuntimeError("disk full")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["findings.json"]


def test_a_failed_folder_leaves_nothing_and_a_complete_one_replaces_the_old(tmp_path):
    target = tmp_path / "snapshot"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "accounts.csv").write_text("a", encoding="utf-8")
        raise RuntimeError("source failed")
    assert list(tmp_path.iterdir()) == []
    target.mkdir()
    (target / "old.csv").write_text("old", encoding="utf-8")
    with atomic_dir(target) as tmp:
        (tmp / "new.csv").write_text("new", encoding="utf-8")
    assert [p.name for p in target.iterdir()] == ["new.csv"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~_umask()
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot"]
