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
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def make_server_cert(folder: Path, ca: tuple[Path, Path], names: str) -> tuple[Path, Path]:
    """A server certificate for ``names`` (subjectAltName) signed by ``ca``; (cert, key)."""
    cert, key, csr, ext = (folder / n for n in ("server.pem", "server.key", "server.csr", "ext.cnf"))
    ext.write_text(f"subjectAltName={names}\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n")
    _run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    _run("openssl", "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
         "-out", cert, "-days", "3", "-extfile", ext)
    return cert, key


class Slapd:
    """One slapd process on two free loopback ports (ldap:// and ldaps://)."""

    def __init__(self, root: Path, data_ldif: str, *, size_limit: str | None = None,
                 cert_names: str = "DNS:localhost,IP:127.0.0.1", log_level: str = "0") -> None:
        self.root = root
        self.data_ldif = data_ldif
        self.size_limit = size_limit
        self.log_level = log_level  # slapd -d: "stats" writes every operation to slapd.log
        self.port = free_port()
        self.tls_port = free_port()
        self.proc: subprocess.Popen | None = None
        certs = root / "certs"
        self.ca_file, ca_key = make_ca(certs, "test-ca")
        self.other_ca_file, _ = make_ca(certs, "other-ca")
        self.cert_file, self.key_file = make_server_cert(certs, (self.ca_file, ca_key), cert_names)

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
        # olcAttributeOptions "range=" makes slapd accept AD's ranged subtypes such as
        # member;range=0-2 as tagging options (stored and returned as-is). "-*" is beyond
        # it: '*' is not an attribute-description character, so slapd can neither store
        # member;range=3-* nor answer a request for it (the attribute is ignored).
        # olcSizeLimit as slapd-config(5) spells it; slapd's default is 500, paged or not
        limits = f"olcSizeLimit: {self.size_limit}\n" if self.size_limit else ""
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
olcAttributeOptions: lang- range=

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
            [SLAPD, "-d", self.log_level, "-F", str(conf), "-h",
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
        stop_process(self.proc)

    def kill(self) -> None:
        """SIGKILL by pid: the server vanishes mid-conversation, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def stop_process(proc: subprocess.Popen | None, timeout: float = 15) -> None:
    """SIGTERM by pid, then wait (SIGKILL if it lingers); a test server we started."""
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


# --------------------------------------------------------------------------- test data


def filetime(year: int, month: int, day: int, hour: int = 0) -> int:
    """AD Integer8 ticks (100 ns since 1601-01-01 UTC) of a UTC instant."""
    import datetime as dt

    delta = dt.datetime(year, month, day, hour, tzinfo=dt.UTC) - dt.datetime(1601, 1, 1,
                                                                               tzinfo=dt.UTC)
    return (delta.days * 86400 + delta.seconds) * 10_000_000


def _entry(dn: str, *lines: str) -> str:
    # objectClass lines first: slapadd -q derives the structural class from them alone
    ordered = sorted(lines, key=lambda line: not line.startswith("objectClass:"))
    return f"dn: {dn}\n" + "\n".join(ordered) + "\n\n"


def _ou(name: str) -> str:
    return _entry(f"ou={name},{SUFFIX}", "objectClass: organizationalUnit", f"ou={name}"
                  .replace("=", ": "))


def _person(uid: str, ou: str, *extra: str, cls: str = "inetOrgPerson") -> str:
    return _entry(f"uid={uid},ou={ou},{SUFFIX}", f"objectClass: {cls}", f"uid: {uid}",
                  f"cn: {uid}", f"sn: {uid}", *extra)


def bulk_people_ldif(n: int, ou: str = "bulk") -> str:
    """``n`` plain inetOrgPerson entries under ou=<ou>, plus a group holding all of them."""
    out = [_ou(ou)]
    out += [_person(f"u{i:06d}", ou, f"employeeNumber: B{i:06d}", f"displayName: Bulk User {i}",
                    f"mail: u{i:06d}@example.org", "title: Clerk")
            for i in range(n)]
    members = [f"member: uid=u{i:06d},ou={ou},{SUFFIX}" for i in range(n)]
    out.append(_entry(f"cn={ou}-all,ou={ou},{SUFFIX}", "objectClass: groupOfNames",
                      f"cn: {ou}-all", *members))
    return "".join(out)


def base_ldif() -> str:
    """The suffix, a non-root reader account (subject to the size limit) and ou=system."""
    return (
        _entry(SUFFIX, "objectClass: dcObject", "objectClass: organization", "dc: example",
               "o: Example")
        + _ou("system")
        + _entry(READER_DN, "objectClass: organizationalRole", "objectClass: simpleSecurityObject",
                 "cn: reader", f"userPassword: {READER_PASSWORD}")
    )


def directory_ldif() -> str:
    """The test organisation: one subtree per flavour, nested groups, a referral, 120 bulk users."""
    P = f"ou=people,{SUFFIX}"
    G = f"ou=groups,{SUFFIX}"
    AD = f"ou=ad,{SUFFIX}"
    IPA = f"ou=ipa,{SUFFIX}"
    RANGED = f"ou=ad-ranged,{SUFFIX}"
    people = [
        _person("alice", "people", "objectClass: shadowAccount", "employeeNumber: E001",
                "displayName: Alice Wong", "departmentNumber: Finance", "title: Accountant",
                "employeeType: Active", f"manager: uid=dave,{P}", "mail: alice@example.org",
                "createTimestamp: 20240105083000Z", "pwdChangedTime: 20260301000000Z"),
        _person("bob", "people", "employeeNumber: E002", "displayName: Bob Li",
                "departmentNumber: Finance", "title: Cashier", "employeeType: Terminated",
                "objectClass: hrPerson", "departureDate: 2026-10-31",
                f"pwdAccountLockedTime: {PERMANENT_LOCK}"),
        _person("carol", "people", "objectClass: shadowAccount", "employeeNumber: E003",
                "displayName: Carol Chen", "title: Auditor", "employeeType: Active",
                "pwdAccountLockedTime: 20261120083000Z", "shadowExpire: 20820",
                "objectClass: hrPerson", "departureDate: 20261115160000Z"),
        _person("dave", "people", "employeeNumber: E004", "displayName: Dave Zhao",
                "title: CFO", "employeeType: Leave"),
        _person("eve (temp)", "people", "employeeNumber: E005", "employeeType: Active"),
    ]
    groups = [
        _entry(f"cn=finance,{G}", "objectClass: groupOfNames", "cn: finance",
               f"member: uid=alice,{P}", f"member: cn=gl-posters,{G}"),
        _entry(f"cn=gl-posters,{G}", "objectClass: groupOfNames", "cn: gl-posters",
               f"member: uid=bob,{P}"),
        _entry(f"cn=everyone,{G}", "objectClass: groupOfNames", "cn: everyone",
               f"member: cn=finance,{G}", f"member: UID=Dave, OU=People,{SUFFIX}"),
        # a cycle: each contains the other; carol is in cyc-b
        _entry(f"cn=cyc-a,{G}", "objectClass: groupOfNames", "cn: cyc-a", f"member: cn=cyc-b,{G}"),
        _entry(f"cn=cyc-b,{G}", "objectClass: groupOfNames", "cn: cyc-b", f"member: cn=cyc-a,{G}",
               f"member: uid=carol,{P}"),
        _entry(f"cn=paren (x)*,{G}", "objectClass: groupOfNames", "cn: paren (x)*",
               f"member: uid=eve (temp),{P}"),
    ]
    ad_users = [
        _entry(f"cn=John Doe,{AD}", "objectClass: user", "cn: John Doe", "sn: Doe",
               "sAMAccountName: jdoe", "employeeID: 1001", "userAccountControl: 512",
               "accountExpires: 0", f"lastLogonTimestamp: {filetime(2026, 11, 20, 1)}",
               "whenCreated: 20230102030405.0Z", f"pwdLastSet: {filetime(2026, 9, 1)}",
               "department: Treasury", "title: Treasurer", "employeeStatus: A"),
        _entry(f"cn=Disabled Dan,{AD}", "objectClass: user", "cn: Disabled Dan", "sn: Dan",
               "sAMAccountName: ddan", "employeeID: 1002", "userAccountControl: 514",
               f"accountExpires: {AD_NEVER}", "employeeStatus: T"),
        _entry(f"cn=Locked Liu,{AD}", "objectClass: user", "cn: Locked Liu", "sn: Liu",
               "sAMAccountName: lliu", "employeeID: 1003", "userAccountControl: 512",
               "msDS-User-Account-Control-Computed: 16",
               f"accountExpires: {filetime(2027, 1, 1)}", "lastLogonTimestamp: 0",
               "employeeStatus: A"),
        _entry(f"cn=Stale Bit,{AD}", "objectClass: user", "cn: Stale Bit", "sn: Bit",
               "sAMAccountName: sbit", "userAccountControl: 528",
               "msDS-User-Account-Control-Computed: 0"),
    ]
    ad_users.append(_entry(f"cn=PC01,{AD}", "objectClass: computer", "cn: PC01", "sn: PC01",
                           "sAMAccountName: PC01$", "userAccountControl: 4096"))
    ad_groups = [
        _entry(f"cn=FIN-Payments,{AD}", "objectClass: group", "cn: FIN-Payments",
               f"member: cn=John Doe,{AD}", f"member: cn=FIN-Approvers,{AD}"),
        _entry(f"cn=FIN-Approvers,{AD}", "objectClass: group", "cn: FIN-Approvers",
               f"member: cn=Locked Liu,{AD}"),
        _entry(f"cn=IT-Admins,{AD}", "objectClass: group", "cn: IT-Admins",
               f"member: cn=Disabled Dan,{AD}"),
    ]
    # AD range retrieval as slapd can serve it: member values under ranged subtypes only
    # (no plain member), in chunks. Read in this order with page_size 2, the ranged
    # groups sit on both pages and the nested GL-Reviewers is named only in a later chunk.
    ranged = [
        _entry(f"cn=GL-Everyone,{RANGED}", "objectClass: group", "cn: GL-Everyone",
               f"member;range=0-2: cn=John Doe,{AD}", f"member;range=0-2: cn=Disabled Dan,{AD}",
               f"member;range=0-2: cn=PC01,{AD}", f"member;range=3-4: cn=Stale Bit,{AD}",
               f"member;range=3-4: cn=GL-Reviewers,{RANGED}"),
        _entry(f"cn=GL-Payroll,{RANGED}", "objectClass: group", "cn: GL-Payroll",
               f"member: cn=Disabled Dan,{AD}"),
        _entry(f"cn=GL-Treasury,{RANGED}", "objectClass: group", "cn: GL-Treasury",
               f"member;range=0-0: cn=John Doe,{AD}", f"member;range=1-1: cn=Stale Bit,{AD}"),
        _entry(f"cn=GL-Reviewers,{RANGED}", "objectClass: group", "cn: GL-Reviewers",
               f"member: cn=Locked Liu,{AD}"),
    ]
    ipa = [
        _person("ipa1", "ipa", "objectClass: nsAccount", "nsAccountLock: TRUE",
                "krbLastSuccessfulAuth: 20261101101010Z",
                "krbPrincipalExpiration: 20261231235959Z"),
        _person("ipa2", "ipa", "objectClass: nsAccount", "nsAccountLock: false"),
        _person("ipa3", "ipa"),
        _entry(f"cn=ipausers,{IPA}", "objectClass: groupOfNames", "cn: ipausers",
               f"member: uid=ipa1,{IPA}", f"member: uid=ipa2,{IPA}"),
    ]
    refs = [
        _entry(f"cn=elsewhere,ou=refs,{SUFFIX}", "objectClass: referral",
               "objectClass: extensibleObject", "cn: elsewhere",
               f"ref: ldap://other.example.net/ou=people,{SUFFIX}"),
    ]
    return (base_ldif() + _ou("people") + "".join(people) + _ou("groups") + "".join(groups)
            + _ou("ad") + "".join(ad_users + ad_groups) + _ou("ad-ranged") + "".join(ranged)
            + _ou("ipa") + "".join(ipa)
            + _ou("refs") + "".join(refs) + bulk_people_ldif(120))


PERMANENT_LOCK = "000001010000Z"
AD_NEVER = 0x7FFFFFFFFFFFFFFF


# --------------------------------------------------------------------------- fixtures

PASSWORD_ENV = "LEDGERGUARD_TEST_LDAP_PASSWORD"
PAGING_ONLY_LIMIT = "size.soft=40 size.hard=40 size.prtotal=unlimited"


@pytest.fixture(scope="session")
def slapd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """The shared test directory; a server size limit of 40 forces paging."""
    # 40 per plain search, unlimited in total for a paged one: a client must page
    server = Slapd(tmp_path_factory.mktemp("slapd"), directory_ldif(),
                   size_limit=PAGING_ONLY_LIMIT).start()
    yield server
    server.stop()


@pytest.fixture
def ldap_settings(slapd_server: Slapd, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Settings for the openldap subtree over StartTLS, password from the environment."""
    monkeypatch.setenv(PASSWORD_ENV, READER_PASSWORD)
    return {
        "url": slapd_server.url,
        "flavor": "openldap",
        "bind_dn": READER_DN,
        "password_env": PASSWORD_ENV,
        "ca_file": str(slapd_server.ca_file),
        "base_dn": SUFFIX,
        "user_base_dn": f"ou=people,{SUFFIX}",
        "group_base_dn": f"ou=groups,{SUFFIX}",
        "person_id_attribute": "employeeNumber",
        "page_size": 2,
        "connect_timeout": 3,
        "read_timeout": 5,
    }
