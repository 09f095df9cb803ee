"""report.pdf: the HTML report printed by headless Chromium.

One renderer for screen and paper: the PDF is report.html as a browser prints it, with
the print stylesheet (every finding, every column wrapped, headers repeated on each
page, policy details open; report.css ``@media print``). Chromium was chosen over a
pure-Python renderer such as WeasyPrint because it is already what the report tests
drive, it runs the page's print script (WeasyPrint runs no JavaScript, so it would
need a second, script-free page) and it shapes Chinese with the system's CJK fonts
(Debian ``fonts-noto-cjk``, installed by scripts/install-system-deps.sh).

Chromium is found as ``$LEDGERGUARD_CHROMIUM``, else ``chromium``, ``chromium-browser``,
``google-chrome`` on PATH; without one the report fails with a message saying so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ledgerguard.scanner.errors import EvaluationError
from ledgerguard.scanner.fsutil import atomic_file

from .base import FORMATS, Reporter
from .html import HtmlReporter

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_SECONDS = 300


def find_chromium() -> str:
    """The Chromium executable; EvaluationError (exit 3) naming what to install when none is found."""
    configured = os.environ.get("LEDGERGUARD_CHROMIUM")
    if configured:
        if shutil.which(configured):
            return shutil.which(configured)
        raise EvaluationError(f"LEDGERGUARD_CHROMIUM={configured} is not an executable")
    for name in BROWSERS:
        if shutil.which(name):
            return shutil.which(name)
    raise EvaluationError(
        "--format pdf needs Chromium to print the HTML report, and none was found "
        f"({', '.join(BROWSERS)} on PATH, or LEDGERGUARD_CHROMIUM): install the Debian package "
        "chromium (scripts/install-system-deps.sh) or choose other formats")


@FORMATS.register("pdf")
class PdfReporter(Reporter):
    filename = "report.pdf"

    def render(self, doc: dict[str, Any], out_dir: Path, lang: str = "en") -> Path:
        browser = find_chromium()
        path = out_dir / self.filename
        with tempfile.TemporaryDirectory(prefix="ledgerguard-pdf-") as tmp:
            html = HtmlReporter().render(doc, Path(tmp), lang)
            pdf = Path(tmp) / self.filename
            cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                   "--no-first-run", "--disable-background-networking", "--disable-component-update",
                   f"--user-data-dir={Path(tmp) / 'profile'}", "--no-pdf-header-footer",
                   f"--print-to-pdf={pdf}", html.resolve().as_uri()]
            try:
                run = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                raise EvaluationError(f"Chromium did not print the report within {TIMEOUT_SECONDS}s") from None
            if run.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
                tail = (run.stderr or "").strip().splitlines()[-3:]
                raise EvaluationError(f"Chromium could not print the report (exit {run.returncode}): "
                                      + " / ".join(tail))
            with atomic_file(path, "wb") as fh:
                fh.write(pdf.read_bytes())
        return path
