"""A real, throwaway OpenLDAP slapd for the ldap connector tests and bench.

Each ``Slapd`` builds a private cn=config (``slapadd -n0``) and an mdb database
(``slapadd -n1``) in a temp folder, listens on 127.0.0.1 only (plain LDAP with
StartTLS, and LDAPS) with a certificate from a CA made here with the ``openssl``
CLI, and is stopped by its pid. Nothing touches /etc/ldap or the system slapd.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMA_DIR = Path("/etc/ldap/schema")
TEST_SCHEMA = Path(__file__).with_name("ldap_test_schema.ldif")
SUFFIX = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{SUFFIX}"
READER_DN = f"cn=reader,ou=system,{SUFFIX}"
READER_PASSWORD = "Rd-s3cret-Pa55!"  # the bind password the secrets tests hunt for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*args: str | os.PathLike) -> None:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed:\n{proc.stdout}{proc.stderr}")


def make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA (EC P-256); returns (cert, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "3", "-subj", f"/CN={name}",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return cert, key


def make_server_cert(folder: Path, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """A server certificate for localhost / 127.0.0.1 signed by ``ca``; returns (cert, key)."""
    cert, key, csr, ext = (folder / n for n in ("server.pem", "server.key", "server.csr", "ext.cnf"))
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n")
    _run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    _run("openssl", "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
         "-out", cert, "-days", "3", "-extfile", ext)
    return cert, key


class Slapd:
    """One slapd process on two free loopback ports (ldap:// and ldaps://)."""

    def __init__(self, root: Path, data_ldif: str, *, size_limit: int | None = None) -> None:
        self.root = root
        self.data_ldif = data_ldif
        self.size_limit = size_limit
        self.port = free_port()
        self.tls_port = free_port()
        self.proc: subprocess.Popen | None = None
        certs = root / "certs"
        self.ca_file, ca_key = make_ca(certs, "test-ca")
        self.other_ca_file, _ = make_ca(certs, "other-ca")
        self.cert_file, self.key_file = make_server_cert(certs, (self.ca_file, ca_key))

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _config_ldif(self) -> str:
        limits = ""
        if self.size_limit is not None:
            # soft = hard = N for a plain search; paged searches may page past it
            # (prtotal unlimited), which is exactly what forces a client to page.
            limits = (f"olcSizeLimit: size.soft={self.size_limit} size.hard={self.size_limit} "
                      "size.prtotal=unlimited\n")
        includes = "".join(f"include: file://{SCHEMA_DIR / n}.ldif\n"
                           for n in ("core", "cosine", "nis", "inetorgperson"))
        return f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {self.root}/slapd.pid
olcTLSCACertificateFile: {self.ca_file}
olcTLSCertificateFile: {self.cert_file}
olcTLSCertificateKeyFile: {self.key_file}
olcLogLevel: none

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{includes}include: file://{TEST_SCHEMA}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {SUFFIX}
olcRootDN: {ADMIN_DN}
olcRootPW: admin-secret
olcDbDirectory: {self.root}/db
olcDbMaxSize: 1073741824
olcDbIndex: objectClass eq
{limits}olcAccess: {{0}}to attrs=userPassword by anonymous auth by * none
olcAccess: {{1}}to * by users read by * none
"""

    def start(self) -> Slapd:
        conf, db = self.root / "slapd.d", self.root / "db"
        if not conf.exists():
            conf.mkdir(parents=True)
            db.mkdir()
            (self.root / "config.ldif").write_text(self._config_ldif())
            (self.root / "data.ldif").write_text(self.data_ldif)
            _run(SLAPADD, "-n0", "-F", conf, "-l", self.root / "config.ldif")
            _run(SLAPADD, "-q", "-n1", "-F", conf, "-l", self.root / "data.ldif")
        log = open(self.root / "slapd.log", "ab")  # noqa: SIM115 - slapd owns it until stop
        self.proc = subprocess.Popen(
            [SLAPD, "-d", "0", "-F", str(conf), "-h",
             f"ldap://127.0.0.1:{self.port}/ ldaps://127.0.0.1:{self.tls_port}/"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 15
        while not all(_listening(p) for p in (self.port, self.tls_port)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("slapd did not start:\n" + (self.root / "slapd.log").read_text())
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """SIGTERM by pid, then wait (SIGKILL if it lingers)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL by pid: the server vanishes mid-conversation, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False
