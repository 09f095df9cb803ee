"""Notifications after a scan, sent by apprise to a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import DEPARTURE, policy_pack
from conftest import ONE_DEPARTED as TABLES


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A JSON webhook receiver on 127.0.0.1; yields its port and the requests it got."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "body": json.loads(body)})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield str(server.server_address[1]), received
    server.shutdown()


def test_a_failed_scan_is_sent_and_the_url_stays_secret(cli, make_snapshot, write_yaml, tmp_path, webhook,
                                                         monkeypatch):
    port, received = webhook
    monkeypatch.setenv("LG_NOTIFY_URL", f"json://127.0.0.1:{port}/hook-token-4711")
    snap = make_snapshot(TABLES)
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    write_yaml("ledgerguard.yaml", f"""
        snapshot: {snap}
        policies: [{pack}]
        out: out
        notify:
          when: [fail]
          urls: [{{env: LG_NOTIFY_URL}}]
        """)
    r = cli("scan", "--as-of", "2026-11-23", "--format", "json,html", cwd=tmp_path)
    assert r.exit_code == 1, r.output
    assert len(received) == 1 and received[0]["path"] == "/hook-token-4711"
    body = received[0]["body"]
    assert body["title"].startswith("ledgerguard: FAIL")
    assert "open findings: critical 1" in body["message"] and "ACC-001" in body["message"]
    for name in ("findings.json", "report.html"):
        assert "4711" not in (tmp_path / "out" / name).read_text(encoding="utf-8")
    assert "4711" not in r.output


def test_nothing_is_sent_when_no_condition_holds(cli, make_snapshot, write_yaml, tmp_path, webhook, monkeypatch):
    port, received = webhook
    (tmp_path / "url").write_text(f"json://127.0.0.1:{port}/x\n")
    snap = make_snapshot(TABLES)
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    write_yaml("ledgerguard.yaml", f"snapshot: {snap}\npolicies: [{pack}]\nout: out\nnotify:\n  when: [error]\n"
                                   "  urls: [{file: url}]\n")
    assert cli("scan", "--as-of", "2026-11-23", cwd=tmp_path).exit_code == 1
    assert received == []


def test_an_unset_variable_is_bad_input_before_scanning(cli, make_snapshot, write_yaml, tmp_path, monkeypatch):
    monkeypatch.delenv("LG_NOWHERE", raising=False)
    write_yaml("ledgerguard.yaml", f"snapshot: {make_snapshot(TABLES)}\nout: out\nnotify:\n"
                                   "  urls: [{env: LG_NOWHERE}]\n")
    r = cli("scan", cwd=tmp_path)
    assert r.exit_code == 2 and "notify url 1: environment variable LG_NOWHERE is not set" in r.stderr
    assert not (tmp_path / "out").exists()
    r = cli("validate", tmp_path / "ledgerguard.yaml")
    assert r.exit_code == 0, r.output


def test_a_url_written_inline_is_refused(cli, write_yaml, tmp_path):
    cfg = write_yaml("ledgerguard.yaml", "notify:\n  urls: [json://host/token]\n")
    r = cli("validate", cfg)
    assert r.exit_code == 2 and "ledgerguard.yaml:2:10" in r.output


def test_a_receiver_that_is_down_is_a_warning(cli, make_snapshot, write_yaml, tmp_path, monkeypatch):
    monkeypatch.setenv("LG_NOTIFY_URL", "json://127.0.0.1:9/closed")
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    write_yaml("ledgerguard.yaml", f"snapshot: {make_snapshot(TABLES)}\npolicies: [{pack}]\n"
                                   "out: out\nnotify:\n  urls: [{env: LG_NOTIFY_URL}]\n")
    r = cli("scan", "--as-of", "2026-11-23", cwd=tmp_path)
    assert r.exit_code == 1  # the verdict, not the notification, decides
    assert "warning: notify url 1: sending failed" in r.stderr and "closed" not in r.stderr
