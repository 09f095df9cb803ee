"""Regenerate the README's pictures from the real demo reports.

    .venv/bin/python scripts/screenshots.py [--demo DIR]

docs/img/report.png: the demo's report.html in headless Chromium (the same
DevTools driver the report tests use), top of the page: summary, charts, policies.
docs/img/fourfold.png: the same page's 四性检测 (DA/T 70) section.
docs/img/report-zh.png: the demo's report in Chinese (``--lang zh``), top of the page.
docs/img/excel-summary.png: the demo's report.xlsx as LibreOffice prints it (xlsx →
PDF with ``soffice --headless``, first page → PNG with poppler's ``pdftoppm``), so
the picture is the real workbook rendered by a real spreadsheet program. LibreOffice
and poppler-utils are needed for this one-off only, not by the tests.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMG = ROOT / "docs" / "img"
sys.path.insert(0, str(ROOT / "tests" / "reports"))

from cdp_browser import Browser  # noqa: E402


def html_shot(report: Path, out: Path, width: int = 1280, height: int = 1500, section: str | None = None) -> None:
    browser = Browser(width=width, height=height)
    try:
        browser.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                     deviceScaleFactor=1, mobile=False)
        browser.open(report)
        if browser.eval("document.documentElement.getAttribute('data-ready')") != "1":
            raise SystemExit("the report's script did not run")
        if section:  # e.g. "fourfold": that section at the top of the picture
            browser.eval(f"document.getElementById('{section}').scrollIntoView(); window.scrollBy(0, -40)")
        browser.screenshot(out)
    finally:
        browser.close()


def excel_shot(workbook: Path, out: Path, crop_height: int) -> None:
    soffice, pdftoppm = shutil.which("soffice"), shutil.which("pdftoppm")
    if not soffice or not pdftoppm:
        raise SystemExit("needs LibreOffice (soffice) and poppler-utils (pdftoppm)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [soffice, "--headless", f"-env:UserInstallation=file://{tmp}/profile",
             "--convert-to", "pdf", "--outdir", tmp, str(workbook)],
            check=True, capture_output=True, timeout=300,
        )
        pdf = Path(tmp) / (workbook.stem + ".pdf")
        # First page = the Summary sheet (printed one page wide, landscape A4).
        subprocess.run(
            [pdftoppm, "-f", "1", "-l", "1", "-png", "-r", "110", "-singlefile",
             "-x", "0", "-y", "0", "-W", "1290", "-H", str(crop_height), str(pdf), str(out.with_suffix(""))],
            check=True, timeout=120,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, help="an existing `ledgerguard demo --out` folder")
    parser.add_argument("--excel-height", type=int, default=900, help="pixels of the Summary page kept")
    args = parser.parse_args()
    IMG.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        demo = args.demo
        if demo is None:
            demo = Path(tmp) / "demo"
            # Exit 1 means "findings at or above --fail-on", which the demo has by design.
            res = subprocess.run([str(ROOT / ".venv" / "bin" / "ledgerguard"), "demo", "--out", str(demo)],
                                 capture_output=True, text=True)
            if res.returncode not in (0, 1):
                raise SystemExit(res.stderr)
        html_shot(demo / "report.html", IMG / "report.png")
        html_shot(demo / "report.html", IMG / "fourfold.png", height=1100, section="fourfold")
        excel_shot(demo / "report.xlsx", IMG / "excel-summary.png", args.excel_height)
        zh = Path(tmp) / "zh"
        subprocess.run([str(ROOT / ".venv" / "bin" / "ledgerguard"), "report", "--findings",
                        str(demo / "findings.json"), "--format", "html", "--lang", "zh", "--out", str(zh)],
                       check=True, capture_output=True)
        html_shot(zh / "report.html", IMG / "report-zh.png", height=900)
    for name in ("report.png", "fourfold.png", "excel-summary.png", "report-zh.png"):
        print(f"wrote {IMG / name} ({(IMG / name).stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
