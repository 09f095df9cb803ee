"""Fixtures of the connector tests. The slapd ones live in slapd.py (imported here)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from slapd import ldap_settings, slapd_server  # noqa: E402

__all__ = ["ldap_settings", "slapd_server"]
