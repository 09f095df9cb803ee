"""privileged_mfa — privileged access needs a second factor (SPEC §5, §5.1).

An enabled account of the listed ``systems`` that holds any permission matching
``privileged_permissions`` (effective permissions: roles through role_permissions,
``deny`` entries removed) while ``mfa_enabled`` is false or empty is reported once,
with the privileged permissions and the roles that give them.
"""

from __future__ import annotations

from ..context import ACCOUNT, Context, glob_mask
from ..lazy import pandas as pd
from .base import KINDS, SYSTEMS_PARAM, PolicyKind, account_subject, concat_findings, emit, glob_counts, group_lists


@KINDS.register("privileged_mfa")
class PrivilegedMfa(PolicyKind):
    subject = "account"
    tables = ("accounts", "grants", "role_permissions")
    joins = frozenset({"_accounts", "_accounts_in_order", "keyed:accounts", "account_permissions"})
    codes = {"privileged_without_mfa": "an enabled account holds a privileged permission without mfa_enabled"}
    params_schema = {
        "type": "object",
        "properties": {
            "systems": SYSTEMS_PARAM,
            "privileged_permissions": {"type": "array", "minItems": 1,
                                       "items": {"type": "string", "minLength": 1}, "default": ["sys.*"],
                                       "description": "Permission globs that need MFA."},
        },
    }

    def permission_globs(self) -> list[str]:
        """A role matters only through the privileged permissions it gives (or a deny)."""
        return list(self.params["privileged_permissions"])

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        perms = ctx.account_permissions
        perms = perms[perms["enabled"] & glob_mask(perms["system"], self.params["systems"])]
        known = ctx.table("role_permissions")
        known = known[glob_mask(known["system"], self.params["systems"])]["permission"]
        self.cover(perms[ACCOUNT].nunique(), "enabled accounts holding permissions in the listed systems",
                   decisive="privileged_permissions",
                   privileged_permissions=glob_counts(known, self.params["privileged_permissions"], distinct=True))
        perms = perms[glob_mask(perms["permission"], self.params["privileged_permissions"])]
        if perms.empty:
            return concat_findings([])
        acc = ctx.keyed("accounts")[[ACCOUNT, "system", "account_id", "person_id", "mfa_enabled"]]
        acc = acc.merge(perms[[ACCOUNT]].drop_duplicates(), on=ACCOUNT, sort=False)
        acc = acc[~acc["mfa_enabled"]]
        if acc.empty:
            return concat_findings([])
        perms = perms.merge(acc[[ACCOUNT]], on=ACCOUNT, sort=False)
        rows = acc.assign(subject=account_subject(acc))
        subjects = account_subject(perms)
        for col, source in (("permissions", "permission"), ("roles", "role")):
            lists = group_lists(subjects, perms[source]).reindex(rows["subject"])
            rows[col] = [", ".join(x) for x in lists]
        return emit(
            rows, code="privileged_without_mfa", subject=rows["subject"], person_id=rows["person_id"],
            message=(rows["subject"].str.slice(8) + " holds " + rows["permissions"] + " (roles "
                     + rows["roles"] + ") without MFA"),
            evidence=["mfa_enabled", "permissions", "roles"],
        )
