"""Word columns (snapshot.py: archives' categories, formats, statuses, … held as pandas
categoricals) and digests (SHA-256 held as 32 bytes) must judge exactly as the text they
replace: every archive policy gives the same findings on the snapshot as read and on the
same tables with those columns as text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import policy_pack
from ledgerguard.scanner.context import Context
from ledgerguard.scanner.engine import evaluate
from ledgerguard.scanner.kinds.base import KINDS, Words, blank
from ledgerguard.scanner.policy import all_policies, load_packs
from ledgerguard.scanner.snapshot import TABLES, digest_text, is_digest, read_snapshot, write_snapshot

WORDS = [c.name for c in TABLES["archives"] if c.type == "word"]
NOW = pd.Timestamp("2026-11-23", tz="UTC")

#: what the built-in pack does not ask: groups with an empty key, id patterns, signatures, PDF/A globs
EXTRA = policy_pack("""
id: CMP-W
kind: archive_completeness
title: completeness by fonds and voucher type
severity: high
params:
  required: [{category: 记账*, every: month}, {category: 总账, every: year}]
  group_by: [fonds, voucher_type]
  id_patterns: {Q001: "Q001-\\\\d{4}", "*": "X-.*"}
""", """
id: CNT-W
kind: archive_content
title: content
severity: high
params: {pdfa_categories: ["*报告"], signed_formats: [ofd, XML], xml_beside_categories: ["记账*"]}
""", """
id: INT-W
kind: archive_integrity
title: integrity
severity: high
params: {required_fields: [title, pdfa, read_error, hash_algorithm, batch_id], allowed_formats: [PDF, ofd]}
""")


def _archives(digests: bool) -> list[dict]:
    """Rows that reach every branch a word column changes: blank and whitespace-only values,
    case and surrounding blanks, empty group keys, a period of no month, statuses to trim.
    ``digests``: every hash is lower-case hex (held as bytes), else some are upper case (text)."""
    blanks = ["", " ", "\u3000", "\t"]
    formats = ["pdf", " PDF ", "ofd", "xml", "", "zip", "jpeg", "JPG"]
    statuses = ["active", " destroyed", "transferred ", "", "active"]
    categories = ["记账凭证", "总账", "年度财务会计报告", "月度报告", "", "原始凭证"]
    rows = []
    for i in range(60):
        rows.append({
            "archive_id": f"Q001-{i:04d}" if i % 7 else f"A-{i}",
            "category": categories[i % len(categories)],
            "fiscal_year": str(2020 + i % 4),
            "title": blanks[i % 4] if i % 3 == 0 else f"title {i % 5}",
            "fonds": ["Q001", "", "Q002", " "][i % 4],
            "period": ["", "3", "2025-07", "Q2", "12"][i % 5],
            "path": f"/a/{i}.pdf",
            "format": formats[i % len(formats)],
            "catalog_format": formats[(i + 1) % len(formats)],
            "extension": formats[(i + 2) % len(formats)].strip().lower(),
            "sha256": None if i % 11 == 0 else f"{i:064x}",
            "actual_sha256": None if i % 5 == 0 else f"{i + (i % 9 == 0):064{'x' if digests or i % 2 else 'X'}}",
            "file_exists": "true" if i % 13 else "false",
            "status": statuses[i % len(statuses)],
            "destroyed_at": "2024-05-01" if i % 6 == 1 else "",
            "destruction_register_id": blanks[i % 4] if i % 2 else "R-1",
            "destruction_approved_by": blanks[(i + 1) % 4] if i % 3 else "boss",
            # (only unnumbered rows have an empty account set or voucher type: a numbered one
            # ends voucher_continuity in error, tests/kinds/test_archive_checks.py)
            "account_set": ["001", "002", " "][i % 3] if i % 4 == 3 else ["001", "002"][i % 2],
            "voucher_type": ["记", "收", "转", [" ", ""][i % 8 == 7]][i % 4],
            "voucher_no": str(1 + (i * 7) % 9) if i % 4 != 3 else "",
            "batch_id": ["B1", "B2", "", " ", "B9"][i % 5],
            "hash_algorithm": ["sha256", "", "SHA256 "][i % 3],
            "read_error": blanks[i % 4] if i % 5 else "bad xref",
            "pdfa": blanks[i % 4] if i % 2 else "2b",
            "signed": "true" if i % 4 == 0 else "",
            "xml_beside": "false",
            "size_bytes": str(100 + i),
            "hold": "true" if i == 7 else "false",
        })
    return rows


def _tables(digests: bool) -> dict[str, pd.DataFrame]:
    batches = pd.DataFrame({"batch_id": ["B1", "B2", "B3"], "declared_count": ["12", "", "1"],
                            "declared_bytes": ["1", "2", "3"]})
    unlisted = pd.DataFrame({"path": ["README.md", "x.pdf"], "size_bytes": ["1", "2"], "format": ["", "pdf"]})
    return {"archives": pd.DataFrame(_archives(digests)), "batches": batches, "unlisted_files": unlisted}


def _as_text(snap):
    """The same snapshot with each word and digest column as the text column it was before."""
    arc = snap.tables["archives"]
    digests = {c: digest_text(arc[c]) for c in arc.columns if is_digest(arc[c])}
    return snap.with_tables(archives=arc.astype({c: "str" for c in WORDS}).assign(**digests))


def _outcomes(snap, packs) -> list[tuple]:
    policies = [p for p in all_policies(packs) if "archives" in KINDS.get(p.kind)(p.params).reads()]
    return [(o.policy.id, o.status, o.error, o.findings) for o in evaluate(policies, Context(snap, NOW))]


@pytest.mark.parametrize(("fmt", "digests"), [("csv", True), ("parquet", True), ("csv", False), ("parquet", False)])
def test_archive_policies_judge_words_as_their_text(fmt: str, digests: bool, tmp_path: Path, write_yaml) -> None:
    path = write_snapshot(tmp_path / "snap", _tables(digests), fmt=fmt)
    snap = read_snapshot(path)
    arc = snap.tables["archives"]
    assert all(isinstance(arc[c].dtype, pd.CategoricalDtype) for c in WORDS)
    assert is_digest(arc["sha256"]) and is_digest(arc["actual_sha256"]) == digests
    assert arc["status"].isna().sum() == 12 and set(arc["status"].dropna()) == {"active", "destroyed", "transferred"}
    packs = [*load_packs(None), *load_packs([write_yaml("extra.yaml", EXTRA)])]
    words, texts = _outcomes(snap, packs), _outcomes(_as_text(snap), packs)
    assert [o[:3] for o in words] == [o[:3] for o in texts]
    assert words == texts
    assert all(status == "fail" for _, status, _, _ in words)  # each policy found something to compare


def test_blank_and_words_of_a_word_column_follow_its_text() -> None:
    values = ["a", None, " ", "\u3000", "", " B ", "a", None, "\t"]
    text = pd.Series(values, dtype="str")
    words = text.astype("category")
    for part in (slice(None), slice(2, None), slice(None, None, -1)):
        assert blank(words.iloc[part]).tolist() == blank(text.iloc[part]).tolist()
        assert blank(words.iloc[part]).index.equals(words.iloc[part].index)
        w, t = Words(words.iloc[part]), Words(text.iloc[part])
        assert [w.words[c] for c in w.codes] == [t.words[c] for c in t.codes]
