"""Time and size of every report format at several finding counts, and how the HTML behaves.

    .venv/bin/python -m bench.reports [--sizes 10000,100000] [--formats ...] [--no-browser]

Findings come from the report tests' factory (tests/reports/findings_factory.py: a
realistic document with evidence, waivers, baseline and provenance), so this
measures the writers alone, not the scan. For each size and format it prints wall
and CPU seconds (CPU is the steadier figure on a busy machine) and the file size.
With Chromium on the PATH it also opens the largest HTML report headless and reports
how long the page takes until its script has drawn the first page of the findings
table, and how long a filter and a full-text search take (docs/reports.md has the
figures).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "reports"))

from findings_factory import make_doc  # noqa: E402

from ledgerguard.reports.base import FORMATS  # noqa: E402

FORMATS_DEFAULT = "json,html,xlsx,csv,sarif,junit"


def render(fmt: str, doc: dict, out: Path) -> tuple[float, float, int]:
    reporter = FORMATS.get(fmt)()
    wall, cpu = time.perf_counter(), time.process_time()
    path = reporter.render(doc, out, "en")
    return time.perf_counter() - wall, time.process_time() - cpu, path.stat().st_size


def browse(path: Path) -> dict[str, float]:
    """Milliseconds until the script is ready, then for one filter and one search."""
    from cdp_browser import Browser

    browser = Browser()
    try:
        start = time.perf_counter()
        browser.open(path)
        if browser.eval("document.documentElement.getAttribute('data-ready')") != "1":
            raise RuntimeError("the report's script did not run")
        ready = (time.perf_counter() - start) * 1000

        def timed_js(body: str) -> float:
            return browser.eval(
                "(function(){var t=performance.now();var e=document.getElementById('lg-filter').elements;"
                f"{body}; return performance.now()-t;}})()"
            )

        fire = ".dispatchEvent(new Event('input',{bubbles:true}))"
        return {
            "load_to_ready_ms": ready,
            "filter_severity_ms": timed_js(f"e.sev.value='1';e.sev{fire}"),
            "first_search_ms": timed_js(f"e.sev.value='';e.q.value='user0000042';e.q{fire}"),
            "second_search_ms": timed_js(f"e.q.value='user00001';e.q{fire}"),
            "dom_rows": browser.eval("document.querySelectorAll('#lg-rows tr').length"),
        }
    finally:
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--formats", default=FORMATS_DEFAULT)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    formats = args.formats.split(",")
    out = Path(tempfile.mkdtemp(prefix="lg-bench-reports-"))
    try:
        print(f"{'findings':>9} {'format':<6} {'wall s':>7} {'cpu s':>7} {'MiB':>7}")
        for n in sizes:
            doc = make_doc(n)
            for fmt in formats:
                wall, cpu, size = render(fmt, doc, out / str(n))
                print(f"{n:>9,} {fmt:<6} {wall:7.2f} {cpu:7.2f} {size / 2**20:7.1f}", flush=True)
            del doc
        html = out / str(sizes[-1]) / "report.html"
        if "html" in formats and not args.no_browser and shutil.which("chromium") and html.exists():
            for key, value in browse(html).items():
                print(f"chromium, {sizes[-1]:,} findings: {key} = {value:.0f}")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
