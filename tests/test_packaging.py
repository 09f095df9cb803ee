"""The wheel users install holds every file the tool reads at run time.

The built-in pack, the report templates, the demo company's data and the connector profiles
live in folders without ``__init__.py``. With ``include-package-data`` setuptools took them for
packages missing from ``packages`` and warned that a future version may stop installing them;
the package-data globs alone now carry them, and this build proves it with the real backend.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: source folder → where the wheel holds it
DATA = {
    "policies": "ledgerguard/policies",
    "reports/templates": "ledgerguard/reports/templates",
    "reports/data": "ledgerguard/reports/data",
    "app/demo/data": "ledgerguard/app/demo/data",
    "connectors/profiles": "ledgerguard/connectors/profiles",
}


def test_wheel_holds_every_data_file_without_a_setuptools_warning(tmp_path: Path) -> None:
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "absent from the `packages` configuration" not in built.stdout + built.stderr
    (wheel,) = tmp_path.glob("ledgerguard-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"{target}/{path.relative_to(ROOT / source).as_posix()}"
                for source, target in DATA.items()
                for path in (ROOT / source).rglob("*")
                if path.is_file() and "__pycache__" not in path.parts}
    assert len(expected) > 90  # the pack, templates, fonts' data, demo data, profiles
    assert expected - names == set()
