"""archive_integrity — the automatable part of 四性检测 (DA/T 70-2018) (SPEC §5, §5.1).

For each archive record:

* files and hashes (真实性/完整性), only for archives still in custody — destroyed
  (status ``destroyed`` or ``destroyed_at`` set) and transferred ones have left it and
  are skipped:
  ``hash_missing`` (no recorded ``sha256``), ``file_missing`` (``file_exists`` false or
  empty), ``hash_mismatch`` (recorded ≠ ``actual_sha256``, compared case-insensitively)
  and ``not_verified``: the file exists but no ``actual_sha256`` was computed, so
  nothing shows the file is intact (judged when a sha256 is recorded). It is reported rather than passed silently, with
  its own severity (``not_verified_severity`` [low]) since it is a gap in the evidence
  rather than proof of tampering;
* ``format_not_allowed`` (可用性): ``format`` (a lower-case type name such as pdf — PDF/A
  is ``pdf`` — ofd, xml, jpg, png, tif) not in ``allowed_formats``, compared
  case-insensitively; an empty format is not allowed either;
* ``metadata_missing``: one finding per archive listing its empty ``required_fields``.
"""

from __future__ import annotations

from typing import Any

from ..context import Context
from ..errors import TableUnavailable
from ..lazy import numpy as np
from ..lazy import pandas as pd
from ..snapshot import digest_text, is_digest
from .base import KINDS, SEVERITY, PolicyKind, Words, blank, concat_findings, emit, emit_where, text

LEFT_CUSTODY = ("destroyed", "transferred")
#: archive columns every file/hash/format finding shows
EVIDENCE = ["category", "fiscal_year", "path", "format", "sha256", "actual_sha256", "file_exists", "status"]


def in_custody(arc: pd.DataFrame) -> pd.Series:
    """Archives still held: like retention_period, a destroyed_at date means destroyed
    whatever the status says."""
    held = Words(arc["status"]).where(lambda w: w not in LEFT_CUSTODY)
    return pd.Series(held, index=arc.index) & arc["destroyed_at"].isna()


def archive_subject(rows: pd.DataFrame) -> pd.Series:
    return "archive:" + rows["archive_id"].astype("str")


def _name(rows: pd.DataFrame) -> pd.Series:
    return "archive " + rows["archive_id"]


def _where(rows: pd.DataFrame) -> pd.Series:
    return " (" + text(rows["path"]).replace("", "no path") + ")"


def _differ(recorded: pd.Series, actual: pd.Series) -> pd.Series:
    """Digests that differ ignoring case and surrounding blanks; only the few pairs that
    are not byte-equal are normalised. Two columns of 32-byte digests (snapshot.py) compare
    as bytes: lower-case hex, equal bytes, equal text."""
    if is_digest(recorded) and is_digest(actual):
        return (recorded != actual).fillna(True).astype(bool)
    recorded, actual = (digest_text(s) if is_digest(s) else s for s in (recorded, actual))
    out = (recorded.astype("str") != actual.astype("str")).fillna(True).to_numpy(dtype=bool, copy=True)
    at = np.flatnonzero(out)
    if len(at):  # (positions, not a mask assigned to a Series: that aligned 1M index labels, ~40 ms)
        def norm(s: pd.Series) -> pd.Series:
            return s.take(at).astype("str").str.strip().str.lower()
        out[at] = (norm(recorded) != norm(actual)).fillna(True).to_numpy(dtype=bool)
    return pd.Series(out, index=recorded.index)


@KINDS.register("archive_integrity")
class ArchiveIntegrity(PolicyKind):
    subject = "archive (archive:ARCHIVE_ID)"
    tables = ("archives",)
    codes = {
        "hash_missing": "no sha256 recorded for an archive in custody",
        "file_missing": "the archived file does not exist (file_exists false or empty)",
        "hash_mismatch": "recorded sha256 differs from the file's actual_sha256",
        "not_verified": "the file exists but no actual_sha256 was computed",
        "format_not_allowed": "format is empty or not in allowed_formats",
        "metadata_missing": "required metadata fields are empty",
    }
    dat70 = {
        "hash_missing": "真实性/固化信息有效性", "hash_mismatch": "真实性/固化信息有效性",
        "not_verified": "真实性/固化信息有效性", "file_missing": "真实性/元数据与内容关联一致性",
        "format_not_allowed": "可用性/内容数据格式合规性", "metadata_missing": "完整性/元数据完整性",
    }
    params_schema = {
        "type": "object",
        "properties": {
            "allowed_formats": {"type": "array", "items": {"type": "string", "minLength": 1},
                                "default": ["ofd", "pdf", "xml", "jpg", "jpeg", "png", "tif", "tiff"],
                                "description": "Allowed values of archives.format (case-insensitive)."},
            "required_fields": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": [],
                                "description": "archives columns that must not be empty."},
            "not_verified_severity": {**SEVERITY, "default": "low",
                                      "description": "Severity of not_verified findings."},
        },
    }

    @classmethod
    def check(cls, params: dict[str, Any]) -> list[tuple[tuple, str]]:
        fields = params.get("required_fields") or []
        return [(("required_fields", i), f"{f!r} is listed twice") for i, f in enumerate(fields)
                if f in fields[:i]]

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        arc = ctx.table("archives")
        self.cover(len(arc), "archives")
        missing_cols = [f for f in self.params["required_fields"] if f not in arc.columns]
        if missing_cols:
            raise TableUnavailable(f"table 'archives' has no column(s) {', '.join(missing_cols)} "
                                   "named in required_fields")
        # only the columns findings use: every finding's rows are taken from this frame
        arc = arc[list(dict.fromkeys(["archive_id", *EVIDENCE, "destroyed_at", *self.params["required_fields"]]))]
        custody = in_custody(arc)
        recorded, actual = blank(arc["sha256"]), blank(arc["actual_sha256"])
        exists = arc["file_exists"]
        allowed = [f.lower() for f in self.params["allowed_formats"]]
        # an empty or blank format is not allowed either: its folded text is ""
        not_allowed = pd.Series(Words(arc["format"]).where(lambda w: w not in allowed), index=arc.index)
        checks = [
            ("hash_missing", custody & recorded, lambda r: _name(r) + " has no recorded sha256"),
            ("file_missing", custody & ~exists, lambda r: _name(r) + " file is missing" + _where(r)),
            ("hash_mismatch", custody & exists & ~recorded & ~actual & _differ(arc["sha256"], arc["actual_sha256"]),
             lambda r: _name(r) + " file's sha256 differs from the recorded one" + _where(r)),
            ("not_verified", custody & exists & ~recorded & actual,
             lambda r: _name(r) + " file was not hashed, its integrity is unverified" + _where(r)),
            ("format_not_allowed", not_allowed,
             lambda r: _name(r) + " has format " + text(r["format"]).replace("", "(empty)") + ", allowed: "
             + ", ".join(allowed)),
        ]
        severity = {"not_verified": self.params["not_verified_severity"]}
        parts = [emit_where(arc, mask, code=code, message=message, subject=archive_subject, evidence=EVIDENCE,
                            severity=severity.get(code))
                 for code, mask, message in checks]
        parts.append(self._metadata(arc))
        return concat_findings(parts)

    def _metadata(self, arc: pd.DataFrame) -> pd.DataFrame:
        fields = self.params["required_fields"]
        if not fields:
            return concat_findings([])
        empty = np.column_stack([blank(arc[f]).to_numpy(dtype=bool) for f in fields])
        lacking = empty.any(axis=1)
        rows = arc[lacking]
        if rows.empty:
            return concat_findings([])
        # each row's set of empty fields as a bit pattern; the field list is built once per pattern
        pattern = empty[lacking] @ (1 << np.arange(len(fields)))
        names = {int(b): [f for i, f in enumerate(fields) if int(b) >> i & 1] for b in np.unique(pattern)}
        missing = pd.Series(pattern, index=rows.index).map(names)
        return emit(rows, code="metadata_missing", subject=archive_subject(rows),
                    message=_name(rows) + " lacks " + missing.str.join(", "),
                    evidence={"missing_fields": missing, "category": rows["category"],
                              "fiscal_year": rows["fiscal_year"]})
