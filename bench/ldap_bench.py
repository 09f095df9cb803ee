"""LDAP pull throughput: the ldap connector vs bare ldap3 vs ``ldapsearch``, on one local slapd.

Run: ``.venv/bin/python bench/ldap_bench.py [--entries 20000] [--repeat 3]``.
Starts a throwaway slapd (the test one, tests/connectors/slapd.py) with N inetOrgPerson
entries plus one group holding all of them, then times (best of --repeat):

- ``connector users``: LdapConnector.collect() with groups pointed at an empty subtree
  (the same work as the two baselines, plus typing into DataFrames);
- ``connector full``: LdapConnector.collect() including the N-member group and the
  nested-closure pass;
- ``ldap3 paged_search``: ldap3's own generator over the same attributes, entries
  discarded;
- ``ldapsearch -E pr=1000/noprompt``: OpenLDAP's C client, LDIF to /dev/null.

All use page size 1000 over plain LDAP on 127.0.0.1, bound as the same non-root user,
and read the same attributes. Besides wall time, the client's own CPU time is shown
(process time; for ldapsearch its child rusage): on a machine shared with other jobs
the wall clock swings with their load, the CPU cost per entry much less. Figures are
printed, not asserted.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ldap3 import NONE, SUBTREE, Connection, Server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "connectors"))

from slapd import (  # noqa: E402
    READER_DN,
    READER_PASSWORD,
    SUFFIX,
    Slapd,
    _ou,
    base_ldif,
    bulk_people_ldif,
)

from ledgerguard.connectors.ldap import LdapConnector  # noqa: E402

PAGE = 1000
ATTRS = ["uid", "displayName", "cn", "employeeNumber", "pwdAccountLockedTime", "shadowExpire",
         "createTimestamp", "pwdLastSuccess", "authTimestamp", "pwdChangedTime"]


def cpu_seconds() -> float:
    """CPU time of this process (all threads) plus its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def best(fn, repeat: int) -> tuple[float, float, int]:
    """(best wall seconds, best CPU seconds, entries) over ``repeat`` runs."""
    walls, cpus, count = [], [], 0
    for _ in range(repeat):
        c, t = cpu_seconds(), time.perf_counter()
        count = fn()
        walls.append(time.perf_counter() - t)
        cpus.append(cpu_seconds() - c)
    return min(walls), min(cpus), count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    logging.getLogger("ledgerguard").setLevel(logging.ERROR)  # no "no TLS" warning per run
    bulk = f"ou=bulk,{SUFFIX}"
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        server = Slapd(Path(tmp), base_ldif() + _ou("empty") + bulk_people_ldif(args.entries),
                       size_limit="unlimited")
        server.start()
        print(f"slapd with {args.entries} entries ready in {time.perf_counter() - t:.1f}s "
              f"(pid {server.pid})")
        os.environ["LDAP_BENCH_PW"] = READER_PASSWORD
        settings = {"url": server.url, "flavor": "openldap", "bind_dn": READER_DN,
                    "password_env": "LDAP_BENCH_PW", "start_tls": False, "base_dn": SUFFIX,
                    "user_base_dn": bulk, "page_size": PAGE, "person_id_attribute": "employeeNumber"}

        def connector(group_base: str):
            def run() -> int:
                tables = LdapConnector("bench", {**settings, "group_base_dn": group_base},
                                       Path("."), "UTC").collect()
                return len(tables["accounts"])
            return run

        def bare_ldap3() -> int:
            conn = Connection(Server(server.url, get_info=NONE), READER_DN, READER_PASSWORD,
                              auto_bind=True)
            n = sum(1 for _ in conn.extend.standard.paged_search(
                bulk, "(objectClass=inetOrgPerson)", SUBTREE, attributes=ATTRS,
                paged_size=PAGE, generator=True))
            conn.unbind()
            return n

        def ldapsearch() -> int:
            out = subprocess.run(
                ["ldapsearch", "-x", "-LLL", "-H", server.url, "-D", READER_DN, "-y",
                 str(pwfile), "-b", bulk, "-E", f"pr={PAGE}/noprompt",
                 "(objectClass=inetOrgPerson)", *ATTRS],
                check=True, capture_output=True, text=True).stdout
            return out.count("\ndn: ") + out.startswith("dn: ")

        pwfile = Path(tmp) / "pw"
        pwfile.write_text(READER_PASSWORD)  # -y reads it verbatim (no newline)
        try:
            rows = [
                ("connector users", *best(connector(f"ou=empty,{SUFFIX}"), args.repeat)),
                ("connector full (+group, closure)", *best(connector(bulk), args.repeat)),
                ("ldap3 paged_search", *best(bare_ldap3, args.repeat)),
                (f"ldapsearch -E pr={PAGE}/noprompt", *best(ldapsearch, args.repeat)),
            ]
        finally:
            server.stop()
    print(f"{'method':36} {'entries':>8} {'wall s':>8} {'entries/s':>10} {'cpu s':>8} "
          f"{'entries/cpu-s':>13}")
    for name, wall, cpu, n in rows:
        print(f"{name:36} {n:8d} {wall:8.2f} {n / wall:10.0f} {cpu:8.2f} {n / cpu:13.0f}")
    users, bare = rows[0], rows[2]
    print(f"connector users / bare ldap3: {bare[1] / users[1]:.2f}x (wall), "
          f"{bare[2] / users[2]:.2f}x (cpu)")


if __name__ == "__main__":
    main()
