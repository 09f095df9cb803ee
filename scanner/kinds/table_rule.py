"""table_rule — any row of a table matching a safe expression (SPEC §5, the escape hatch).

The ``where`` rule is written in the small language of ``scanner/expr.py``: parsed
and checked when the policy is loaded (mistakes are reported at the line and column
inside the expression), compiled to vectorised pandas operations, never ``eval``-ed.
Joined columns: ``identity.*`` on ``accounts`` (the account's person); ``account.*``
and ``identity.*`` on ``grants``. ``message`` and ``subject`` are templates with
``{column}`` placeholders. One finding per subject (and ``key``, when given): several
matching rows of one subject make one finding whose evidence counts them.
"""

from __future__ import annotations

from typing import Any

from ..context import Context
from ..expr import ExprError, parse, parse_template
from ..lazy import pandas as pd
from ..snapshot import TABLES
from .base import KINDS, PolicyKind, emit

#: joined column prefixes per table
JOINS: dict[str, tuple[str, ...]] = {"accounts": ("identity",), "grants": ("account", "identity")}
#: the subject a table's rows name when the policy gives no ``subject`` template
DEFAULT_SUBJECTS = {
    "identities": "person:{person_id}",
    "accounts": "account:{system}:{account_id}",
    "grants": "account:{system}:{account_id}",
    "reviews": "account:{system}:{account_id}",
    "logins": "account:{system}:{account_id}",
    "changes": "change:{change_id}",
    "archives": "archive:{archive_id}",
    "access_log": "archive:{archive_id}",
    "backups": "dataset:{dataset}",
    "role_permissions": "role:{system}:{role}",
}
_TEMPLATE = {"type": "string", "minLength": 1, "maxLength": 10_000}


@KINDS.register("table_rule")
class TableRule(PolicyKind):
    subject = "the `subject` template (default per table, e.g. account:{system}:{account_id})"
    codes = {"row_matched": "a row matches the `where` rule (the code can be renamed with `code`)"}
    params_schema = {
        "type": "object",
        "required": ["table", "where", "message"],
        "properties": {
            "table": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
                      "description": f"Table whose rows are tested ({', '.join(TABLES)}, or any other "
                                     "table of the snapshot)."},
            "where": {"type": "string", "minLength": 1, "maxLength": 10_000,
                      "description": "The rule: a row matching it is a finding (safe language, see below)."},
            "message": {"oneOf": [_TEMPLATE, {
                "type": "object", "required": ["en"], "additionalProperties": False,
                "properties": {"en": _TEMPLATE, "zh": _TEMPLATE}}],
                "description": "Finding message; {column} placeholders. Text, or {en: …, zh: …}: the "
                               "Chinese one is what reports show with --lang zh (findings.json keeps "
                               "the English one as `message`, the others under `messages`)."},
            "subject": {**_TEMPLATE, "description": "Subject key template; default per table."},
            "key": {**_TEMPLATE, "description": "Template telling apart several findings of one subject "
                                                "(e.g. {role}); default: one finding per subject."},
            "code": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*$", "default": "row_matched",
                     "description": "Finding code."},
            "evidence": {"type": "array", "items": {"type": "string"},
                         "description": "Columns copied into the evidence; default: the columns the "
                                        "rule and templates use."},
        },
    }

    @classmethod
    def check(cls, params: dict[str, Any]) -> list[tuple]:
        """Parse the rule and the templates now, so mistakes fail `validate`, not the scan.

        Each problem carries a third element, the character offset inside the string,
        which the policy loader turns into the exact column of the file.
        """
        prefixes = JOINS.get(params.get("table", ""), ())
        problems: list[tuple] = []
        try:
            parse(params.get("where", ""), prefixes)
        except ExprError as exc:
            problems.append((("where",), f"in the rule: {exc.message}", exc.offset))
        templates = [((name,), params[name]) for name in ("subject", "key") if name in params]
        message = params.get("message")
        templates += ([(("message", lang), text) for lang, text in message.items()] if isinstance(message, dict)
                      else [(("message",), message)] if message is not None else [])
        for path, text in templates:
            try:
                parse_template(text, prefixes)
            except ExprError as exc:
                problems.append((path, f"in the template: {exc.message}", exc.offset))
        if "subject" not in params and params.get("table") not in DEFAULT_SUBJECTS:
            problems.append(((), f"table {params.get('table')!r} has no default subject; give `subject`"))
        return problems

    def reads(self) -> tuple[str, ...]:
        return (self.params["table"],)

    def joined(self) -> frozenset[str]:
        """The context's joins of the table only when the rule or templates use joined columns
        (``_rows``): the table's own rows otherwise."""
        table = self.params["table"]
        if not any("." in c for c in self._parsed()[-1]):
            return frozenset({"_accounts"} if table == "accounts" else ())
        if table == "accounts":
            return frozenset({"_accounts", "keyed:accounts", "accounts_with_identity", "identities", "people"})
        return frozenset({"_accounts", "grants_with_account", "identities", "people"})

    def _parsed(self) -> tuple:
        """(rule, messages by language, subject, key or None, the columns they use) of the params."""
        p = self.params
        prefixes = JOINS.get(p["table"], ())
        rule = parse(p["where"], prefixes)
        texts = p["message"] if isinstance(p["message"], dict) else {"en": p["message"]}
        messages = {lang: parse_template(text, prefixes) for lang, text in texts.items()}
        subject = parse_template(p.get("subject") or DEFAULT_SUBJECTS[p["table"]], prefixes)
        key = parse_template(p["key"], prefixes) if p.get("key") else None
        used = [*rule.columns, *(c for m in messages.values() for c in m.columns), *subject.columns,
                *(key.columns if key else [])]
        return rule, messages, subject, key, used

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        p = self.params
        table = p["table"]
        rule, messages, subject, key, used = self._parsed()
        message = messages["en"]
        df = self._rows(ctx, table, used)
        self.cover(len(df), f"rows of {table}")
        rows = df[rule.evaluate(df, ctx).to_numpy()]
        if rows.empty:
            return emit(rows, code=p["code"], subject="", message="")
        rows = rows.assign(_subject=subject.render(rows), _key=key.render(rows) if key else None)
        group = ["_subject", "_key"] if key else ["_subject"]
        counts = rows.groupby(group, sort=False, dropna=False)["_subject"].transform("size")
        rows = rows.assign(matched_rows=counts).drop_duplicates(group)
        evidence = list(dict.fromkeys(p.get("evidence") or [c for c in used if c in rows.columns]))
        missing = [c for c in evidence if c not in rows.columns]
        if missing:
            raise ValueError(f"evidence column(s) {', '.join(missing)} not in table {table!r}")
        person = next((c for c in ("person_id", "account.person_id") if c in rows.columns), None)
        return emit(
            rows, code=p["code"], subject=rows["_subject"], message=message.render(rows),
            messages={lang: m.render(rows) for lang, m in messages.items() if lang != "en"} or None,
            person_id=rows[person] if person else None,
            evidence=[*evidence, "matched_rows"], key=rows["_key"] if key else None,
        )

    @staticmethod
    def _rows(ctx: Context, table: str, used: list[str]) -> pd.DataFrame:
        """The table, joined only when the rule or templates use joined columns."""
        joined = {c.split(".", 1)[0] for c in used if "." in c}
        if table == "accounts" and joined:
            return ctx.accounts_with_identity
        if table == "grants" and joined:
            return ctx.grants_with_account
        return ctx.table(table)
