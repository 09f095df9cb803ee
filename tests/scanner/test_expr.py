"""The table_rule language: what it accepts, what it refuses (and where), never eval."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from conftest import policy_pack
from ledgerguard.scanner.context import Context
from ledgerguard.scanner.expr import ExprError, ExprEvalError, parse, parse_template
from ledgerguard.scanner.snapshot import Snapshot, type_table


def rejected(source: str, prefixes=("identity",)) -> ExprError:
    with pytest.raises(ExprError) as info:
        parse(source, prefixes)
    return info.value


@pytest.mark.parametrize(("source", "fragment", "offset"), [
    # attribute access on a value, and dotted names reaching for Python internals
    ('status.upper() == "X"', "unknown function 'status.upper'", 0),
    ('"abc".upper', "attribute access", 5),
    ("identity.__class__ == 1", "dunder", 9),
    ("__import__", "dunder", 0),
    ("enabled and __builtins__", "dunder", 12),
    # calls other than matches / days_since / date
    ('eval("1")', "unknown function 'eval'", 0),
    ("open(path)", "unknown function 'open'", 0),
    ('getattr(x, "y")', "unknown function 'getattr'", 0),
    # comprehensions, lambdas, subscripts, conditionals
    ("[x for x in roles]", "comprehensions", 3),
    ("any(x for x in roles)", "comprehensions", 6),
    ("lambda: 1", "lambdas", 0),
    ("roles[0] == 1", "subscripts", 5),
    ('a if b else c', "conditional", 2),
    # arithmetic and other operators
    ("a + 1 > 2", "arithmetic", 2),
    ('a = "x"', "write ==", 2),
    ("a && b", "write and", 2),
    # shapes the type checker refuses
    ("a == null", "is null", 2),
    ('"x"', "must be true or false", 0),
    ("days_since(last_login_at)", "must be true or false", 0),
    ('not "x"', "needs true/false", 4),
    ('1 == "x"', "cannot compare", 2),
    ('matches(role)', "matches() takes", 0),
    ('days_since("2026-01-01") > 3', "days_since() takes one column", 0),
    ('date("yesterday") < today', "not a date", 5),
    ('date("2026-02-30") < today', "not a valid date", 5),
    ("a in [b]", "literals", 6),
    ("a in [null]", "null cannot", 6),
    ('account.enabled == true', "unknown joined column 'account.enabled'", 0),
    ('a == "unterminated', "unterminated", 5),
    ("(a == 1", "expected ')'", 7),
    ("", "empty", 0),
])
def test_rejected_with_offset(source, fragment, offset):
    err = rejected(source)
    assert fragment in err.message
    assert err.offset == offset


def test_huge_literals_and_deep_nesting_are_rejected():
    assert "longer than 10000" in rejected("a == 1 or " * 1200 + "a == 1").message
    assert "string literal is longer" in rejected('a == "' + "x" * 2000 + '"').message
    assert "number literal" in rejected("a == " + "9" * 100).message
    assert "nested more than" in rejected("(" * 40 + "a" + ")" * 40).message
    assert "nested more than" in rejected("not " * 40 + "a").message


def test_templates_allow_columns_only():
    t = parse_template("account:{system}:{identity.name} {{literal}}", ("identity",))
    assert t.columns == ["system", "identity.name"]
    for bad, fragment in [("{a.__class__}", "dunder"), ("{x[0]}", "column name"), ("{a!r}", "column name"),
                          ("{a:>10}", "column name"), ("{}", "column name"), ("{0}", "column name"),
                          ("{a", "without a closing"), ("a}", "single '}'"),
                          ("{account.x}", "unknown joined column")]:
        with pytest.raises(ExprError, match=re.escape(fragment)):
            parse_template(bad, ("identity",))


def _ctx(rows: list[dict], tz: str = "Asia/Shanghai") -> tuple[pd.DataFrame, Context]:
    raw = pd.DataFrame(rows, dtype="str")
    df = type_table("accounts", raw, tz, "accounts.csv")
    snap = Snapshot(None, tz, None, {"accounts": df})
    return df, Context(snap, pd.Timestamp("2026-11-23", tz=tz))


ROWS = [
    {"system": "erp", "account_id": "a", "enabled": "true", "last_login_at": "2026-11-22T23:30:00+08:00",
     "account_type": "admin", "size": "120", "created_at": "2026-01-01"},
    {"system": "erp", "account_id": "b", "enabled": "false", "last_login_at": "2026-05-01",
     "account_type": "", "size": "abc", "created_at": "2025-06-30"},
    {"system": "crm", "account_id": "c", "enabled": "yes", "last_login_at": "",
     "account_type": "service", "size": "7", "created_at": ""},
]


@pytest.mark.parametrize(("source", "expected"), [
    ("enabled", ["a", "c"]),
    ("not enabled", ["b"]),
    ('enabled and system == "erp"', ["a"]),
    ('system != "erp" or not enabled', ["b", "c"]),
    ('account_type in ["admin", "service"]', ["a", "c"]),
    ('account_type not in ["admin"]', ["c"]),  # empty is neither in nor not in
    ("account_type is null", ["b"]),
    ("last_login_at is not null", ["a", "b"]),
    ('matches(account_id, "[ab]")', ["a", "b"]),
    ('matches(system, "c*", "x*")', ["c"]),
    ("days_since(last_login_at) > 90", ["b"]),
    ("days_since(last_login_at) <= 1", ["a"]),  # 23:30 local on 11-22 is one day old
    ('last_login_at < date("2026-11-22")', ["b"]),
    ('last_login_at == "2026-11-22"', ["a"]),  # a date string against a time column: local date
    ("created_at < today", ["a", "b"]),
    ("size > 100", ["a"]),  # a text column read as a number; 'abc' is empty
    ("size != 7", ["a"]),  # comparisons with empty values are false
    ("enabled == true and size >= -1", ["a", "c"]),
    ("(enabled) and (size < 10 or account_id == 'b')", ["c"]),
    ('true', ["a", "b", "c"]),
])
def test_evaluates_vectorised(source, expected):
    df, ctx = _ctx(ROWS)
    mask = parse(source).evaluate(df, ctx)
    assert list(df.loc[mask.to_numpy(), "account_id"]) == expected


@pytest.mark.parametrize(("source", "fragment"), [
    ("nosuch == 1", "unknown column 'nosuch'"),
    ("system", "does not hold true/false"),
    ("days_since(system) > 1", "does not hold dates"),
    ("enabled > 1", "does not hold numbers"),
])
def test_evaluation_errors(source, fragment):
    df, ctx = _ctx(ROWS)
    with pytest.raises(ExprEvalError, match=re.escape(fragment)):
        parse(source).evaluate(df, ctx)


def test_the_language_never_reaches_python(monkeypatch):
    """Even if eval/exec existed as columns or functions, nothing calls them."""
    import builtins

    def boom(*a, **k):
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "eval", boom)
    monkeypatch.setattr(builtins, "exec", boom)
    monkeypatch.setattr(pd.DataFrame, "query", boom)
    monkeypatch.setattr(pd.DataFrame, "eval", boom)
    df, ctx = _ctx(ROWS)
    assert parse('enabled and matches(system, "e*") and days_since(last_login_at) < 400').evaluate(
        df, ctx).sum() == 1


def test_validate_points_inside_the_expression(cli, write_yaml):
    rule = """
    id: TR-001
    kind: table_rule
    title: t
    severity: high
    params:
      table: accounts
      where: enabled and getattr(identity, "x")
      message: "{display_name}"
    """
    quoted = rule.replace("TR-001", "TR-002").replace(
        'where: enabled and getattr(identity, "x")', """where: 'enabled and __import__("os")'""")
    block = rule.replace("TR-001", "TR-003").replace(
        'where: enabled and getattr(identity, "x")', "where: |\n        enabled and\n          x.y == 1")
    pack = write_yaml("p.yaml", policy_pack(rule, quoted, block))
    result = cli("validate", pack)
    assert result.exit_code == 2
    lines = pack.read_text().splitlines()
    found = re.findall(r"p\.yaml:(\d+):(\d+): (.*)", result.stderr)
    assert len(found) == 3, result.stderr
    # each position points at the offending token inside the expression
    tokens = ["getattr", "__import__", "x.y"]
    for (line, col, msg), token in zip(found, tokens, strict=True):
        assert lines[int(line) - 1][int(col) - 1:].startswith(token), (line, col, msg)
    assert "unknown function 'getattr'" in found[0][2]
    assert "dunder" in found[1][2]
    assert "unknown joined column 'x.y'" in found[2][2]
