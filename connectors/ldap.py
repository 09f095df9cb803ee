"""LDAP / Active Directory source (SPEC §4 "ldap"): accounts, group grants, identities.

Why it is built the way it is:

- **Failover is our own loop over ``url``**, not ldap3's ``ServerPool``: the pool's
  ``active=True`` retries forever, ``active=N`` sleeps ``POOLING_LOOP_TIMEOUT`` between
  cycles, and it only probes TCP reachability, so a replica with a bad certificate or a
  wedged bind would not fail over. Here each URL is tried in order through TLS and bind;
  an authentication failure stops at once (the same password on every replica would only
  lock the account out faster).
- **Paging is our own loop** over ``Connection.search(paged_size=…, paged_cookie=…)``:
  ldap3's ``paged_search`` generator silently ends on a non-success result when
  ``raise_exceptions`` is off, which would turn a size limit into a short, "successful"
  pull. Every page's result code is checked; referrals are never chased
  (``auto_referrals=False``) and are an error by default (``referrals: warn`` logs and
  skips them).
- **Timeouts are always set**: ``connect_timeout`` on every server and ``read_timeout``
  as ldap3's ``receive_timeout`` on every socket read, so a hung server ends the source
  with an error instead of hanging ``collect``.
- **Secrets**: the bind password comes from ``password_env`` or ``password_file`` only
  (an inline ``password`` key fails the schema); it is never put in a message, and while
  the connector runs a filter on the ``ldap3`` logger redacts it even when ldap3's own
  detail level has been raised.
- **Group closure is computed here** from the groups' ``member`` values (with AD range
  retrieval), so nesting works the same on OpenLDAP, 389-ds/FreeIPA and AD. AD keeps
  a user's *primary* group out of ``member`` (it is the user's ``primaryGroupID``, the
  group's RID): it is added to that group's members before the closure, as AD's own
  token does. Range
  retrieval is our own loop too (``auto_range=False``): ldap3's raises a bare
  ``IndexError`` when a follow-up read returns no ranged attribute, and ends quietly
  when one fails.
- **AD's own partitions are not referrals to worry about**: a subtree search from the
  domain root gets continuation references to the Configuration and Schema partitions
  (and on Windows DomainDnsZones / ForestDnsZones). Those naming contexts can hold no
  user or security group (AD refuses security principals outside a domain partition),
  so a reference to one the DC itself lists in its RootDSE ``namingContexts`` (other
  than ``defaultNamingContext``) is skipped with a debug line. Any other reference (a
  child domain, another directory) still follows ``referrals``.
- **Built-in accounts** (AD: well-known RIDs below 1000 such as Administrator 500,
  Guest 501, krbtgt 502, or ``isCriticalSystemObject``) get ``account_type: builtin``,
  so orphan checks leave them alone while the other kinds still judge them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import re
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from ldap3 import (
    ANONYMOUS,
    AUTO_BIND_NONE,
    BASE,
    DEREF_NEVER,
    NONE,
    SIMPLE,
    SUBTREE,
    SYNC,
    Connection,
    Server,
    Tls,
)
from ldap3.core.exceptions import LDAPException, LDAPInvalidFilterError
from ldap3.utils import log as ldap3_log
from ldap3.utils.config import get_config_parameter, set_config_parameter
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from ledgerguard.scanner.lazy import pandas as pd

from ._common import read_secret, resolve
from .base import CONNECTORS, Connector, ConnectorError

log = logging.getLogger(__name__)

PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"
RESULT_SUCCESS, RESULT_SIZE_LIMIT, RESULT_REFERRAL = 0, 4, 10
IDENTITY_STATUSES = ("active", "departed", "transferred", "leave")
IDENTITY_COLUMNS = ("name", "department", "position", "departure_date", "transfer_date",
                    "previous_position", "manager_id", "email")

# Active Directory constants (MS-ADTS 2.2.16 userAccountControl; Integer8 "never").
UF_ACCOUNTDISABLE = 0x0002
UF_LOCKOUT = 0x0010
AD_NEVER = 0x7FFFFFFFFFFFFFFF
FILETIME_EPOCH = dt.datetime(1601, 1, 1, tzinfo=dt.UTC)
# OpenLDAP ppolicy: this pwdAccountLockedTime means "locked until an admin unlocks it".
PPOLICY_PERMANENT_LOCK = "000001010000Z"

_GENERALIZED_TIME = re.compile(
    r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,](\d+))?(Z|[+-]\d{2}(?:\d{2})?)?$")
_DN_SPECIAL = re.compile(r'[\\"+;<>#]')  # escapes, quotes, multi-valued RDNs: parse_dn
_RANGE_KEY = re.compile(r"^(?P<attr>[^;]+);range=(?P<lo>\d+)-(?P<hi>\d+|\*)$", re.IGNORECASE)


# --------------------------------------------------------------------------- values


def generalized_time(text: str) -> dt.datetime | None:
    """RFC 4517 GeneralizedTime → aware datetime (no zone = UTC, as AD and slapd write it)."""
    m = _GENERALIZED_TIME.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a GeneralizedTime")
    y, mo, d, h, mi, s, frac, zone = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    tz = dt.UTC
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        tz = dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5] or 0)))
    return dt.datetime(int(y), int(mo), int(d), int(h), int(mi or 0), int(s or 0), micro, tz)


def filetime(text: str) -> dt.datetime | None:
    """AD Integer8 time (100 ns ticks since 1601-01-01 UTC); 0 and 0x7FFF… mean "never"."""
    ticks = int(text)
    if ticks <= 0 or ticks >= AD_NEVER:
        return None
    return FILETIME_EPOCH + dt.timedelta(microseconds=ticks // 10)


def epoch_days(text: str) -> dt.datetime | None:
    """shadowExpire: days since 1970-01-01; -1 (or empty) means "never"."""
    days = int(text)
    if days < 0:
        return None
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=days)


def ranged(attrs: dict[str, list[str]], attr: str) -> tuple[list[str], int | None]:
    """Values of ``attr`` from one response, and where the next AD range starts (None = done).

    AD returns a large multi-valued attribute as ``member;range=0-1499`` (and no plain
    ``member``); the last chunk ends in ``-*``. A server without range retrieval (slapd,
    389-ds) returns the plain attribute, which is the whole value set. A server that keeps
    ranged subtypes as stored options (slapd with ``olcAttributeOptions: range=``) returns
    every chunk at once: all are taken, in range order, so none is silently dropped.
    """
    attr_l = attr.lower()
    if attr_l in attrs:
        return attrs[attr_l], None
    chunks = sorted((int(m["lo"]), m["hi"], values) for key, values in attrs.items()
                    if (m := _RANGE_KEY.match(key)) and m["attr"].lower() == attr_l)
    if not chunks:
        return [], None
    last = chunks[-1][1]
    return [v for _, _, values in chunks for v in values], None if last == "*" else int(last) + 1


def norm_dn(dn: str) -> str:
    """A DN in one comparable spelling (attribute types and values case-folded, no spaces).

    Plain DNs (no escapes, quotes or multi-valued RDNs) take a string fast path:
    ldap3's full ``parse_dn`` was a quarter of a 20k-entry pull.
    """
    if not _DN_SPECIAL.search(dn):
        low = dn.lower()
        if " " not in low:
            return low
        return ",".join("=".join(p.strip() for p in rdn.split("=", 1)) for rdn in low.split(","))
    try:
        return "".join(f"{a.lower()}={v.lower()}{sep}" for a, v, sep in parse_dn(dn, strip=True))
    except LDAPException:
        return dn.strip().lower()


# --------------------------------------------------------------------------- flavours


@dataclass(frozen=True)
class Status:
    enabled: bool = True
    locked: bool = False
    expires_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    last_login_at: dt.datetime | None = None
    password_last_set: dt.datetime | None = None
    account_type: str | None = None


def _first(attrs: dict[str, list[str]], name: str) -> str | None:
    values = attrs.get(name.lower())
    return values[0] if values else None


def _time(attrs: dict[str, list[str]], name: str, parse: Callable[[str], dt.datetime | None]
          ) -> dt.datetime | None:
    text = _first(attrs, name)
    return None if text in (None, "") else parse(text)


def _openldap_status(a: dict[str, list[str]]) -> Status:
    lock = _first(a, "pwdAccountLockedTime")
    return Status(
        # ppolicy's permanent lock is how OpenLDAP admins disable an account.
        enabled=lock != PPOLICY_PERMANENT_LOCK,
        locked=lock is not None,
        expires_at=_time(a, "shadowExpire", epoch_days),
        created_at=_time(a, "createTimestamp", generalized_time),
        last_login_at=(_time(a, "pwdLastSuccess", generalized_time)
                       or _time(a, "authTimestamp", generalized_time)),
        password_last_set=_time(a, "pwdChangedTime", generalized_time),
    )


def _freeipa_status(a: dict[str, list[str]]) -> Status:
    return Status(
        enabled=(_first(a, "nsAccountLock") or "false").strip().lower() != "true",
        locked=False,  # IPA lockout lives in krbLoginFailedCount vs. the policy: not read here
        expires_at=_time(a, "krbPrincipalExpiration", generalized_time),
        created_at=_time(a, "createTimestamp", generalized_time),
        last_login_at=_time(a, "krbLastSuccessfulAuth", generalized_time),
        password_last_set=_time(a, "krbLastPwdChange", generalized_time),
    )


def sid_text(raw: bytes) -> str:
    """A binary SID (MS-DTYP 2.4.2.2) in its string form, ``S-1-5-21-…-RID``."""
    count = raw[1]
    authority = int.from_bytes(raw[2:8], "big")
    subs = [int.from_bytes(raw[8 + 4 * i:12 + 4 * i], "little") for i in range(count)]
    return "S-" + "-".join(map(str, [raw[0], authority, *subs]))


def _rid(sid: str | None) -> int | None:
    return int(sid.rsplit("-", 1)[1]) if sid else None


# AD reserves RIDs below 1000 for the accounts and groups the system creates itself
# (MS-ADTS 6.1.1.6: Administrator 500, Guest 501, krbtgt 502, DefaultAccount 503, …).
AD_FIRST_USER_RID = 1000


def _ad_status(a: dict[str, list[str]]) -> Status:
    uac = int(_first(a, "userAccountControl") or 0)
    rid = _rid(_first(a, "objectSid"))
    builtin = ((rid is not None and rid < AD_FIRST_USER_RID)
               or (_first(a, "isCriticalSystemObject") or "").upper() == "TRUE")
    computed = _first(a, "msDS-User-Account-Control-Computed")
    # AD does not keep UF_LOCKOUT current in the stored userAccountControl (it may be a
    # stale leftover); the constructed attribute is the truth whenever the DC returns it.
    lock_bits = int(computed) if computed is not None else uac
    return Status(
        enabled=not uac & UF_ACCOUNTDISABLE,
        locked=bool(lock_bits & UF_LOCKOUT),
        expires_at=_time(a, "accountExpires", filetime),
        created_at=_time(a, "whenCreated", generalized_time),
        last_login_at=_time(a, "lastLogonTimestamp", filetime),
        password_last_set=_time(a, "pwdLastSet", filetime),
        account_type="builtin" if builtin else None,
    )


@dataclass(frozen=True)
class Flavor:
    account_id_attribute: str
    user_filter: str
    group_filter: str
    status_attributes: tuple[str, ...]
    status: Callable[[dict[str, list[str]]], Status]
    #: AD: primaryGroupID + objectSid make the primary group, and the DC's other
    #: partitions' continuation references are expected (module docstring)
    active_directory: bool = False


FLAVORS: dict[str, Flavor] = {
    "openldap": Flavor(
        "uid", "(objectClass=inetOrgPerson)",
        "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
        ("pwdAccountLockedTime", "shadowExpire", "createTimestamp", "pwdLastSuccess",
         "authTimestamp", "pwdChangedTime"),
        _openldap_status),
    "freeipa": Flavor(
        "uid", "(objectClass=inetOrgPerson)", "(objectClass=groupOfNames)",
        ("nsAccountLock", "krbPrincipalExpiration", "createTimestamp", "krbLastSuccessfulAuth",
         "krbLastPwdChange"),
        _freeipa_status),
    "active_directory": Flavor(
        "sAMAccountName", "(&(objectClass=user)(!(objectClass=computer)))", "(objectClass=group)",
        ("userAccountControl", "msDS-User-Account-Control-Computed", "accountExpires",
         "whenCreated", "lastLogonTimestamp", "pwdLastSet", "objectSid", "primaryGroupID",
         "isCriticalSystemObject"),
        _ad_status, active_directory=True),
}


# --------------------------------------------------------------------------- settings

_NAME = {"type": "string", "minLength": 1}
#: scheme://host[:port][/], nothing else: a user (and its password) belongs in bind_dn / password_env
_URL = {"type": "string", "pattern": "^ldaps?://[^\\s/@]+/?$"}

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url", "base_dn", "flavor"],
    "properties": {
        "url": {"oneOf": [_URL, {"type": "array", "items": _URL, "minItems": 1}],
                "description": "ldap://host[:port] or ldaps://host[:port]; a list = failover order"},
        "flavor": {"enum": sorted(FLAVORS)},
        "bind_dn": _NAME,
        "password_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
        "password_file": _NAME,
        "start_tls": {"type": "boolean", "default": True,
                      "description": "StartTLS on ldap:// URLs (ldaps:// is TLS from the start)"},
        "ca_file": _NAME,
        "verify_tls": {"type": "boolean", "default": True},
        "base_dn": _NAME,
        "user_base_dn": _NAME,
        "group_base_dn": _NAME,
        "user_filter": _NAME,
        "group_filter": _NAME,
        "groups": {"type": "array", "items": _NAME, "minItems": 1, "uniqueItems": True,
                   "description": "only these group names become roles ('*' is a wildcard)"},
        "account_id_attribute": _NAME,
        "person_id_attribute": _NAME,
        "display_name_attribute": _NAME,
        "role_attribute": _NAME,
        "member_attribute": _NAME,
        "page_size": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 500},
        "connect_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 10},
        # whole seconds: ldap3 packs it into SO_RCVTIMEO as an integer on Linux
        "read_timeout": {"type": "integer", "minimum": 1, "default": 60},
        "referrals": {"enum": ["error", "warn"], "default": "error"},
        "identities": {
            "type": "object",
            "additionalProperties": False,
            "required": ["status_attribute"],
            "properties": {
                "status_attribute": _NAME,
                "status_values": {"type": "object",
                                  "additionalProperties": {"enum": list(IDENTITY_STATUSES)}},
                "columns": {"type": "object",
                            "propertyNames": {"enum": list(IDENTITY_COLUMNS)},
                            "additionalProperties": _NAME},
            },
        },
    },
    "dependentRequired": {"identities": ["person_id_attribute"],
                          "password_env": ["bind_dn"], "password_file": ["bind_dn"]},
    # Spelled as if/then so the error names one key ("'password_env' is a required
    # property") instead of dumping the whole entry, which oneOf messages do. Both
    # password keys at once is refused for every kind by sources.py.
    "if": {"required": ["bind_dn"],
           "not": {"anyOf": [{"required": ["password_env"]}, {"required": ["password_file"]}]}},
    "then": {"required": ["password_env"]},
}


class _Redact(logging.Filter):
    """Replaces the bind password in any ldap3 log record (ldap3's own stripping is partial)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if self.secret in text:
            record.msg, record.args = text.replace(self.secret, "********"), None
        return True


@dataclass
class _Group:
    dn: str
    role: str
    members: list[str] = field(default_factory=list)  # normalised member DNs
    sid: str | None = None  # AD objectSid: the target of users' primaryGroupID


# --------------------------------------------------------------------------- connector


@CONNECTORS.register("ldap")
class LdapConnector(Connector):
    """Pulls accounts, group grants (with nesting) and, optionally, identities."""

    settings_schema: ClassVar[dict[str, Any]] = SETTINGS_SCHEMA

    # ---- settings helpers

    def _s(self, key: str) -> Any:
        return self.settings.get(key, SETTINGS_SCHEMA["properties"][key].get("default"))

    @property
    def flavor(self) -> Flavor:
        return FLAVORS[self.settings["flavor"]]

    def _urls(self) -> list[str]:
        url = self.settings["url"]
        return [url] if isinstance(url, str) else list(url)

    def _password(self) -> str | None:
        secret = read_secret(self.settings, self.base_dir)  # remembered for redact()
        if self.settings.get("bind_dn") and not secret:
            where = self.settings.get("password_env") or self.settings.get("password_file")
            raise ConnectorError(f"the bind password from {where} is empty")
        return secret

    def tables(self) -> list[str]:
        return ["accounts", "grants"] + (["identities"] if "identities" in self.settings else [])

    def _tls(self) -> Tls:
        ca_file = self.settings.get("ca_file")
        if ca_file is not None:
            ca_path = resolve(self.base_dir, ca_file)
            if not ca_path.is_file():
                raise ConnectorError(f"ca_file {ca_path} does not exist")
            ca_file = str(ca_path)
        verify = ssl.CERT_REQUIRED if self._s("verify_tls") else ssl.CERT_NONE
        return Tls(validate=verify, ca_certs_file=ca_file)

    # ---- connection

    def _connect(self, password: str | None) -> tuple[Connection, str]:
        """Open, secure and bind to the first URL that works; the error lists every attempt."""
        tls = self._tls()
        failures = []
        for url in self._urls():
            try:
                return self._connect_one(url, tls, password), url
            except _AuthFailed as exc:
                raise ConnectorError(f"bind to {url} as {self.settings.get('bind_dn')} failed: "
                                     f"{exc}") from None
            except _ServerFailed as exc:
                log.warning("%s: %s unusable, trying the next URL: %s", self.source, url, exc)
                failures.append(f"{url}: {exc}")
        raise ConnectorError("no LDAP server could be used: " + "; ".join(failures))

    def _connect_one(self, url: str, tls: Tls, password: str | None) -> Connection:
        use_ssl = url.lower().startswith("ldaps://")
        if not use_ssl and not self._s("start_tls"):
            log.warning("%s: %s without TLS: the bind password travels in clear text",
                        self.source, url)
        server = Server(url, use_ssl=use_ssl, tls=tls, get_info=NONE,
                        connect_timeout=self._s("connect_timeout"))
        conn = Connection(server, user=self.settings.get("bind_dn"), password=password,
                          authentication=SIMPLE if password else ANONYMOUS, client_strategy=SYNC,
                          auto_bind=AUTO_BIND_NONE, raise_exceptions=False, auto_referrals=False,
                          receive_timeout=self._s("read_timeout"), read_only=True,
                          check_names=False, auto_range=False, return_empty_attributes=False)
        try:
            conn.open()
            if not use_ssl and self._s("start_tls") and not conn.start_tls():
                raise _ServerFailed(f"StartTLS refused: {_describe(conn.result)}")
            if not conn.bind():
                if (conn.result or {}).get("description") in ("invalidCredentials",
                                                              "inappropriateAuthentication"):
                    raise _AuthFailed(_describe(conn.result))
                raise _ServerFailed(f"bind failed: {_describe(conn.result)}")
        except (LDAPException, OSError) as exc:
            _close(conn)
            raise _ServerFailed(_explain(exc, password)) from None
        except (_AuthFailed, _ServerFailed):
            _close(conn)
            raise
        return conn

    # ---- searching

    def _search(self, conn: Connection, url: str, base: str, filt: str, attrs: list[str],
                what: str) -> Iterator[tuple[str, dict[str, list[str]]]]:
        """Paged subtree search yielding (dn, lower-cased attrs → text values)."""
        cookie = None
        count = pages = 0
        while True:
            try:
                conn.search(base, filt, SUBTREE, DEREF_NEVER, attributes=attrs,
                            paged_size=self._s("page_size"), paged_cookie=cookie)
            except LDAPInvalidFilterError:
                raise ConnectorError(f"invalid LDAP filter for {what}: {filt}") from None
            except (LDAPException, OSError) as exc:
                raise ConnectorError(
                    f"LDAP server {url} failed during the paged search of {what} under {base} "
                    f"after {count} entries in {pages} page{'' if pages == 1 else 's'}: "
                    f"{_explain(exc, conn.password)}"
                ) from None
            pages += 1
            # taken now: the caller may read other entries (AD ranges) on this connection
            # between yields, which replaces conn.response and conn.result (and the cookie)
            response, result = conn.response or [], conn.result or {}
            for item in response:
                if item.get("type") == "searchResEntry":
                    count += 1
                    yield item["dn"], _text_attrs(item)
                elif item.get("type") == "searchResRef":
                    self._referral(what, item.get("uri") or [])
            if result.get("result") == RESULT_REFERRAL:
                self._referral(what, result.get("referrals") or [])
            elif result.get("result") == RESULT_SIZE_LIMIT:
                # never a short "success": a truncated pull would hide accounts from audit
                raise ConnectorError(
                    f"search of {what} under {base} on {url} stopped after {count} entries: "
                    "the server's size limit for this bind DN is lower than the number of "
                    "entries (raise it for the reader, e.g. olcSizeLimit size.prtotal or AD "
                    "MaxPageSize, or narrow the base DN / filter)")
            elif result.get("result") != RESULT_SUCCESS:
                raise ConnectorError(f"search of {what} under {base} on {url} failed after "
                                     f"{count} entries: {_describe(result)}")
            self.report_progress(count, None, what)
            log.debug("%s: %s page %d, %d entries so far", self.source, what, pages, count)
            control = (result.get("controls") or {}).get(PAGED_RESULTS_OID) or {}
            cookie = (control.get("value") or {}).get("cookie")
            if not cookie:
                return

    def _referral(self, what: str, uris: list[str]) -> None:
        if uris and all(_uri_dn(u) in self._own_partitions for u in uris):
            log.debug("%s: skipped this DC's own partition while searching %s: %s",
                      self.source, what, ", ".join(uris))
            return
        text = f"referral while searching {what} (not followed): {', '.join(uris) or '?'}"
        if self._s("referrals") == "error":
            raise ConnectorError(text + "; set referrals: warn to skip referrals")
        log.warning("%s: %s", self.source, text)

    def _read_base(self, conn: Connection, dn: str, filt: str, attrs: list[str]
                   ) -> dict[str, list[str]] | None:
        """One entry by DN (for range retrieval and for descending into nested groups)."""
        try:
            conn.search(dn, filt, BASE, DEREF_NEVER, attributes=attrs)
        except (LDAPException, OSError) as exc:
            raise ConnectorError(f"reading {dn} failed: {_explain(exc, conn.password)}") from None
        for item in conn.response or []:
            if item.get("type") == "searchResEntry":
                return _text_attrs(item)
        return None

    def _members(self, conn: Connection, dn: str, attrs: dict[str, list[str]]) -> list[str]:
        """All values of the member attribute, following AD range retrieval to the end."""
        member_attr = self._member_attribute()
        values, nxt = ranged(attrs, member_attr)
        values = list(values)
        while nxt is not None:
            more = self._read_base(conn, dn, "(objectClass=*)", [f"{member_attr};range={nxt}-*"])
            chunk, nxt_after = ranged(more or {}, member_attr)
            if not chunk:  # the server stopped answering ranges: never loop forever
                break
            values.extend(chunk)
            nxt = nxt_after
        return values

    def _member_attribute(self) -> str:
        return self.settings.get("member_attribute", "member")

    # ---- collect

    def collect(self) -> dict[str, pd.DataFrame]:
        password = self._password()
        with _bulk_pull(password):
            conn, url = self._connect(password)
            try:
                return self._collect(conn, url)
            finally:
                _close(conn)

    def _partitions(self, conn: Connection) -> set[str]:
        """AD: the DC's naming contexts other than its domain (Configuration, Schema, DNS
        application partitions), normalised; references to them are expected."""
        root = self._read_base(conn, "", "(objectClass=*)",
                               ["namingContexts", "defaultNamingContext"]) or {}
        domain = {norm_dn(d) for d in root.get("defaultnamingcontext", [])}
        if not domain:  # not a DC: nothing is known to be a non-domain partition
            return set()
        return {norm_dn(nc) for nc in root.get("namingcontexts", [])} - domain

    def _collect(self, conn: Connection, url: str) -> dict[str, pd.DataFrame]:
        flavor = self.flavor
        self._own_partitions = self._partitions(conn) if flavor.active_directory else set()
        base = self.settings["base_dn"]
        id_attr = self.settings.get("account_id_attribute", flavor.account_id_attribute)
        pid_attr = self.settings.get("person_id_attribute")
        name_attr = self.settings.get("display_name_attribute", "displayName")
        ident = self.settings.get("identities")
        ident_cols = (ident or {}).get("columns", {})
        attrs = sorted({id_attr, name_attr, "cn", *flavor.status_attributes,
                        *([pid_attr] if pid_attr else []),
                        *([ident["status_attribute"]] if ident else []), *ident_cols.values()},
                       key=str.lower)

        accounts: dict[str, dict[str, Any]] = {}  # normalised DN → row
        primary: dict[str, str | None] = {}  # AD: normalised DN → its primary group's SID
        raw_users: dict[str, dict[str, list[str]]] = {}
        seen_ids: dict[str, str] = {}
        for dn, a in self._search(conn, url, self.settings.get("user_base_dn", base),
                                  self.settings.get("user_filter", flavor.user_filter), attrs,
                                  "users"):
            account_id = _first(a, id_attr)
            if not account_id:
                raise ConnectorError(f"user entry {dn} has no {id_attr} (account_id_attribute); "
                                     "narrow user_filter or pick another attribute")
            if account_id in seen_ids:
                raise ConnectorError(f"account_id {account_id!r} ({id_attr}) is used by both "
                                     f"{seen_ids[account_id]} and {dn}")
            seen_ids[account_id] = dn
            try:
                st = flavor.status(a)
            except ValueError as exc:
                raise ConnectorError(f"user entry {dn}: unreadable value: {exc}") from None
            key = norm_dn(dn)
            if ident:  # the HR attributes are read again for identities only
                raw_users[key] = a
            accounts[key] = {
                "system": self.source, "account_id": account_id,
                "person_id": _first(a, pid_attr) if pid_attr else None,
                "display_name": _first(a, name_attr) or _first(a, "cn"),
                "enabled": st.enabled, "locked": st.locked, "expires_at": st.expires_at,
                "created_at": st.created_at, "last_login_at": st.last_login_at,
                "password_last_set": st.password_last_set, "account_type": st.account_type,
                "dn": dn,
            }
            if flavor.active_directory:
                primary[key] = _primary_group_sid(a)

        grants = self._grants(conn, url, base, accounts, primary)
        tables = {
            "accounts": self._frame(list(accounts.values()), _ACCOUNT_COLUMNS),
            "grants": self._frame(grants, _GRANT_COLUMNS),
        }
        if ident:
            tables["identities"] = self._identities(ident, pid_attr, accounts, raw_users)
        log.info("%s: %d accounts, %d grants from %s", self.source, len(accounts), len(grants),
                 url)
        return tables

    def _group_filter(self, role_attr: str) -> str:
        filt = self.settings.get("group_filter", self.flavor.group_filter)
        names = self.settings.get("groups")
        if not names:
            return filt
        # user data entering a filter: every literal part escaped, '*' kept as the wildcard
        wanted = "".join(
            f"({role_attr}={'*'.join(escape_filter_chars(p) for p in n.split('*'))})"
            for n in names)
        return f"(&{filt}(|{wanted}))"

    def _grants(self, conn: Connection, url: str, base: str, accounts: dict[str, dict[str, Any]],
                primary: dict[str, str | None]) -> list[dict[str, Any]]:
        """Group memberships with nesting: an account holds every group that encloses it."""
        role_attr = self.settings.get("role_attribute", "cn")
        member_attr = self._member_attribute()
        attrs = [role_attr, member_attr, *(["objectSid"] if primary else [])]
        groups: dict[str, _Group] = {}
        for dn, a in self._search(conn, url, self.settings.get("group_base_dn", base),
                                  self._group_filter(role_attr), attrs, "groups"):
            groups[norm_dn(dn)] = _Group(dn, _first(a, role_attr) or dn,
                                         [norm_dn(m) for m in self._members(conn, dn, a)],
                                         _first(a, "objectSid"))
        roles = list(groups)
        if self.settings.get("groups"):
            # Only the named groups are roles; their nested subgroups (wherever they are)
            # are read one by one so membership through them still counts.
            group_filter = self.settings.get("group_filter", self.flavor.group_filter)
            pending = [m for g in groups.values() for m in g.members]
            while pending:
                dn = pending.pop()
                if dn in groups or dn in accounts:
                    continue
                a = self._read_base(conn, dn, group_filter, attrs)
                if a is not None:
                    groups[dn] = _Group(dn, _first(a, role_attr) or dn,
                                        [norm_dn(m) for m in self._members(conn, dn, a)],
                                        _first(a, "objectSid"))
                    pending.extend(groups[dn].members)
        by_sid = {g.sid: g for g in groups.values() if g.sid}
        for account, sid in primary.items():
            if sid in by_sid and account not in by_sid[sid].members:
                by_sid[sid].members.append(account)

        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for gkey in roles:
            role = groups[gkey].role
            # depth-first down the member tree; "via" names the direct group of a nested grant
            stack: list[tuple[str, str | None]] = [(gkey, None)]
            visited = {gkey}
            while stack:
                current, via = stack.pop()
                for member in groups[current].members:
                    if member in accounts:
                        key = (accounts[member]["account_id"], role)
                        if key not in rows or (rows[key]["via"] and via is None):
                            rows[key] = {"system": self.source, "account_id": key[0],
                                         "role": role, "via": via if current != gkey else None,
                                         "group_dn": groups[gkey].dn}
                    elif member in groups and member not in visited:
                        visited.add(member)
                        stack.append((member, groups[member].role))
        return sorted(rows.values(), key=lambda r: (r["account_id"], r["role"]))

    def _identities(self, ident: dict[str, Any], pid_attr: str,
                    accounts: dict[str, dict[str, Any]],
                    raw_users: dict[str, dict[str, list[str]]]) -> pd.DataFrame:
        """One identity per person_id from HR attributes kept in the directory."""
        status_attr = ident["status_attribute"]
        mapping = {k.lower(): v for k, v in (ident.get("status_values") or {}).items()}
        columns = ident.get("columns") or {}
        rows: dict[str, dict[str, Any]] = {}
        for key, a in raw_users.items():
            person = accounts[key]["person_id"]
            if not person or person in rows:
                continue
            raw = (_first(a, status_attr) or "").strip()
            status = mapping.get(raw.lower(), raw.lower() or None)
            dn = accounts[key]["dn"]
            if not raw:
                raise ConnectorError(f"user entry {dn} has no {status_attr} "
                                     "(identities.status_attribute)")
            if status not in IDENTITY_STATUSES:
                raise ConnectorError(
                    f"user entry {dn}: {status_attr} {raw!r} is not a known status; map it "
                    f"under identities.status_values to one of {', '.join(IDENTITY_STATUSES)}")
            row = {"person_id": person, "status": status}
            for column, attr in columns.items():
                value = _first(a, attr)
                if column == "manager_id" and value:
                    # a manager is a DN in the directory: link it to that person's id
                    value = (accounts.get(norm_dn(value)) or {}).get("person_id")
                if column.endswith("_date") and value:
                    value = self._date(value, dn, attr)
                row[column] = value
            rows[person] = row
        return self._frame(list(rows.values()), ("person_id", "status", *columns))

    def _date(self, text: str, dn: str, attr: str) -> dt.datetime:
        """An HR date kept as GeneralizedTime or as an ISO date (local midnight)."""
        try:
            return generalized_time(text)
        except ValueError:
            pass
        try:
            day = dt.date.fromisoformat(text.strip())
        except ValueError:
            raise ConnectorError(f"user entry {dn}: {attr} {text!r} is neither a "
                                 "GeneralizedTime nor an ISO date") from None
        return dt.datetime.combine(day, dt.time(), ZoneInfo(self.timezone))

    def _frame(self, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
        df = pd.DataFrame(rows, columns=list(columns))
        for col in df.columns:
            if col.endswith("_at") or col.endswith("_date") or col == "password_last_set":
                df[col] = pd.to_datetime(df[col], utc=True).dt.tz_convert(self.timezone).astype(
                    f"datetime64[us, {self.timezone}]")
            elif col in ("enabled", "locked"):
                df[col] = df[col].astype(bool)
            else:
                df[col] = df[col].astype("str").where(df[col].notna())
        return df


_ACCOUNT_COLUMNS = ("system", "account_id", "person_id", "display_name", "enabled", "locked",
                    "expires_at", "created_at", "last_login_at", "password_last_set",
                    "account_type", "dn")


def _primary_group_sid(a: dict[str, list[str]]) -> str | None:
    """The SID of an AD user's primary group: the user's domain SID + primaryGroupID."""
    sid, rid = _first(a, "objectSid"), _first(a, "primaryGroupID")
    return f"{sid.rsplit('-', 1)[0]}-{rid}" if sid and rid else None


def _uri_dn(uri: str) -> str:
    """The normalised DN a referral URI points at (``ldap://host/DN?…``)."""
    return norm_dn(unquote(urlsplit(uri).path.lstrip("/")))
_GRANT_COLUMNS = ("system", "account_id", "role", "via", "group_dn")


class _AuthFailed(Exception):
    """Wrong credentials: stop, do not try the next replica."""


class _ServerFailed(Exception):
    """This URL is unusable (down, TLS, timeout): try the next one."""


def _close(conn: Connection) -> None:
    """Unbind, ignoring a connection that is already broken (the error is reported already)."""
    with contextlib.suppress(LDAPException, OSError):
        conn.unbind()


@contextlib.contextmanager
def _bulk_pull(password: str | None) -> Iterator[None]:
    """While the connector runs: ldap3's log redacted, its attribute dicts plain, no GC.

    - ldap3 builds every entry's attributes twice (raw and decoded), by default as
      ``CaseInsensitiveDict``: a fifth of the CPU of a large pull. ``_text_attrs``
      lower-cases the names once, so plain dicts do. The setting is ldap3's
      process-wide one, restored afterwards (``collect`` runs sources one at a time).
    - The cyclic garbage collector is paused: the rows kept for 100k entries are
      hundreds of thousands of live containers that every full collection walks again,
      which cost a third of the CPU of a 100k pull. Nothing built here forms cycles;
      reference counting still frees everything else as it goes.
    """
    ldap3_logger = logging.getLogger("ldap3")
    redact = _Redact(password) if password else None
    if redact:
        ldap3_log.set_library_log_hide_sensitive_data(True)
        ldap3_logger.addFilter(redact)
    case_insensitive = get_config_parameter(CASE_INSENSITIVE)
    set_config_parameter(CASE_INSENSITIVE, False)
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc_was_on:
            gc.enable()
        set_config_parameter(CASE_INSENSITIVE, case_insensitive)
        if redact:
            ldap3_logger.removeFilter(redact)


CASE_INSENSITIVE = "CASE_INSENSITIVE_ATTRIBUTE_NAMES"


def _text_attrs(item: dict[str, Any]) -> dict[str, list[str]]:
    """ldap3's decoded attributes (UTF-8, else its fallback encodings) by lower-case name.

    ``objectSid`` is binary: without a schema ldap3 decodes it as Latin-1 text, so it is
    rebuilt from the raw bytes in its ``S-1-…`` form.
    """
    out = {k.lower(): v for k, v in item["attributes"].items() if v}
    if "objectsid" in out:
        out["objectsid"] = [sid_text(v) for k, values in item["raw_attributes"].items()
                            if k.lower() == "objectsid" for v in values]
    return out


def _describe(result: dict | None) -> str:
    result = result or {}
    text = result.get("description") or "unknown error"
    if result.get("message"):
        text += f" ({result['message'].strip()})"
    return text


def _explain(exc: BaseException, password: str | None) -> str:
    """A short, secret-free reason for a transport-level failure."""
    text = str(exc) or type(exc).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        text = "TLS certificate verification failed (wrong or missing ca_file?): " + text
    elif "doesn't match" in text or "does not match" in text:
        text = "TLS certificate does not name the host in the URL: " + text
    if password:
        text = text.replace(password, "********")
    return text
