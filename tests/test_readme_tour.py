"""The README's 5-minute tour runs as written, in order, in a fresh folder.

The commands are read from README.md itself (so an edit there is what is tested);
``make demo`` is run as the Makefile runs it. Every step must exit 0 or 1 (findings),
never 2 (bad input) or 3 (not evaluable), and the steps the README says exit 1 do.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEDGERGUARD = str(Path(sys.executable).parent / "ledgerguard")


def tour_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## A 5-minute tour\s+```sh\n(.*?)```", text, re.S).group(1)
    joined = re.sub(r"\\\n\s*", " ", block)
    commands = []
    for line in joined.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            commands.append(shlex.split(line))
    return commands


def test_readme_tour_runs_as_written(tmp_path: Path) -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "$(BIN)/ledgerguard demo --out out" in makefile
    commands = tour_commands()
    assert commands[0] == ["make", "demo"]
    commands[0] = [".venv/bin/ledgerguard", "demo", "--out", "out"]
    codes = []
    for argv in commands:
        assert argv[0] == ".venv/bin/ledgerguard", argv
        run = subprocess.run([LEDGERGUARD, *argv[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert run.returncode in (0, 1), f"{shlex.join(argv)} exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
        codes.append((argv[1], run.returncode, run.stdout))
    assert [c[:2] for c in codes] == [
        ("demo", 1), ("policies", 0), ("policies", 0), ("scan", 1), ("validate", 0), ("collect", 0), ("scan", 1),
        ("gate", 1)]
    # step 5: the demo's waiver matches, last month's findings are the baseline
    step5 = codes[6][2]
    assert "waivers: 1 active" in step5 and "stale" not in step5
    assert re.search(r"baseline: [1-9]\d* new, [1-9]\d* existing", step5)
    # step 6: the request is blocked at its line
    assert re.search(r"::error file=out/access-requests/REQ-1042.yaml,line=3,.*SOD-001", codes[7][2])
    for name in ("report.html", "report.xlsx", "findings.json", "findings.sarif", "junit.xml", "findings.csv"):
        assert (tmp_path / "out" / "scan" / name).is_file(), name
