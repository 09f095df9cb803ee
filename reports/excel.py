"""report.xlsx: the auditors' workbook, written row by row with xlsxwriter.

``constant_memory`` keeps memory flat at a million findings (each row is flushed
as soon as the next one starts, so every sheet is written top to bottom); strings
are never turned into formulas, URLs or numbers by xlsxwriter, and every text cell
also goes through ``safe.spreadsheet_cell`` (formula neutraliser, control
characters, 32,767-character cell limit), so what a source system put into a name
stays text in Excel and LibreOffice. Findings beyond one sheet's 1,048,575 data rows
spill into "Findings (2)", "Findings (3)", …

xlsxwriter copies a string that starts with ``<r>`` and ends with ``</r>`` into the
sheet XML unescaped (it takes it for a rich string it built itself), so a display
name shaped like that could smuggle a formula cell in. Such text is written as a
real rich string of escaped fragments instead (``_Book.string``).

Speed: the Findings sheets are most of the work (13 cells × every finding), so
their loop calls ``write_string`` directly with formats chosen up front and leaves
empty cells out (no XML at all), instead of the generic per-cell dispatch.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ledgerguard.scanner.contract import Finding
from ledgerguard.scanner.fsutil import atomic_file

from . import fourfold
from .base import FORMATS, Reporter
from .document import FINDING_COLUMNS, SEVERITIES, View
from .i18n import localized
from .messages import evidence_key, evidence_value, message
from .safe import as_text, spreadsheet_cell

if TYPE_CHECKING:  # xlsxwriter is imported when a workbook is written, not by every scan
    from xlsxwriter.worksheet import Worksheet

MAX_ROWS = 1_048_576  # rows in one Excel sheet, header included
SEVERITY_COLOURS = {
    "critical": ("#7B1113", "#FFFFFF"),
    "high": ("#D9534F", "#FFFFFF"),
    "medium": ("#F0AD4E", "#000000"),
    "low": ("#FFE08A", "#000000"),
    "info": ("#D9E7F5", "#000000"),
}
# Columns whose values are codes the report language translates.
_SEVERITY_COL = "severity"
_STATUS_COLS = ("status", "baseline")


class _Book:
    """The workbook plus its formats and the one way every cell is written."""

    def __init__(self, out: IO[bytes], view: View) -> None:
        self.view = view
        self.labels = view.labels
        import xlsxwriter

        self.wb = xlsxwriter.Workbook(
            out,
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        self.header = self.wb.add_format({"bold": True, "bg_color": "#1F3A5F", "font_color": "#FFFFFF", "border": 1})
        self.title = self.wb.add_format({"bold": True, "font_size": 14})
        self.bold = self.wb.add_format({"bold": True})
        self.count = self.wb.add_format({"align": "left", "num_format": "#,##0"})
        self.sev = {
            s: self.wb.add_format({"bg_color": bg, "font_color": fg, "bold": s == "critical", "valign": "top"})
            for s, (bg, fg) in SEVERITY_COLOURS.items()
        }
        # the working paper: long text wraps in its column, every cell aligned to the top
        self.wrap = self.wb.add_format({"text_wrap": True, "valign": "top"})
        self.top = self.wb.add_format({"valign": "top"})
        self.date = self.wb.add_format({"num_format": "yyyy-mm-dd", "align": "left", "valign": "top"})
        self.warning = self.wb.add_format({"bold": True, "font_color": "#7B4F00", "bg_color": "#FFF3CD",
                                           "text_wrap": True})

    def sheet(self, label_key: str, suffix: str = "") -> Worksheet:
        return self.wb.add_worksheet(self.labels[label_key] + suffix)

    def text(self, ws: Worksheet, row: int, col: int, value: Any, fmt: Any = None) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            ws.write_number(row, col, value, fmt)
        else:
            self.string(ws, row, col, spreadsheet_cell(value), fmt)

    @staticmethod
    def string(ws: Worksheet, row: int, col: int, text: str, fmt: Any = None) -> None:
        """Write already neutralised text; see the module docstring for ``<r>``."""
        if text.startswith("<r>"):
            ws.write_rich_string(row, col, "<", "r", text[2:], *([fmt] if fmt else []))
        else:
            ws.write_string(row, col, text, fmt)

    def table(
        self,
        ws: Worksheet,
        start: int,
        headers: list[str],
        rows: Iterable[list[Any]],
        widths: list[int],
        severity_col: int | None = None,
        date_cols: tuple[int, ...] = (),
    ) -> int:
        """Header + rows from ``start``; frozen header and autofilter when it is row 0.
        Text wraps and aligns to the top; ``date_cols`` hold ISO dates written as Excel dates."""
        self.header_row(ws, start, headers, widths)
        row = start
        for values in rows:
            row += 1
            lines = max((_lines(v, widths[col]) for col, v in enumerate(values) if isinstance(v, str) and v),
                        default=1)
            if lines > 1:
                ws.set_row(row, min(lines * LINE_POINTS, MAX_ROW_POINTS))
            for col, value in enumerate(values):
                if col in date_cols and value:
                    self.date_or_text(ws, row, col, value)
                    continue
                fmt = self.sev.get(value) if col == severity_col else self.wrap
                if col == severity_col:
                    value = self.labels.sev(value)
                self.text(ws, row, col, value, fmt)
        if start == 0:
            self.filter(ws, row, len(headers))
        return row

    def header_row(self, ws: Worksheet, row: int, headers: list[str], widths: list[int]) -> None:
        for col, (name, width) in enumerate(zip(headers, widths, strict=True)):
            ws.set_column(col, col, width)
            self.text(ws, row, col, name, self.header)

    @staticmethod
    def printable(ws: Worksheet) -> None:
        """A4 landscape, one page wide (as many pages long as needed), header row on every page."""
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(0)

    def date_or_text(self, ws: Worksheet, row: int, col: int, value: Any) -> None:
        """An ISO date (``2026-12-31``, or the date part of a timestamp) as an Excel date, else text."""
        import datetime as dt

        try:
            day = dt.date.fromisoformat(str(value)[:10])
        except ValueError:
            self.text(ws, row, col, value, self.top)
            return
        ws.write_datetime(row, col, dt.datetime(day.year, day.month, day.day), self.date)

    @staticmethod
    def filter(ws: Worksheet, last_row: int, columns: int) -> None:
        """Frozen header row and an autofilter over a sheet that holds one table."""
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(last_row, 1), columns - 1)


#: the Findings sheet's wrapped columns (long text) and its column order: the id last,
#: where a reader of the printed working paper needs it least
_WRAPPED = ("policy_title", "subject", "message", "waiver", "evidence", "location")
#: narrower than the on-screen widths of FINDING_COLUMNS: the sheet prints one page wide
_PRINT_WIDTHS = {"policy_title": 22, "code": 16, "subject": 22, "message": 44, "waiver": 20, "location": 14,
                 "evidence": 40, "id": 17}
LINE_POINTS = 15  # the height of one line of 11-point text
MAX_ROW_POINTS = 409  # Excel's highest row


def _lines(text: str, width: int) -> int:
    """Lines a wrapped cell needs: its own lines, each split by the column width (a CJK
    character takes two columns). LibreOffice keeps the default height of a row whose
    height is not written, so the height is set from this."""
    total = 0
    for line in text.split("\n"):
        cols = len(line) if line.isascii() else sum(2 if "\u2e80" <= ch <= "\uffef" else 1 for ch in line)
        total += max(1, -(-cols // max(width - 1, 1)))
    return total


def _evidence_lines(evidence: Any, lang: str) -> str:
    """Evidence as one ``key: value`` line per entry (JSON is not for reading on paper)."""
    if not isinstance(evidence, dict):
        return as_text(evidence)
    return "\n".join(f"{evidence_key(k, lang)}: {evidence_value(v, lang)}" for k, v in evidence.items())


def _write_findings(book: _Book, label_key: str, findings: list[Finding]) -> None:
    view, L = book.view, book.labels
    keys = [key for key, _, _ in FINDING_COLUMNS]
    order = [i for i, k in enumerate(keys) if k != "id"] + [keys.index("id")]
    headers = [L[FINDING_COLUMNS[i][1]] for i in order]
    widths = [_PRINT_WIDTHS.get(FINDING_COLUMNS[i][0], FINDING_COLUMNS[i][2]) for i in order]
    wrapped = [(col, i, widths[col]) for col, i in enumerate(order) if keys[i] in _WRAPPED]
    sev_col = keys.index(_SEVERITY_COL)
    evidence_col = keys.index("evidence")
    message_col = keys.index("message")
    translated = [keys.index(k) for k in _STATUS_COLS]
    formats = [book.wrap if keys[i] in _WRAPPED else book.top for i in order]
    sev_label = {s: L.sev(s) for s in SEVERITIES}
    st_label: dict[str, str] = {}
    per_sheet = MAX_ROWS - 1
    for n, start in enumerate(range(0, max(len(findings), 1), per_sheet), 1):
        ws = book.sheet(label_key, f" ({n})" if n > 1 else "")
        book.printable(ws)
        book.header_row(ws, 0, headers, widths)
        write_string = ws.write_string
        row = 0
        for finding in findings[start : start + per_sheet]:
            row += 1
            values = view.row(finding)
            severity = values[sev_col]
            values[sev_col] = sev_label.get(severity, severity)
            if values[evidence_col]:
                values[evidence_col] = _evidence_lines(values[evidence_col], view.lang)
            if view.lang != "en":
                values[message_col] = message(finding, view.lang)
            lines = max(_lines(str(values[i]), width) for _, i, width in wrapped if values[i]) if any(
                values[i] for _, i, _ in wrapped) else 1
            if lines > 1:
                ws.set_row(row, min(lines * LINE_POINTS, MAX_ROW_POINTS))
            for col in translated:
                code = values[col]
                if code:
                    values[col] = st_label[code] if code in st_label else st_label.setdefault(code, L.st(code))
            for col, i in enumerate(order):
                value = values[i]
                if value is None or value == "":
                    continue  # an empty cell needs no XML
                text = spreadsheet_cell(value)
                fmt = book.sev.get(severity) if i == sev_col else formats[col]
                if text.startswith("<r>"):
                    book.string(ws, row, col, text, fmt)
                else:
                    write_string(row, col, text, fmt)
        book.filter(ws, row, len(headers))


def _write_summary(book: _Book) -> None:
    view, L = book.view, book.labels
    ws = book.sheet("sheet_summary")
    book.printable(ws)
    ws.set_column(0, 0, 28)
    ws.set_column(1, 1, 60)
    ws.set_column(2, 4, 12)
    title = L["gate_title"] if view.scan.get("command") == "gate" else L["report_title"]
    book.text(ws, 0, 0, title, book.title)
    facts = [
        (L["result"], view.verdict_text()),
        (L["as_of"], view.scan.get("as_of")),
        (L["fail_on"], view.scan.get("fail_on")),
        (L["tool"], f"{view.tool.get('name', 'ledgerguard')} {view.tool.get('version', '')}"),
        (L["finished_at"], view.scan.get("finished_at")),
    ]
    row = 1
    for label, value in facts:
        row += 1
        book.text(ws, row, 0, label, book.bold)
        book.text(ws, row, 1, as_text(value))
    for warning in view.scan.get("warnings") or []:
        row += 1
        book.text(ws, row, 0, L["warnings"], book.warning)
        book.text(ws, row, 1, warning, book.warning)
    row += 2
    book.text(ws, row, 0, L["by_severity"], book.title)
    row += 1
    counts = view.severity_counts()
    first = row
    for severity in SEVERITIES:
        book.text(ws, row, 0, L.sev(severity), book.sev[severity])
        book.text(ws, row, 1, counts[severity], book.count)
        row += 1
    _severity_chart(book, ws, first, row - 1)
    book.text(ws, row, 0, L["waived"], book.bold)
    book.text(ws, row, 1, sum(1 for f in view.findings if f.get("status") == "waived"), book.count)
    row += 2
    book.text(ws, row, 0, L["policies"], book.title)
    row += 1
    for key in ("policies_total", "passed", "failed", "errored", "inconclusive", "skipped"):
        field = {"policies_total": "policies"}.get(key, key)
        book.text(ws, row, 0, L[key], book.bold)
        book.text(ws, row, 1, int(view.summary.get(field) or 0), book.count)
        row += 1
    row += 1
    book.text(ws, row, 0, L["by_policy"], book.title)
    grouped = view.findings_by_policy()
    rows = (
        [p["id"], view.title_of(p["id"]), p.get("severity", ""), view.policy_state(p), len(grouped.get(p["id"], []))]
        for p in view.policies
    )
    headers = [L["policy"], L["title"], L["severity"], L["status"], L["findings"]]
    book.table(ws, row + 1, headers, rows, [28, 60, 12, 12, 12], severity_col=2)


def _severity_chart(book: _Book, ws: Worksheet, first: int, last: int) -> None:
    """A bar chart of the open findings by severity, beside the counts it plots."""
    sheet = ws.get_name().replace("'", "''")
    chart = book.wb.add_chart({"type": "bar"})
    chart.add_series({
        "name": book.labels["by_severity"],
        "categories": f"='{sheet}'!$A${first + 1}:$A${last + 1}",
        "values": f"='{sheet}'!$B${first + 1}:$B${last + 1}",
        "points": [{"fill": {"color": SEVERITY_COLOURS[s][0]}} for s in SEVERITIES],
        "data_labels": {"value": True},
    })
    chart.set_title({"name": book.labels["by_severity"]})
    chart.set_legend({"none": True})
    chart.set_y_axis({"reverse": True})
    chart.set_size({"width": 420, "height": 240})
    ws.insert_chart(1, 3, chart)


def _write_trend(book: _Book) -> None:
    """The Trend sheet (when the scan was recorded in a history): one row per scan and a line chart."""
    view, L = book.view, book.labels
    trend = view.doc.get("trend") or []
    ws = book.sheet("sheet_trend")
    book.printable(ws)
    headers = [L["scan_no"], L["as_of"], *(L.sev(s) for s in SEVERITIES), L["waived"],
               L["new_since_previous"], L["resolved_since_previous"], L["days_to_resolve"]]
    book.header_row(ws, 0, headers, [8, 12, *(10 for _ in SEVERITIES), 10, 10, 10, 14])
    for row, t in enumerate(trend, 1):
        book.text(ws, row, 0, f"#{t.get('scan_id')}", book.top)
        book.date_or_text(ws, row, 1, t.get("as_of"))
        values = [*((t.get("open") or {}).get(s, 0) for s in SEVERITIES), t.get("waived"), t.get("new"),
                  t.get("resolved"), t.get("days_to_resolve")]
        for col, value in enumerate(values, 2):
            if value is not None:
                ws.write_number(row, col, value, book.count)
    book.filter(ws, len(trend), len(headers))
    if len(trend) > 1:
        chart = book.wb.add_chart({"type": "line"})
        name = ws.get_name().replace("'", "''")
        for i, severity in enumerate(SEVERITIES, 2):
            chart.add_series({"name": [name, 0, i], "categories": [name, 1, 1, len(trend), 1],
                              "values": [name, 1, i, len(trend), i],
                              "line": {"color": SEVERITY_COLOURS[severity][0], "width": 2.25}})
        chart.set_title({"name": L["trend_caption"]})
        chart.set_size({"width": 640, "height": 300})
        ws.insert_chart(len(trend) + 2, 0, chart)


def _write_policies(book: _Book) -> None:
    view, L = book.view, book.labels
    grouped = view.findings_by_policy()
    headers = [
        L[k]
        for k in (
            "id",
            "title",
            "kind",
            "severity",
            "status",
            "findings",
            "pack",
            "controls",
            "description",
            "references",
            "remediation",
            "error",
            "coverage",
            "warning",
            "location",
        )
    ]
    rows = (
        [
            p["id"],
            view.title_of(p["id"]),
            p.get("kind"),
            p.get("severity"),
            view.policy_state(p),
            len(grouped.get(p["id"], [])),
            p.get("pack"),
            ", ".join(p.get("controls") or []),
            localized(p.get("description"), view.lang),
            "\n".join(str(r) for r in p.get("references") or []),
            localized(p.get("remediation"), view.lang),
            p.get("error"),
            "\n".join(view.coverage_lines(p)),
            "\n".join(str(w) for w in p.get("warnings") or []),
            f"{p['file']}:{p.get('line') or ''}".rstrip(":") if p.get("file") else "",
        ]
        for p in view.policies
    )
    ws = book.sheet("sheet_policies")
    book.printable(ws)
    book.table(ws, 0, headers, rows, [11, 40, 20, 10, 9, 9, 20, 14, 50, 40, 50, 30, 40, 40, 30], 3)


def _write_controls(book: _Book) -> None:
    view, L = book.view, book.labels
    headers = [L[k] for k in ("id", "title", "source_clause", "controls_policies", "status", "procedure")]
    rows = (
        [
            c.get("id"),
            localized(c.get("title"), view.lang),
            c.get("source"),
            ", ".join(c.get("policies") or []),
            L.st("manual" if c.get("manual") else c.get("status")),
            localized(c.get("procedure"), view.lang),
        ]
        for c in view.controls
    )
    ws = book.sheet("sheet_controls")
    book.printable(ws)
    book.table(ws, 0, headers, rows, [12, 40, 40, 24, 12, 60])


def _write_fourfold(book: _Book) -> None:
    """四性检测: one row per DA/T 70 item; the Findings sheet's DA/T 70 column filters to its findings."""
    view, L = book.view, book.labels
    if not fourfold.applies(view.doc):
        return
    headers = [L["fourfold_property"], L["fourfold_item"], L["fourfold_check"], L["status"], L.st("pass"),
               L.st("fail"), L.st("not_checked"), L["findings"], L["fourfold_reason"]]
    rows = (
        [heading, i.name, i.check, L.st(i.state), i.count("pass"), i.count("fail"),
         i.count("not_checked"), len(i.findings), i.reason]
        for heading, items in fourfold.table(view.doc, view.lang) for i in items
    )
    ws = book.wb.add_worksheet(L["fourfold"].split(" ")[0].split("(")[0])
    book.printable(ws)
    book.table(ws, 0, headers, rows, [22, 22, 60, 12, 8, 8, 10, 10, 60])


def _write_waivers(book: _Book) -> None:
    view, L = book.view, book.labels
    headers = [L[k] for k in ("policy", "subject", "expires", "status", "matched", "reason", "approved_by")]
    rows = (
        [
            w.get("policy"),
            w.get("subject"),
            w.get("expires"),
            L.st(w.get("status")),
            int(w.get("matched") or 0),
            w.get("reason"),
            w.get("approved_by"),
        ]
        for w in view.waivers
    )
    ws = book.sheet("sheet_waivers")
    book.printable(ws)
    book.table(ws, 0, headers, rows, [12, 36, 12, 10, 9, 50, 16], date_cols=(2,))


def _write_provenance(book: _Book) -> None:
    view, L = book.view, book.labels
    scan, snap = view.scan, view.scan.get("snapshot") or {}
    rows: list[list[Any]] = [
        [L["tool"], f"{view.tool.get('name', 'ledgerguard')} {view.tool.get('version', '')}"],
        [L["command"], scan.get("command")],
        [L["as_of"], scan.get("as_of")],
        [L["timezone"], scan.get("timezone")],
        [L["started_at"], scan.get("started_at")],
        [L["finished_at"], scan.get("finished_at")],
        [L["snapshot"], snap.get("path")],
        [L["snapshot_sha256"], snap.get("sha256")],
        [L["taken_at"], snap.get("taken_at")],
    ]
    if scan.get("change_file"):
        rows.append([L["change_file"], scan["change_file"]])
    if scan.get("command_line"):
        rows.append([L["command_line"], scan["command_line"]])
    selection = (scan.get("selection") or {}).items()
    rows += [[L["selection"], f"--{k.replace('_', '-')} {', '.join(v)}"] for k, v in selection]
    rows += [[L["warnings"], w] for w in scan.get("warnings") or []]
    counts = snap.get("rows") or {}
    rows += [[f"{L['table']}: {t}", h, counts.get(t)] for t, h in sorted((snap.get("tables") or {}).items())]
    rows += [[f"{L['inputs']}: {i.get('role')}", f"{i.get('path')}\n{i.get('sha256')}"]
             for i in scan.get("inputs") or []]
    rows += [
        [f"{L['pack']}: {p.get('name')} {p.get('version', '')}".strip(), p.get("sha256")]
        for p in scan.get("policy_packs") or []
    ]
    rows += [
        [
            f"{L['source']}: {s.get('name')} ({s.get('kind')})",
            " ".join(str(x) for x in (L.st(s.get("status")), s.get("collected_at"), s.get("error")) if x),
        ]
        for s in snap.get("sources") or []
    ]
    ws = book.sheet("sheet_provenance")
    book.printable(ws)
    book.table(ws, 0, [L["field"], L["value"], L["rows"]], ([*r, None][:3] for r in rows), [36, 90, 10])


@FORMATS.register("xlsx")
class ExcelReporter(Reporter):
    filename = "report.xlsx"

    def render(self, doc: dict[str, Any], out_dir: Path, lang: str = "en") -> Path:
        view = View(doc, lang)
        path = out_dir / self.filename
        with atomic_file(path, "wb") as fh:
            book = _Book(fh, view)
            _write_summary(book)
            _write_fourfold(book)
            _write_findings(book, "sheet_findings", view.sorted_findings())
            _write_policies(book)
            _write_controls(book)
            _write_waivers(book)
            if view.doc.get("trend"):
                _write_trend(book)
            if view.resolved:
                _write_findings(book, "sheet_resolved", view.resolved)
            _write_provenance(book)
            book.wb.close()
        return path
