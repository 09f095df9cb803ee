"""A real PostgreSQL server for the tests, on 127.0.0.1 with password (SCRAM) auth.

Uses the Debian ``postgresql`` binaries (installed by scripts/install-system-deps.sh).
PostgreSQL refuses to run as root, so under root the server runs as ``nobody``.
Stopped by its own pid.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SUPERUSER_PASSWORD = "pg-super-test"


def pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lg-pg-"))
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def _as_user(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]

    def start(self) -> PgServer:
        os.chmod(self.dir, 0o755)
        data, pwfile = self.dir / "data", self.dir / "pw"
        pwfile.write_text(SUPERUSER_PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "nobody", "nogroup")
            shutil.chown(pwfile, "nobody", "nogroup")
        subprocess.run([*self._as_user(), pg_bin("initdb"), "-D", str(data), "-U", "postgres",
                        "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True)
        self.proc = subprocess.Popen(
            [*self._as_user(), pg_bin("postgres"), "-D", str(data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}",
             "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.connect().close()
                return self
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError("postgres exited during start-up") from None
                time.sleep(0.1)
        raise RuntimeError("postgres did not start")

    def connect(self, user: str = "postgres", password: str = SUPERUSER_PASSWORD):
        import pg8000.native

        return pg8000.native.Connection(user, host="127.0.0.1", port=self.port, password=password,
                                        database="postgres", timeout=5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
