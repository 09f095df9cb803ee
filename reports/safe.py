"""Making hostile text inert in the human-facing formats, in one place.

Findings carry text that came from the scanned systems (display names, archive
titles, messages built from them), so anyone who can name an account can try to
inject into the reports: spreadsheet formulas (``=HYPERLINK(...)``, ``@SUM(...)``),
characters XML 1.0 forbids (a JUnit or xlsx file that no parser opens), and bidi
controls (U+202E makes ``exe.txt`` read as ``txt.exe``). Every format except the
JSON contract passes its text through ``clean_text``; xlsx and CSV also pass every
cell through ``neutralise_cell``. HTML escaping is jinja2's job (autoescape on).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ledgerguard.scanner.limits import TEXT_LIMIT, truncate

__all__ = ["as_text", "clean_text", "neutralise_cell", "shown", "spreadsheet_cell", "truncate"]

# OWASP "CSV injection": a cell starting with one of these is read as a formula by
# Excel / LibreOffice / Google Sheets. A leading apostrophe makes it plain text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")

# Characters XML 1.0 does not allow at all (C0 controls other than TAB/LF/CR,
# lone surrogates, U+FFFE/U+FFFF). Also C1 controls and DEL, which are allowed but
# are never legitimate text and render as garbage.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

# Bidirectional formatting controls (embeddings, overrides, isolates, marks that can
# reorder neighbouring text). Replaced by a visible ``<U+202E>`` so an auditor sees
# that the source data held one instead of reading reordered text.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

EXCEL_CELL_LIMIT = 32_767

# One encoder for every evidence value (json.dumps would build one per call).
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(", ", ": ")).encode


def clean_text(text: str) -> str:
    """Strip XML-invalid and control characters; make bidi controls visible.

    Reports pass millions of cells through here, almost all of them harmless:
    ``str.isprintable`` (one C loop) is false for every character either pattern
    matches (categories Cc, Cf, Cs, Cn), so printable text skips both regexes.
    """
    if text.isprintable():
        return text
    text = _XML_INVALID.sub("", text)
    return _BIDI.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def shown(text: str) -> str:
    """One field of a human-facing report (JUnit, SARIF, GitLab, GitHub annotations): cleaned
    and cut to ``limits.TEXT_LIMIT`` characters; findings.json keeps the whole value."""
    return clean_text(truncate(text, TEXT_LIMIT))


def neutralise_cell(text: str) -> str:
    """Prefix text a spreadsheet would read as a formula with an apostrophe."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def as_text(value: Any) -> str:
    """One display string for any JSON value (evidence values, params, …)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return _JSON_TEXT(value)


def spreadsheet_cell(value: Any, limit: int = EXCEL_CELL_LIMIT) -> str:
    """The text of one xlsx/CSV cell: cleaned, neutralised, cut to the cell limit.

    The same steps as ``truncate(neutralise_cell(clean_text(as_text(value))))``,
    inlined because the tabular formats call it once per cell.
    """
    text = value if type(value) is str else as_text(value)
    if not text.isprintable():
        text = clean_text(text)
    if text.startswith(FORMULA_TRIGGERS):
        text = "'" + text
    return text if len(text) <= limit else truncate(text, limit)
