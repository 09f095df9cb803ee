"""The ldap connector against a real OpenLDAP slapd (see slapd.py): no mocks."""

from __future__ import annotations

import logging
import re
import socket
import textwrap
import threading
from pathlib import Path

import pandas as pd
import pytest
from ldap3 import BASE, SUBTREE, Connection, Server
from ldap3.utils import log as ldap3_log
from slapd import (
    PASSWORD_ENV,
    READER_DN,
    READER_PASSWORD,
    SUFFIX,
    Slapd,
    base_ldif,
    bulk_people_ldif,
    directory_ldif,
)

from ledgerguard.connectors.base import CONNECTORS, ConnectorError
from ledgerguard.connectors.ldap import LdapConnector, norm_dn, ranged
from ledgerguard.connectors.sources import load_sources
from ledgerguard.scanner.errors import InputError

TZ = "Asia/Shanghai"


def collect(settings: dict, base_dir: Path = Path("."), tz: str = TZ) -> dict[str, pd.DataFrame]:
    return CONNECTORS.get("ldap")("corp", settings, base_dir, tz).collect()


def by_id(df: pd.DataFrame) -> dict[str, dict]:
    return {r["account_id"]: r for r in df.to_dict("records")}


def roles(grants: pd.DataFrame) -> dict[str, set[str]]:
    return {a: set(g["role"]) for a, g in grants.groupby("account_id")}


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# --------------------------------------------------------------------------- flavours


def test_openldap_accounts_locks_and_expiry(ldap_settings):
    tables = collect(ldap_settings)
    acc = by_id(tables["accounts"])
    assert set(acc) == {"alice", "bob", "carol", "dave", "eve (temp)"}
    assert acc["alice"]["system"] == "corp"
    assert acc["alice"]["person_id"] == "E001"
    assert acc["alice"]["display_name"] == "Alice Wong"
    assert acc["alice"]["enabled"] and not acc["alice"]["locked"]
    assert acc["alice"]["created_at"] == utc("2024-01-05T08:30:00")
    assert acc["alice"]["password_last_set"] == utc("2026-03-01")
    # 000001010000Z: ppolicy's permanent lock = administratively disabled
    assert not acc["bob"]["enabled"] and acc["bob"]["locked"]
    # a dated lock is a lockout, not a disabled account; shadowExpire 20820 days = 2027-01-02
    assert acc["carol"]["enabled"] and acc["carol"]["locked"]
    assert acc["carol"]["expires_at"] == utc("2027-01-02")
    assert pd.isna(acc["dave"]["expires_at"])
    for col in ("expires_at", "created_at", "last_login_at", "password_last_set"):
        assert str(tables["accounts"][col].dtype) == f"datetime64[us, {TZ}]"


def test_active_directory_semantics(ldap_settings):
    settings = {**ldap_settings, "flavor": "active_directory", "user_base_dn": f"ou=ad,{SUFFIX}",
                "group_base_dn": f"ou=ad,{SUFFIX}", "person_id_attribute": "employeeID"}
    tables = collect(settings, tz="UTC")
    acc = by_id(tables["accounts"])
    assert set(acc) == {"jdoe", "ddan", "lliu", "sbit"}  # the computer PC01$ is not a user
    assert acc["jdoe"]["person_id"] == "1001"
    assert acc["jdoe"]["enabled"] and not acc["jdoe"]["locked"]
    assert pd.isna(acc["jdoe"]["expires_at"])  # accountExpires 0 = never
    assert acc["jdoe"]["last_login_at"] == utc("2026-11-20T01:00:00")
    assert acc["jdoe"]["created_at"] == utc("2023-01-02T03:04:05")
    assert acc["jdoe"]["password_last_set"] == utc("2026-09-01")
    assert not acc["ddan"]["enabled"]  # 514 = NORMAL_ACCOUNT | ACCOUNTDISABLE
    assert pd.isna(acc["ddan"]["expires_at"])  # 0x7FFFFFFFFFFFFFFF = never
    assert acc["lliu"]["locked"]  # msDS-User-Account-Control-Computed has UF_LOCKOUT
    assert acc["lliu"]["expires_at"] == utc("2027-01-01")
    assert pd.isna(acc["lliu"]["last_login_at"])  # lastLogonTimestamp 0 = never
    # a stale UF_LOCKOUT in the stored userAccountControl loses to the computed attribute
    assert not acc["sbit"]["locked"]
    assert roles(tables["grants"]) == {"jdoe": {"FIN-Payments"}, "ddan": {"IT-Admins"},
                                       "lliu": {"FIN-Approvers", "FIN-Payments"}}


def test_freeipa_nsaccountlock(ldap_settings):
    settings = {**ldap_settings, "flavor": "freeipa", "user_base_dn": f"ou=ipa,{SUFFIX}",
                "group_base_dn": f"ou=ipa,{SUFFIX}"}
    acc = by_id(collect(settings, tz="UTC")["accounts"])
    assert not acc["ipa1"]["enabled"]  # nsAccountLock: TRUE
    assert acc["ipa2"]["enabled"] and acc["ipa3"]["enabled"]  # "false" and absent
    assert acc["ipa1"]["last_login_at"] == utc("2026-11-01T10:10:10")
    assert acc["ipa1"]["expires_at"] == utc("2026-12-31T23:59:59")


# --------------------------------------------------------------------------- groups


def test_nested_group_closure(ldap_settings):
    grants = collect(ldap_settings)["grants"]
    assert roles(grants) == {
        "alice": {"finance", "everyone"},  # everyone ⊃ finance ∋ alice
        "bob": {"gl-posters", "finance", "everyone"},  # everyone ⊃ finance ⊃ gl-posters ∋ bob
        "carol": {"cyc-a", "cyc-b"},  # a membership cycle ends
        "dave": {"everyone"},  # member DN spelled "UID=Dave, OU=People,…"
        "eve (temp)": {"paren (x)*"},
    }
    via = {(r["account_id"], r["role"]): r["via"] for r in grants.to_dict("records")}
    assert pd.isna(via[("bob", "gl-posters")])
    assert via[("bob", "finance")] == "gl-posters"
    assert set(grants["system"]) == {"corp"}


def test_group_names_are_escaped_in_the_filter(ldap_settings):
    # parentheses and '*' in a name must not break (or widen) the group filter
    grants = collect({**ldap_settings, "groups": ["paren (x)\\*"]})["grants"]
    assert roles(grants) == {}  # a literal backslash-star name exists nowhere
    grants = collect({**ldap_settings, "groups": ["paren (x)*"]})["grants"]
    assert roles(grants) == {"eve (temp)": {"paren (x)*"}}
    assert roles(collect({**ldap_settings, "groups": ["*)(cn=*"]})["grants"]) == {}


def test_selected_groups_still_follow_nesting(ldap_settings):
    grants = collect({**ldap_settings, "group_base_dn": f"ou=groups,{SUFFIX}",
                      "groups": ["fin*"]})["grants"]
    # gl-posters is not selected, but bob is in finance through it
    assert roles(grants) == {"alice": {"finance"}, "bob": {"finance"}}


def test_range_retrieval_parsing():
    """The chunk ending in "-*" that ends AD's loop cannot be stored in slapd ('*' is no
    attribute-description character), so that shape (MS-ADTS 3.1.1.3.1.3.3) is checked here."""
    assert ranged({"member": ["a", "b"]}, "member") == (["a", "b"], None)
    assert ranged({"member;range=0-1499": ["a"]}, "member") == (["a"], 1500)
    assert ranged({"member;range=1500-*": ["z"]}, "MEMBER") == (["z"], None)
    assert ranged({"member;range=2-*": ["c"], "member;range=0-1": ["a", "b"]},
                  "member") == (["a", "b", "c"], None)
    assert ranged({}, "member") == ([], None)


def test_range_retrieval_against_slapd(tmp_path, ldap_settings):
    """AD-style ranged members served by a real slapd (olcAttributeOptions "range=", see
    slapd.py): groups whose member values exist only as member;range=lo-hi subtypes.

    Unlike a DC, slapd returns every chunk to a plain "member" request and ignores the
    follow-up read of member;range=N-* (it answers with no attributes). So this proves:
    all chunks are read without loss or duplicates, nesting through a later chunk counts,
    the follow-up read is sent (slapd's log) and its empty answer ends the loop, and that
    read in the middle of the paged group search loses no later page."""
    server = Slapd(tmp_path, directory_ldif(), log_level="stats").start()
    ranged_ou = f"ou=ad-ranged,{SUFFIX}"
    try:
        grants = collect({**ldap_settings, "url": server.url, "ca_file": str(server.ca_file),
                          "flavor": "active_directory", "user_base_dn": f"ou=ad,{SUFFIX}",
                          "group_base_dn": ranged_ou, "page_size": 2}, tz="UTC")["grants"]
        log_text = (tmp_path / "slapd.log").read_text()

        # the premise: slapd answers "member" with ranged subtypes only, as a DC does
        conn = Connection(Server(server.url), READER_DN, READER_PASSWORD, auto_bind=True,
                          auto_range=False, return_empty_attributes=False)
        conn.search(f"cn=GL-Everyone,{ranged_ou}", "(objectClass=*)", BASE,
                    attributes=["member"])
        assert set(conn.response[0]["raw_attributes"]) == {"member;range=0-2",
                                                           "member;range=3-4"}
        conn.unbind()
    finally:
        server.stop()
    # sbit and the nested GL-Reviewers are only in the second chunks; page 2 holds
    # GL-Treasury and GL-Reviewers
    assert roles(grants) == {"jdoe": {"GL-Everyone", "GL-Treasury"},
                             "ddan": {"GL-Everyone", "GL-Payroll"},
                             "sbit": {"GL-Everyone", "GL-Treasury"},
                             "lliu": {"GL-Everyone", "GL-Reviewers"}}
    assert not grants.duplicated(["account_id", "role"]).any()
    via = {(r["account_id"], r["role"]): r["via"] for r in grants.to_dict("records")}
    assert via[("lliu", "GL-Everyone")] == "GL-Reviewers"
    # one follow-up base read per ranged group, none for groups with a plain member
    base_reads = re.findall(r'SRCH base="([^"]+)" scope=0', log_text)
    assert sorted(base_reads) == [f"cn=GL-Everyone,{ranged_ou}", f"cn=GL-Treasury,{ranged_ou}"]


def test_dn_spellings_compare_equal():
    assert norm_dn("UID=Dave, OU=People,dc=Example,dc=org") == norm_dn(
        "uid=dave,ou=people,dc=example,dc=org")
    # escaped and multi-valued RDNs go through ldap3's full parser, same spelling rules
    assert norm_dn("CN=Smith\\, J+SN=Smith, dc=x") == norm_dn("cn=smith\\, j+sn=smith,dc=x")
    assert norm_dn("cn=a+sn=b,dc=x") != norm_dn("cn=a,sn=b,dc=x")


# --------------------------------------------------------------------------- paging


def test_paged_search_beyond_the_server_size_limit(ldap_settings, slapd_server):
    bulk = f"ou=bulk,{SUFFIX}"
    # the limit is real: an unpaged search as the same user stops at 40 entries
    conn = Connection(Server(slapd_server.url), READER_DN, READER_PASSWORD, auto_bind=True)
    conn.search(bulk, "(objectClass=inetOrgPerson)", SUBTREE, attributes=["uid"])
    assert conn.result["description"] == "sizeLimitExceeded"
    assert len(conn.entries) == 40
    conn.unbind()

    pages: list[tuple[int, str]] = []
    connector = LdapConnector("corp", {**ldap_settings, "user_base_dn": bulk,
                                       "group_base_dn": bulk, "page_size": 7}, Path("."), TZ)
    connector.progress = lambda done, total, unit: pages.append((done, unit))
    tables = connector.collect()
    assert len(tables["accounts"]) == 120
    assert tables["accounts"]["account_id"].is_unique
    user_pages = [n for n, unit in pages if unit == "users"]
    assert len(user_pages) == 18 and user_pages[-1] == 120  # ceil(120 / 7) pages
    assert len(tables["grants"]) == 120 and set(tables["grants"]["role"]) == {"bulk-all"}


def test_a_size_limit_on_paged_searches_is_an_error_not_a_short_pull(tmp_path, ldap_settings):
    server = Slapd(tmp_path, base_ldif() + bulk_people_ldif(120),
                   size_limit="size.soft=40 size.hard=40 size.prtotal=60").start()
    try:
        bulk = f"ou=bulk,{SUFFIX}"
        with pytest.raises(ConnectorError, match=r"search of users under ou=bulk,.* stopped "
                                                 r"after 60 entries: the server's size limit"):
            collect({**ldap_settings, "url": server.url, "ca_file": str(server.ca_file),
                     "user_base_dn": bulk, "page_size": 20})
    finally:
        server.stop()


def test_killing_slapd_mid_paged_search_is_a_clear_error(tmp_path, ldap_settings):
    server = Slapd(tmp_path, base_ldif() + bulk_people_ldif(300)).start()
    try:
        bulk = f"ou=bulk,{SUFFIX}"
        connector = LdapConnector("corp", {**ldap_settings, "url": server.url,
                                           "ca_file": str(server.ca_file), "user_base_dn": bulk,
                                           "page_size": 10}, Path("."), TZ)
        connector.progress = lambda done, total, unit: server.kill()
        with pytest.raises(ConnectorError) as err:
            connector.collect()
        message = str(err.value)
        assert f"LDAP server {server.url} failed during the paged search of users" in message
        assert "after 10 entries in 1 page:" in message
    finally:
        server.stop()


# --------------------------------------------------------------------------- TLS, bind, failover


def test_ldaps_with_the_test_ca(ldap_settings, slapd_server):
    tables = collect({**ldap_settings, "url": slapd_server.ldaps_url})
    assert "alice" in set(tables["accounts"]["account_id"])


@pytest.mark.parametrize("scheme", ["ldaps", "starttls"])
def test_wrong_ca_is_a_clear_error(ldap_settings, slapd_server, scheme):
    url = slapd_server.ldaps_url if scheme == "ldaps" else slapd_server.url
    with pytest.raises(ConnectorError, match="TLS certificate verification failed"):
        collect({**ldap_settings, "url": url, "ca_file": str(slapd_server.other_ca_file)})


def test_verification_is_on_without_a_ca_file(ldap_settings, slapd_server):
    settings = {k: v for k, v in ldap_settings.items() if k != "ca_file"}
    with pytest.raises(ConnectorError, match="TLS certificate verification failed"):
        collect({**settings, "url": slapd_server.ldaps_url})
    # switching verification off is explicit (and then the pull works)
    assert len(collect({**settings, "url": slapd_server.ldaps_url, "verify_tls": False})[
        "accounts"]) == 5


def test_certificate_for_another_host_is_refused(tmp_path, ldap_settings):
    server = Slapd(tmp_path, base_ldif(), cert_names="DNS:ldap.example.net").start()
    try:
        for url in (server.url, server.ldaps_url):
            with pytest.raises(ConnectorError, match="TLS certificate does not name the host"):
                collect({**ldap_settings, "url": url, "ca_file": str(server.ca_file)})
    finally:
        server.stop()


def test_missing_ca_file_is_named(ldap_settings, tmp_path):
    with pytest.raises(ConnectorError, match=r"ca_file .*nope\.pem does not exist"):
        collect({**ldap_settings, "ca_file": "nope.pem"}, base_dir=tmp_path)


def test_password_file_relative_to_the_sources_file(ldap_settings, tmp_path):
    (tmp_path / "ldap.pw").write_text(READER_PASSWORD + "\n")
    settings = {k: v for k, v in ldap_settings.items() if k != "password_env"}
    tables = collect({**settings, "password_file": "ldap.pw"}, base_dir=tmp_path)
    assert len(tables["accounts"]) == 5


def test_wrong_password_and_missing_env(ldap_settings, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    with pytest.raises(ConnectorError, match=r"bind to ldap://127\.0\.0\.1:\d+ as cn=reader.*"
                                             r"invalidCredentials"):
        collect(ldap_settings)
    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(ConnectorError, match=f"environment variable {PASSWORD_ENV} "
                                             r"\(password_env\) is not set"):
        collect(ldap_settings)


def test_failover_to_the_next_url(ldap_settings, slapd_server, caplog):
    from slapd import free_port

    dead = f"ldap://127.0.0.1:{free_port()}"
    with caplog.at_level(logging.WARNING, logger="ledgerguard.connectors.ldap"):
        tables = collect({**ldap_settings, "url": [dead, slapd_server.ldaps_url]})
    assert len(tables["accounts"]) == 5
    assert any(dead in r.getMessage() and "trying the next URL" in r.getMessage()
               for r in caplog.records)
    other = f"ldaps://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectorError, match="no LDAP server could be used") as err:
        collect({**ldap_settings, "url": [dead, other]})
    assert dead in str(err.value) and other in str(err.value)


def test_read_timeout_on_a_server_that_never_answers(ldap_settings):
    """A real TCP peer that accepts and then stays silent: the read timeout must fire."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        url = f"ldap://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(ConnectorError, match=r"no LDAP server could be used: .*timed out"):
            collect({**ldap_settings, "url": url, "read_timeout": 1})
    finally:
        thread.join(5)
        for s in accepted:
            s.close()
        listener.close()


def test_connect_timeout_on_a_server_that_never_accepts(ldap_settings, slapd_server, caplog):
    """A listener whose accept queue is full drops new SYNs: connect_timeout fires and the
    next URL is used."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname())  # the queue holds just this one
    stuck = f"ldap://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with caplog.at_level(logging.WARNING, logger="ledgerguard.connectors.ldap"):
            tables = collect({**ldap_settings, "url": [stuck, slapd_server.url],
                              "connect_timeout": 0.5})
        with pytest.raises(ConnectorError, match="no LDAP server could be used") as err:
            collect({**ldap_settings, "url": stuck, "connect_timeout": 0.5})
    finally:
        filler.close()
        listener.close()
    assert len(tables["accounts"]) == 5
    assert f"corp: {stuck} unusable, trying the next URL: socket connection error while opening: " \
           "timed out" in caplog.messages
    assert f"{stuck}: socket connection error while opening: timed out" in str(err.value)


# --------------------------------------------------------------------------- referrals


def test_referrals_are_errors_by_default(ldap_settings):
    settings = {**ldap_settings, "user_base_dn": f"ou=refs,{SUFFIX}",
                "user_filter": "(objectClass=*)", "account_id_attribute": "ou"}
    with pytest.raises(ConnectorError, match=r"referral while searching users \(not followed\): "
                                             r"ldap://other\.example\.net/"):
        collect(settings)


def test_referrals_warn_mode_skips_and_logs(ldap_settings, caplog):
    settings = {**ldap_settings, "user_base_dn": f"ou=refs,{SUFFIX}",
                "user_filter": "(objectClass=organizationalUnit)", "account_id_attribute": "ou",
                "referrals": "warn"}
    with caplog.at_level(logging.WARNING, logger="ledgerguard.connectors.ldap"):
        tables = collect(settings)
    assert list(tables["accounts"]["account_id"]) == ["refs"]
    assert any("ldap://other.example.net/" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- identities


def test_identities_from_directory_hr_attributes(ldap_settings):
    settings = {**ldap_settings, "identities": {
        "status_attribute": "employeeType",
        "status_values": {"Terminated": "departed"},
        "columns": {"name": "displayName", "department": "departmentNumber",
                    "position": "title", "manager_id": "manager", "email": "mail",
                    "departure_date": "departureDate"}}}
    ident = collect(settings)["identities"].set_index("person_id")
    assert ident.loc["E001", "status"] == "active"
    assert ident.loc["E002", "status"] == "departed"
    assert ident.loc["E004", "status"] == "leave"
    assert ident.loc["E001", "position"] == "Accountant"
    assert ident.loc["E001", "department"] == "Finance"
    assert ident.loc["E001", "manager_id"] == "E004"  # manager DN → that person's id
    assert ident.loc["E001", "email"] == "alice@example.org"
    # an ISO date is local midnight; GeneralizedTime is converted to the snapshot zone
    assert ident.loc["E002", "departure_date"] == pd.Timestamp("2026-10-31", tz=TZ)
    assert ident.loc["E003", "departure_date"] == pd.Timestamp("2026-11-16", tz=TZ)
    assert pd.isna(ident.loc["E001", "departure_date"])


def test_unknown_employee_status_is_an_error(ldap_settings):
    settings = {**ldap_settings, "identities": {"status_attribute": "employeeType"}}
    with pytest.raises(ConnectorError, match="employeeType 'Terminated' is not a known status"):
        collect(settings)


# --------------------------------------------------------------------------- schema


def _problems(write_yaml, entry: str) -> list[str]:
    """Every problem ``load_sources`` reports for one ldap entry of a sources file."""
    path = write_yaml("sources.yaml", "sources:\n  - name: ad\n    kind: ldap\n"
                      + textwrap.indent(textwrap.dedent(entry).lstrip("\n"), "    "))
    try:
        load_sources(path)
    except InputError as exc:
        return [str(p) for p in exc.problems]
    return []


BASE_ENTRY = textwrap.dedent("""
    url: [ldap://a.example.org, ldaps://b.example.org:636]
    flavor: active_directory
    base_dn: dc=example,dc=org
    bind_dn: cn=reader,dc=example,dc=org
    """)


def test_inline_password_is_a_schema_error(write_yaml):
    problems = _problems(write_yaml, BASE_ENTRY + "password_env: LDAP_PW\npassword: hunter2\n")
    assert len(problems) == 1
    assert "sources.yaml:9:5: 'password' may not be written inline" in problems[0]
    assert "hunter2" not in problems[0]


def test_bind_needs_exactly_one_password_source(write_yaml):
    assert not _problems(write_yaml, BASE_ENTRY + "password_file: ldap.pw\n")
    (missing,) = _problems(write_yaml, BASE_ENTRY)
    assert "'password_env' is a required property" in missing
    (both,) = _problems(write_yaml, BASE_ENTRY + "password_env: A\npassword_file: f\n")
    assert "sources.yaml:9:5: give either password_env or password_file, not both" in both
    (zero,) = _problems(write_yaml, BASE_ENTRY + "password_env: A\npage_size: 0\n")
    assert "sources.yaml:9:16: page_size: 0 is less than the minimum of 1" in zero
    (flavor,) = _problems(write_yaml, BASE_ENTRY.replace("active_directory", "ad")
                          + "password_env: A\n")
    assert "flavor: 'ad' is not one of" in flavor


# --------------------------------------------------------------------------- secrets


def test_bind_password_is_in_no_table_message_or_log_line(ldap_settings, slapd_server, caplog):
    """Logging at DEBUG everywhere, ldap3's own detail at its most verbose."""
    old_detail = ldap3_log.get_library_log_detail_level()
    ldap3_log.set_library_log_detail_level(ldap3_log.EXTENDED)
    messages: list[str] = []
    try:
        with caplog.at_level(logging.DEBUG):
            tables = collect({**ldap_settings, "identities": {
                "status_attribute": "employeeType",
                "status_values": {"Terminated": "departed"}}})
            failing = [
                {**ldap_settings, "ca_file": str(slapd_server.other_ca_file)},
                {**ldap_settings, "url": slapd_server.ldaps_url, "bind_dn": f"cn=nobody,{SUFFIX}"},
                {**ldap_settings, "url": f"ldap://127.0.0.1:{slapd_server.port}",
                 "user_filter": "(bad"},
            ]
            for settings in failing:
                with pytest.raises(ConnectorError) as err:
                    collect(settings)
                messages.append(str(err.value))
    finally:
        ldap3_log.set_library_log_detail_level(old_detail)
    assert any(r.name.startswith("ldap3") for r in caplog.records)  # ldap3 really logged
    assert any("invalidCredentials" in m for m in messages)
    for name, df in tables.items():
        text = df.to_csv(index=False)
        assert READER_PASSWORD not in text, name
    for m in messages:
        assert READER_PASSWORD not in m
    for record in caplog.records:
        assert READER_PASSWORD not in record.getMessage(), record.name
