"""A real, throwaway Samba AD DC for the Active Directory tests.

``SambaDC`` provisions a domain (``samba-tool domain provision``, no DNS) in a temp
folder with its own smb.conf, private, state, cache and lock directories, adds the
test organisation offline with one ``ldbadd`` of an LDIF (seconds for 1,100 users,
where a ``samba-tool user create`` per user would take minutes), then runs ``samba``
in the foreground with only its LDAP service, on 127.0.0.1, with a certificate from a
CA made here, and stops it by its pid. Nothing under /etc/samba or /var/lib/samba is
touched. Samba's LDAP ports are fixed (389 and 636): if another process holds them,
the fixture fails saying so.
"""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from slapd import _listening, _run, filetime, make_ca, make_server_cert, stop_process

REALM, DOMAIN = "CORP.EXAMPLE", "CORP"
BASE = "DC=corp,DC=example"
STAFF, GROUPS = f"OU=Staff,{BASE}", f"OU=Groups,{BASE}"
READER = "svc-ledgerguard"
READER_DN = f"CN={READER},OU=Service,{BASE}"
READER_PASSWORD = "Rd-Samba-Pa55!w0rd"
ADMIN_PASSWORD = "Adm1n-Samba-Pa55!"
BULK = 1100  # more than AD's MaxPageSize of 1000
NEVER = 0x7FFFFFFFFFFFFFFF

# userAccountControl: NORMAL_ACCOUNT (0x200) | PASSWD_NOTREQD (0x20): enabled without a
# password (Samba refuses an enabled account whose empty password breaks the policy)
ENABLED, DISABLED = 0x220, 0x222


class SambaDC:
    """One provisioned domain; ``start()`` runs samba, ``stop()`` ends it by pid."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.target = root / "dc"
        self.conf = self.target / "etc" / "smb.conf"
        self.sam = self.target / "private" / "sam.ldb"
        self.proc: subprocess.Popen | None = None
        certs = root / "certs"
        self.ca_file, ca_key = make_ca(certs, "samba-test-ca")
        self.cert_file, self.key_file = make_server_cert(certs, (self.ca_file, ca_key),
                                                         "DNS:localhost,IP:127.0.0.1")
        self.key_file.chmod(0o600)  # samba refuses a key others can read

    url = "ldaps://127.0.0.1:636"

    def provision(self) -> SambaDC:
        options = {
            "interfaces": "127.0.0.1", "bind interfaces only": "yes",
            "server services": "ldap", "log file": str(self.root / "samba.log"),
            "tls enabled": "yes", "tls keyfile": str(self.key_file),
            "tls certfile": str(self.cert_file), "tls cafile": str(self.ca_file),
        }
        _run("samba-tool", "domain", "provision", f"--realm={REALM}", f"--domain={DOMAIN}",
             "--server-role=dc", "--dns-backend=NONE", "--use-rfc2307",
             f"--adminpass={ADMIN_PASSWORD}", "--host-name=dc1", f"--targetdir={self.target}",
             *(f"--option={k} = {v}" for k, v in options.items()))
        return self

    def ldbadd(self, ldif: str) -> None:
        """Adds (or, with ``changetype: modify`` entries, changes) entries offline."""
        path = self.root / "add.ldif"
        path.write_text(ldif, encoding="utf-8")
        _run("ldbmodify", "-H", self.sam, path)

    def set_primary_group(self, user_cn: str, group_cn: str) -> None:
        """Makes ``group_cn`` the user's primary group, as an AD admin does (AD then
        drops the user from the group's ``member``: the membership lives in primaryGroupID)."""
        out = subprocess.run(["ldbsearch", "-H", str(self.sam), f"(cn={group_cn})",
                              "primaryGroupToken"], capture_output=True, text=True, check=True)
        (rid,) = [line.split(": ")[1] for line in out.stdout.splitlines()
                  if line.startswith("primaryGroupToken: ")]
        self.ldbadd(_entry(user_dn(user_cn), "replace: primaryGroupID", f"primaryGroupID: {rid}",
                           change="modify"))

    def samba_tool(self, *args: str) -> list[str]:
        """What Samba itself answers (run on the database file, as an admin would)."""
        proc = subprocess.run(["samba-tool", *args, "-H", str(self.sam), "-s", str(self.conf)],
                              capture_output=True, text=True, check=True)
        return [line for line in proc.stdout.splitlines() if line.strip()]

    def start(self) -> SambaDC:
        for port in (389, 636):
            if _listening(port):
                raise RuntimeError(f"cannot start the Samba AD DC: 127.0.0.1:{port} is already in "
                                   "use (Samba's LDAP ports are fixed); stop whatever holds it")
        log = open(self.root / "samba.out", "ab")  # noqa: SIM115 - samba owns it until stop
        self.proc = subprocess.Popen(["samba", "-i", "-M", "single", "-s", str(self.conf)],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 60
        while not _listening(636):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("samba did not start:\n"
                                   + (self.root / "samba.out").read_text(errors="replace"))
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        stop_process(self.proc)


# --------------------------------------------------------------------------- test data


def _entry(dn: str, *lines: str, change: str = "add") -> str:
    end = "\n-" if change == "modify" else ""
    return f"dn: {dn}\nchangetype: {change}\n" + "\n".join(lines) + end + "\n\n"


def _user(cn: str, sam: str, employee_id: str | None, uac: int = ENABLED,
          expires: int = NEVER, ou: str = STAFF, *extra: str) -> str:
    return _entry(f"CN={cn},{ou}", "objectClass: user", f"sAMAccountName: {sam}",
                  f"userAccountControl: {uac}", f"accountExpires: {expires}",
                  f"displayName: {cn.replace(chr(92), '')}",
                  *([f"employeeID: {employee_id}"] if employee_id else []), *extra)


def _group(cn: str, *members: str) -> str:
    return _entry(f"CN={cn},{GROUPS}", "objectClass: group", f"sAMAccountName: {cn}",
                  *(f"member: {m}" for m in members))


def user_dn(cn: str) -> str:
    return f"CN={cn},{STAFF}"


def organisation_ldif() -> str:
    """The test organisation.

    alice's primary group is FIN-GL-Posting (AD then keeps her out of its ``member``);
    bob has left but is enabled; carol is disabled; dave is locked out; erin expired
    in 2025; 张伟 has a Chinese CN; "Li, Lei" an escaped comma; 1,100 bulk users; the
    built-in Guest is enabled.
    """
    unicode_pwd = ('"' + READER_PASSWORD + '"').encode("utf-16-le")

    adds = [_entry(f"OU={ou},{BASE}", "objectClass: organizationalUnit")
            for ou in ("Staff", "Groups", "Service")]
    adds.append(_entry(READER_DN, "objectClass: user", f"sAMAccountName: {READER}",
                       f"unicodePwd:: {base64.b64encode(unicode_pwd).decode()}",
                       "userAccountControl: 66048"))  # NORMAL | DONT_EXPIRE_PASSWORD
    adds += [
        _user("Alice Wong", "alice", "E001"),
        _user("Bob Li", "bob", "E002"),
        _user("Carol Chen", "carol", "E003", DISABLED),
        _user("Dave Zhao", "dave", "E004", ENABLED, NEVER, STAFF,
              f"lockoutTime: {filetime(2030, 1, 1)}"),
        _user("Erin Wu", "erin", "E005", ENABLED, filetime(2025, 6, 30, 16)),
        _user("张伟", "zhangwei", "E006"),
        _user("Li\\, Lei", "lilei", "E007"),
        *(_user(f"Bulk User {i:04d}", f"u{i:04d}", f"B{i:04d}") for i in range(BULK)),
    ]
    adds += [
        _group("FIN-GL-Posting", user_dn("Alice Wong")),
        _group("FIN-Approvers", user_dn("张伟"), user_dn("Li\\, Lei")),
        _group("FIN-Payments", user_dn("Bob Li"), f"CN=FIN-Approvers,{GROUPS}"),
        _group("FIN-Audit", user_dn("Carol Chen"), user_dn("Erin Wu"), user_dn("Dave Zhao")),
        _group("FIN-Bulk", *(user_dn(f"Bulk User {i:04d}") for i in range(BULK))),
    ]
    adds.append(_entry(f"CN=Guest,CN=Users,{BASE}", "replace: userAccountControl",
                       "userAccountControl: 66080", change="modify"))  # enabled
    return "".join(adds)


PASSWORD_ENV = "LEDGERGUARD_TEST_AD_PASSWORD"


@pytest.fixture(scope="session")
def samba_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaDC]:
    """The provisioned, populated, running test domain (once per session, ~15 s)."""
    dc = SambaDC(tmp_path_factory.mktemp("samba"))
    try:
        dc.provision()
        dc.ldbadd(organisation_ldif())
        dc.set_primary_group("Alice Wong", "FIN-GL-Posting")
        dc.start()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        dc.stop()
        pytest.fail(f"the Samba AD DC for the Active Directory tests could not be started: {exc}",
                    pytrace=False)
    yield dc
    dc.stop()
