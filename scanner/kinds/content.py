"""archive_content — what the files themselves show (DA/T 70 真实性 / 可用性 / 安全性).

Judges the columns ``archive_store`` reads from each file (docs/connectors.md) for the
archives still in custody, and the ``unlisted_files`` table:

* ``format_mismatch`` (真实性/电子属性一致性): the format identified from the content
  differs from the catalog's ``catalog_format`` or the file's ``extension`` (a ZIP
  named ``.pdf``); judged for files that were read (``actual_sha256`` set);
* ``unreadable`` (可用性/内容数据可读性): the file does not parse as its format;
* ``encrypted`` / ``nonpublic_compression`` (可用性/加密与非公开压缩);
* ``not_pdfa`` (可用性/内容数据格式合规性): a PDF of a category in ``pdfa_categories``
  that claims no PDF/A conformance;
* ``unsigned`` (真实性/固化信息有效性): a file of a format in ``signed_formats`` without
  a signature (an empty ``signed`` is no signature: §5.1, empty booleans are false);
* ``xml_missing`` (完整性/附件数据完整性): a PDF / OFD image of a category in
  ``xml_beside_categories`` with no signed XML original of the same name beside it;
* ``fixity_stale`` (真实性/固化信息有效性): with ``reverify_within_days`` set, a file not
  really read (``fixity_checked_at``) within that many days;
* ``unlisted_file`` (安全性/载体安全性): a file under the archive root that no catalog
  row names and no ``allowed_paths`` glob allows.
"""

from __future__ import annotations

from ..context import Context, glob_mask
from ..lazy import numpy as np
from ..lazy import pandas as pd
from .base import KINDS, PolicyKind, Words, blank, concat_findings, emit_where, text
from .integrity import archive_subject, in_custody

SYNONYMS = {"jpeg": "jpg", "jfif": "jpg", "tiff": "tif"}
EVIDENCE = ["category", "path", "format"]
GLOBS = {"type": "array", "items": {"type": "string", "minLength": 1}, "default": []}


class _Formats:
    """Format words (``format``, ``catalog_format``, ``extension``) stripped, lower-cased and
    with synonyms folded (jpeg = jpg), as integer ids of one vocabulary (0: empty): equal ids,
    equal words. Each distinct value is folded once instead of text operations on 1M rows."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {"": 0}

    def codes(self, s: pd.Series) -> np.ndarray:
        words = Words(s)
        return np.array([self.id(SYNONYMS.get(w, w)) for w in words.words], dtype="int64")[words.codes]

    def id(self, word: str) -> int:
        return self.ids.setdefault(word, len(self.ids))

    def among(self, codes: np.ndarray, words: list[str]) -> np.ndarray:
        """Which ``codes`` are one of ``words`` as written (lower-cased, no synonym folding): a
        lookup table over the vocabulary, not a set search per row."""
        table = np.zeros(len(self.ids), dtype=bool)
        table[[self.ids[w.lower()] for w in words if w.lower() in self.ids]] = True
        return table[codes]


def _true(s: pd.Series) -> pd.Series:
    return s.fillna(False).astype(bool)


def _name(rows: pd.DataFrame) -> pd.Series:
    return "archive " + text(rows["archive_id"]) + " (" + text(rows["path"]) + ")"


@KINDS.register("archive_content")
class ArchiveContent(PolicyKind):
    subject = "archive (archive:ARCHIVE_ID); unlisted files file:PATH"
    tables = ("archives",)
    codes = {
        "format_mismatch": "format read from the content differs from the catalog's format or the extension",
        "unreadable": "the file does not parse as its format",
        "encrypted": "the file (or a ZIP entry) is encrypted",
        "nonpublic_compression": "compressed with a non-public method",
        "not_pdfa": "a PDF that claims no PDF/A conformance where PDF/A is required",
        "unsigned": "no signature in a format that must be signed",
        "xml_missing": "no signed XML original beside the e-invoice image",
        "fixity_stale": "the file was not re-read within reverify_within_days",
        "unlisted_file": "a file in the archive folder that no catalog row names",
    }
    dat70 = {
        "format_mismatch": "真实性/电子属性一致性", "unreadable": "可用性/内容数据可读性",
        "encrypted": "可用性/加密与非公开压缩", "nonpublic_compression": "可用性/加密与非公开压缩",
        "not_pdfa": "可用性/内容数据格式合规性", "unsigned": "真实性/固化信息有效性",
        "xml_missing": "完整性/附件数据完整性", "fixity_stale": "真实性/固化信息有效性",
        "unlisted_file": "安全性/载体安全性",
    }
    params_schema = {
        "type": "object",
        "properties": {
            "pdfa_categories": {**GLOBS, "description": "Categories (globs) whose PDFs must claim PDF/A."},
            "signed_formats": {**GLOBS, "description": "Formats (e.g. ofd, xml) that must carry a signature."},
            "xml_beside_categories": {**GLOBS, "description": "Categories (globs) whose PDF / OFD images need "
                                      "the signed XML original of the same name beside them."},
            "reverify_within_days": {"type": ["integer", "null"], "minimum": 0, "default": None,
                                     "description": "Each file must have been re-read within this many days "
                                     "(fixity_checked_at); null: no cadence."},
            "check_unlisted": {"type": "boolean", "default": True,
                               "description": "Judge the unlisted_files table (required then)."},
            "allowed_paths": {**GLOBS, "description": "Unlisted files (path globs) that are fine, e.g. "
                              "'README*', '*/Thumbs.db'."},
        },
    }

    def reads(self) -> tuple[str, ...]:
        return ("archives", "unlisted_files") if self.params["check_unlisted"] else ("archives",)

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        arc = ctx.table("archives")
        p = self.params
        held = in_custody(arc) & _true(arc["file_exists"])
        self.cover(int(held.sum()), "archive files in custody")
        read = held & ~blank(arc["actual_sha256"])
        words = _Formats()
        fmt, catalog, ext = (words.codes(arc[c]) for c in ("format", "catalog_format", "extension"))
        mismatch = read & (((catalog != 0) & (catalog != fmt)) | ((ext != 0) & (ext != fmt)))
        days = p["reverify_within_days"]
        stale = pd.Series(False, index=arc.index)
        if days is not None:
            stale = held & (arc["fixity_checked_at"].isna() | (ctx.days_since(arc["fixity_checked_at"]) > days))
        images = words.among(fmt, ["pdf", "ofd"])
        no_error = blank(arc["read_error"])
        checks = [
            ("format_mismatch", mismatch, lambda r: _name(r) + " is " + text(r["format"]) + " by its content, "
             "catalogued as " + text(r["catalog_format"]).replace("", "-") + ", named ." + text(r["extension"])),
            ("unreadable", held & ~no_error, lambda r: _name(r) + ": " + text(r["read_error"])),
            ("encrypted", held & _true(arc["encrypted"]), lambda r: _name(r) + " is encrypted"),
            ("nonpublic_compression", held & _true(arc["nonpublic_compression"]),
             lambda r: _name(r) + " uses a non-public compression method"),
            ("not_pdfa", read & words.among(fmt, ["pdf"]) & glob_mask(arc["category"], p["pdfa_categories"])
             & blank(arc["pdfa"]) & no_error, lambda r: _name(r) + " claims no PDF/A conformance"),
            ("unsigned", read & words.among(fmt, p["signed_formats"]) & ~_true(arc["signed"]),
             lambda r: _name(r) + " carries no signature"),
            ("xml_missing", read & images & glob_mask(arc["category"], p["xml_beside_categories"])
             & ~_true(arc["xml_beside"]),
             lambda r: _name(r) + " has no signed XML original beside it"),
            ("fixity_stale", stale, lambda r: _name(r) + " was last re-read "
             + text(r["fixity_checked_at"]).replace("", "never") + f", more than {days} days ago"),
        ]
        evidence = [*EVIDENCE, "catalog_format", "extension", "read_error", "encrypted", "pdfa", "signed",
                    "fixity_checked_at"]
        # only the columns findings show: each check's rows are taken from this frame, not all of archives'
        shown = arc[["archive_id", *evidence]]
        parts = [emit_where(shown, mask, code=code, message=message, subject=archive_subject, evidence=evidence)
                 for code, mask, message in checks]
        if p["check_unlisted"]:
            parts.append(self._unlisted(ctx.table("unlisted_files")))
        return concat_findings(parts)

    def _unlisted(self, files: pd.DataFrame) -> pd.DataFrame:
        allowed = glob_mask(files["path"], self.params["allowed_paths"])
        return emit_where(files, ~allowed, code="unlisted_file",
                          subject=lambda r: "file:" + text(r["path"]),
                          message=lambda r: "file " + text(r["path"]) + " is in the archive folder but no catalog "
                          "row names it", evidence=["path", "size_bytes", "format"])
