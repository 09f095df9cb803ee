"""Start-up: the commands that never read a table import none of the table libraries.

pandas, NumPy and pyarrow take about 0.4 s to import; ``--help``, ``validate`` and
``policies list`` load every kind (for its schema) but evaluate nothing, so they must
not pay for them (scanner/lazy.py). Read from ``python -X importtime``: what a fresh
interpreter really imported, not what a test process happens to have loaded already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "numpy", "pyarrow")


def imported(*args: str, ends: tuple[int, ...] = (0,)) -> set[str]:
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "ledgerguard.app.cli", *args],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode in ends, run.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("args", [["--help"], ["policies", "list"], ["policies", "show", "SOD-001"],
                                  ["validate", "policies/cn_finance/access.yaml"]])
def test_commands_that_read_no_table_import_no_table_library(args):
    modules = imported(*args)
    assert "ledgerguard.scanner.policy" in modules or args == ["--help"]  # the check reads real imports
    assert not [m for m in modules if m.split(".")[0] in HEAVY]


def test_a_json_only_scan_imports_no_other_report_library(make_snapshot, tmp_path):
    """jinja2 (html) and xlsxwriter (xlsx) load when their report is written, not because
    ``--format`` looked up the registered format names; jsonschema only where a file is checked."""
    snap = make_snapshot({"identities": [{"person_id": "p1", "status": "active"}]})
    modules = imported("scan", "--snapshot", str(snap), "--format", "json", "--out", str(tmp_path / "out"),
                       "--fail-on", "never", ends=(0, 3))  # 3: most policies find no table here
    assert "ledgerguard.reports.fourfold" in modules  # imported by the xlsx and html modules: they ran
    assert not {"jinja2", "xlsxwriter"} & modules
    assert "jsonschema" not in imported("--help") and "importlib.metadata" not in imported("--help")
    assert "importlib.metadata" not in modules  # the version is a constant (scanner/__init__.py)


def test_the_version_written_is_the_installed_packages(make_snapshot, tmp_path):
    """pyproject.toml reads the version from ``scanner.__version__``: ``--version`` and the
    findings say what pip installed."""
    from importlib.metadata import version

    shown = subprocess.run([sys.executable, "-m", "ledgerguard.app.cli", "--version"], capture_output=True,
                           text=True, cwd=ROOT, timeout=60)
    assert shown.stdout.split() == ["ledgerguard,", "version", version("ledgerguard")]
    snap = make_snapshot({"identities": [{"person_id": "p1", "status": "active"}]})
    subprocess.run([sys.executable, "-m", "ledgerguard.app.cli", "scan", "--snapshot", str(snap), "--format", "json",
                    "--out", str(tmp_path / "out"), "--fail-on", "never"], capture_output=True, cwd=ROOT, timeout=60)
    doc = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    assert doc["tool"] == {"name": "ledgerguard", "version": version("ledgerguard")}


def test_the_console_script_ends_with_mains_exit_code_and_its_whole_output(tmp_path):
    """``entry`` skips the interpreter's teardown: the exit code, the output written up to
    the end, and the files are what ``main`` produced."""
    listed = subprocess.run([sys.executable, "-m", "ledgerguard.app.cli", "policies", "list"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert listed.returncode == 0 and listed.stdout.count("\n") > 25 and listed.stdout.endswith("\n")
    bad = subprocess.run([sys.executable, "-m", "ledgerguard.app.cli", "validate", str(tmp_path / "none.yaml")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2 and "no such file" in bad.stderr


def test_a_scan_still_loads_them_on_first_use(tmp_path):
    """The proxies hand over to the real libraries: a scan of the built-in pack works."""
    modules = imported("test", "policies/cn_finance/tests/access")
    assert set(HEAVY) <= {m.split(".")[0] for m in modules}
