"""archive_store + archive_content through the real CLI on real files: PDF (pikepdf), PDF/A
(XMP pdfaid), encrypted PDF, OFD (ZIP with OFD.xml), XML e-invoice, a ZIP named .pdf, SM3
digests, unlisted files, and the hash cache that a restored mtime no longer fools."""

from __future__ import annotations

import hashlib
import io
import os
import time
import zipfile
from pathlib import Path

import pandas as pd
import pikepdf
import pytest
from connector_helpers import write_sources

from conftest import policy_pack, run_findings

POLICY = """
id: CON-T
kind: archive_content
title: Archive content
severity: high
params:
  pdfa_categories: [会计报告]
  signed_formats: [ofd]
  xml_beside_categories: [电子发票]
  allowed_paths: ["README*"]
  reverify_within_days: 30
"""
INTEGRITY = """
id: INT-T
kind: archive_integrity
title: Integrity
severity: high
"""


def pdf_bytes(*, pdfa: bool = False, password: str | None = None) -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    if pdfa:
        with pdf.open_metadata() as meta:
            meta["pdfaid:part"] = "2"
            meta["pdfaid:conformance"] = "B"
    buf = io.BytesIO()
    pdf.save(buf, encryption=pikepdf.Encryption(owner="o", user=password) if password else False)
    return buf.getvalue()


def zip_bytes(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


OFD_XML = b'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"><ofd:DocBody/></ofd:OFD>'
INVOICE = (b'<?xml version="1.0" encoding="UTF-8"?><EInvoice><Header>'
           b'<InvoiceNumber>24310000000000000001</InvoiceNumber>'
           b'</Header><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignatureValue>AA==</ds:SignatureValue>'
           b'</ds:Signature></EInvoice>')

FILES = {
    "2025/pdfa.pdf": ("会计报告", pdf_bytes(pdfa=True)),
    "2025/plain.pdf": ("会计报告", pdf_bytes()),
    "2025/locked.pdf": ("记账凭证", pdf_bytes(password="secret")),
    "2025/renamed.pdf": ("记账凭证", zip_bytes({"a.txt": b"not a pdf"})),
    "2025/signed.ofd": ("电子发票", zip_bytes({"OFD.xml": OFD_XML, "Doc_0/Signs/Signatures.xml": b"<Signatures/>"})),
    "2025/signed.xml": ("电子发票", INVOICE),
    "2025/unsigned.ofd": ("记账凭证", zip_bytes({"OFD.xml": OFD_XML})),
    "2025/broken.xml": ("记账凭证", b"<?xml version='1.0'?><a><b></a>"),
    "2025/bzip.zip": ("记账凭证", zip_bytes({"a.txt": b"x" * 100}, zipfile.ZIP_BZIP2)),
    "2025/image.pdf": ("电子发票", pdf_bytes()),
    "2025/sm3.pdf": ("记账凭证", pdf_bytes()),
}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    (root / "2025").mkdir(parents=True)
    lines = ["archive_id,category,fiscal_year,path,format,sha256"]
    for i, (rel, (category, data)) in enumerate(FILES.items()):
        (root / rel).write_bytes(data)
        digest = ("sm3:" + hashlib.new("sm3", data).hexdigest()) if "sm3" in rel else hashlib.sha256(data).hexdigest()
        fmt = "ofd" if rel.endswith(".ofd") else rel.rsplit(".", 1)[1]
        lines.append(f"A{i},{category},2025,{rel},{fmt},{digest}")
    (root / "2025" / "stray.pdf").write_bytes(pdf_bytes())  # no catalog row
    (root / "README.txt").write_text("what this folder is")  # allowed by allowed_paths
    (tmp_path / "catalog.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


SOURCE = """
- name: archive
  kind: archive_store
  catalog: catalog.csv
  root: store
  cache: cache.json
"""


def hash_findings(doc: dict) -> set[tuple[str, str]]:
    return {(f["code"], f["subject"]) for f in doc["findings"] if f["code"].startswith("hash_")}


def collect_and_scan(cli, tmp: Path, name: str, *policies: str, as_of: str | None = None) -> dict:
    snap = tmp / f"snap-{name}"
    r = cli("collect", "--sources", write_sources(tmp, SOURCE), "--out", snap)
    assert r.exit_code == 0, r.output
    pack = tmp / "pack.yaml"
    pack.write_text(policy_pack(*(policies or (POLICY, INTEGRITY))), encoding="utf-8")
    as_of = as_of or time.strftime("%Y-%m-%d")
    r = cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", as_of, "--out", tmp / f"out-{name}")
    assert r.exit_code in (0, 1), r.output
    return run_findings(tmp / f"out-{name}")


def test_content_checks_on_real_files(store, cli):
    doc = collect_and_scan(cli, store, "a")
    got = {(f["code"], f["subject"]) for f in doc["findings"]}
    idx = {rel: f"archive:A{i}" for i, rel in enumerate(FILES)}
    assert got == {
        ("not_pdfa", idx["2025/plain.pdf"]),                      # 会计报告 without PDF/A; pdfa.pdf passes
        ("encrypted", idx["2025/locked.pdf"]),
        ("unreadable", idx["2025/locked.pdf"]),                   # a user password: nobody can open it
        ("format_mismatch", idx["2025/renamed.pdf"]),             # a ZIP named .pdf
        ("unsigned", idx["2025/unsigned.ofd"]),
        ("unreadable", idx["2025/broken.xml"]),
        ("nonpublic_compression", idx["2025/bzip.zip"]),
        ("xml_missing", idx["2025/image.pdf"]),                   # e-invoice image with no XML beside
        ("unlisted_file", "file:2025/stray.pdf"),                 # README.txt is allowed
        ("format_not_allowed", idx["2025/renamed.pdf"]),          # archive_integrity: a zip is no archive format
        ("format_not_allowed", idx["2025/bzip.zip"]),
    }
    by = {(f["code"], f["subject"]): f for f in doc["findings"]}
    mismatch = by[("format_mismatch", idx["2025/renamed.pdf"])]
    assert mismatch["evidence"]["format"] == "zip" and mismatch["evidence"]["extension"] == "pdf"
    assert mismatch["dat70"] == "真实性/电子属性一致性"
    assert by[("unlisted_file", "file:2025/stray.pdf")]["dat70"] == "安全性/载体安全性"
    snap = pd.read_csv(store / "snap-a" / "archives.csv", dtype=str, keep_default_na=False).set_index("path")
    assert snap.loc["2025/pdfa.pdf", "pdfa"] == "2B"
    assert snap.loc["2025/signed.ofd", "signed"] == "true" and snap.loc["2025/signed.xml", "signed"] == "true"
    assert snap.loc["2025/sm3.pdf", "hash_algorithm"] == "sm3"
    assert snap.loc["2025/sm3.pdf", "actual_sha256"] == snap.loc["2025/sm3.pdf", "sha256"]
    assert all(snap["fixity_checked_at"] != "")


def test_sm3_digest_that_differs_is_a_mismatch(store, cli):
    cat = store / "catalog.csv"
    text = cat.read_text(encoding="utf-8")
    data = FILES["2025/sm3.pdf"][1]
    # the same file recorded with its SHA-256 under an SM3 label: the SM3 the connector computes differs
    cat.write_text(text.replace("sm3:" + hashlib.new("sm3", data).hexdigest(),
                                "sm3:" + hashlib.sha256(data).hexdigest()), encoding="utf-8")
    doc = collect_and_scan(cli, store, "sm3", INTEGRITY)
    assert hash_findings(doc) == {("hash_mismatch", "archive:A10")}


def test_restored_mtime_does_not_hide_a_tampered_file(store, cli):
    """The bypass: flip one byte, same size, put the mtime back. Before the fix the cache
    (keyed by size + mtime) answered with the old digest and no mismatch was reported."""
    doc = collect_and_scan(cli, store, "before", INTEGRITY)
    assert hash_findings(doc) == set()
    target = store / "store" / "2025" / "plain.pdf"
    st = target.stat()
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF
    time.sleep(0.01)
    target.write_bytes(bytes(data))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert target.stat().st_size == st.st_size and target.stat().st_mtime_ns == st.st_mtime_ns
    doc = collect_and_scan(cli, store, "after", INTEGRITY)
    assert hash_findings(doc) == {("hash_mismatch", "archive:A1")}


def test_reverify_cadence_and_sample(store, cli, tmp_path):
    from ledgerguard.connectors.archive_store import ArchiveStoreConnector

    settings = {"catalog": str(store / "catalog.csv"), "root": str(store / "store"), "cache": str(store / "c.json")}
    first = ArchiveStoreConnector("a", settings, store, "UTC")
    first.collect()
    assert first.files_read == len(FILES)
    again = ArchiveStoreConnector("a", settings, store, "UTC")
    again.collect()
    assert again.files_read == 0
    sampled = ArchiveStoreConnector("a", {**settings, "verify_sample": 1}, store, "UTC")
    sampled.collect()
    assert sampled.files_read == len(FILES)
    due = ArchiveStoreConnector("a", {**settings, "reverify_after_days": 0}, store, "UTC")
    due.collect()
    assert due.files_read == len(FILES)
    # a policy cadence: 30 days after the last real read every file is stale
    later = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 40 * 86400))
    doc = collect_and_scan(cli, store, "late", POLICY, as_of=later)
    stale = {f["subject"] for f in doc["findings"] if f["code"] == "fixity_stale"}
    assert len(stale) == len(FILES)
