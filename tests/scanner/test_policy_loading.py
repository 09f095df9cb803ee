"""Policy validation: every problem at once, each with file:line:column and schema path."""

from __future__ import annotations

import re

from conftest import policy_pack

GOOD = """
id: ACC-001
kind: revoke_on_departure
title: {en: Departed staff keep no enabled account, zh: 离职人员账号及时停用}
severity: critical
params: {grace_days: 0}
"""


def test_three_mistakes_are_all_reported_with_line_numbers(cli, write_yaml):
    path = write_yaml("pack.yaml", """
        apiVersion: ledgerguard/v1
        kind: PolicyPack
        metadata: {name: broken}
        policies:
          - id: ACC-001
            kind: revoke_on_departure
            title: ok
            severity: critical
            params:
              grace_days: "three"
          - id: ACC-002
            kind: no_such_kind
            title: ok
            severity: high
          - id: ACC-003
            kind: revoke_on_departure
            title: ok
            severity: severe
            colour: blue
    """)
    result = cli("validate", path)
    assert result.exit_code == 2
    err = result.stderr
    assert re.search(r"pack\.yaml:10:\d+: .*'three' is not of type 'integer'.*\[schema: .*grace_days/type\]", err)
    assert re.search(r"pack\.yaml:12:\d+: .*'no_such_kind' is not one of", err)
    assert re.search(r"pack\.yaml:18:\d+: .*'severe' is not one of", err)
    assert re.search(r"pack\.yaml:19:5: unknown key 'colour'", err)
    assert "Traceback" not in result.output + err


def test_duplicate_keys_and_duplicate_ids_are_errors(cli, write_yaml):
    a = write_yaml("a.yaml", policy_pack(GOOD))
    b = write_yaml("b.yaml", policy_pack(GOOD.replace("severity: critical", "severity: critical\nseverity: high")))
    result = cli("validate", a, b)
    assert result.exit_code == 2
    assert re.search(r"b\.yaml:\d+:\d+: duplicate key 'severity'", result.stderr)
    c = write_yaml("c.yaml", policy_pack(GOOD, name="other"))
    result = cli("validate", a, c)
    assert result.exit_code == 2
    assert re.search(r"c\.yaml:5:\d+: duplicate policy id 'ACC-001' \(first in .*a\.yaml:5\)", result.stderr)


def test_duplicate_ids_and_expression_errors_are_reported_next_to_schema_errors(cli, write_yaml):
    path = write_yaml("pack.yaml", """
        apiVersion: ledgerguard/v1
        kind: PolicyPack
        metadata: {name: mixed}
        policies:
          - id: X-1
            kind: revoke_on_departure
            title: ok
            severity: critical
            params: {grace_days: "two"}
          - id: X-1
            kind: dormant_account
            title: ok
            severity: high
          - id: X-2
            kind: table_rule
            title: ok
            severity: low
            params: {table: accounts, where: "enabled and __class__", message: "x"}
    """)
    result = cli("validate", path)
    assert result.exit_code == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 3, result.stderr
    assert re.search(r"pack\.yaml:9:\d+: .*'two' is not of type 'integer'", lines[0])
    assert re.search(r"pack\.yaml:10:\d+: duplicate policy id 'X-1' \(first in .*pack\.yaml:5\)", lines[1])
    assert re.search(r"pack\.yaml:18:\d+: ", lines[2]) and "__class__" in lines[2]


def test_invalid_yaml_names_line_and_column(cli, write_yaml):
    path = write_yaml("bad.yaml", "apiVersion: ledgerguard/v1\npolicies: [\n  {id: x\n")
    result = cli("validate", path)
    assert result.exit_code == 2
    assert re.search(r"bad\.yaml:\d+:\d+: invalid YAML", result.stderr)


def test_yaml_aliases_are_refused(cli, write_yaml):
    path = write_yaml("alias.yaml", "a: &x [1, 2]\nb: [*x, *x]\n")
    result = cli("validate", path)
    assert result.exit_code == 2
    assert "aliases" in result.stderr


def test_valid_pack_and_builtin_pack_validate(cli, write_yaml):
    path = write_yaml("ok.yaml", policy_pack(GOOD))
    result = cli("validate", path)
    assert result.exit_code == 0, result.output + result.stderr
    assert "1 policy pack(s), 1 policies" in result.output


def test_policies_show_fills_defaults(cli, write_yaml):
    path = write_yaml("ok.yaml", policy_pack(GOOD))
    result = cli("policies", "show", "ACC-001", "--policies", path, "--lang", "zh")
    assert result.exit_code == 0
    assert "离职人员账号及时停用" in result.output
    assert "lookback_days: 365" in result.output
    assert "enabled_after_departure" in result.output
    result = cli("policies", "show", "NOPE-1", "--policies", path)
    assert result.exit_code == 2


def test_libyaml_reads_every_shipped_yaml_file_as_the_reference_parser_does():
    """The fast path (libyaml's parser) must give the same values at the same lines and
    columns as PyYAML's pure-Python parser, which it replaced for speed."""
    from pathlib import Path

    from ledgerguard.scanner.yamlload import Positions, _compose, _FastLoader, _NoAliasLoader

    root = Path(__file__).resolve().parents[2]
    files = [p for d in ("policies", "examples", "connectors") for p in (root / d).rglob("*.y*ml")]
    assert len(files) > 20
    for path in files:
        text = path.read_text(encoding="utf-8")
        fast, reference = Positions(str(path)), Positions(str(path))
        assert _compose(_FastLoader, text, fast, []) == _compose(_NoAliasLoader, text, reference, []), path
        assert fast == reference, path


def test_a_file_libyaml_refuses_is_reported_in_the_reference_parsers_words(write_yaml):
    from yaml import MarkedYAMLError

    from ledgerguard.scanner.errors import InputError
    from ledgerguard.scanner.yamlload import Positions, _compose, _NoAliasLoader, parse_yaml

    text = "a: [1,\nb: {c: 2\n"
    try:
        _compose(_NoAliasLoader, text, Positions("x.yaml"), [])
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        expected = f"x.yaml:{mark.line + 1}:{mark.column + 1}: invalid YAML: {exc.context} {exc.problem}"
    try:
        parse_yaml(text, "x.yaml")
    except InputError as exc:
        assert str(exc.problems[0]) == expected
    else:
        raise AssertionError("not refused")


def test_the_fast_validity_check_agrees_with_the_full_pack_schema():
    """``policy._valid`` (each policy against its own kind's branch only) says valid exactly
    when the full schema finds no error: on every shipped pack file, and on each of them
    with one policy broken in a way each branch of the schema catches."""
    import copy
    from pathlib import Path

    from ledgerguard.scanner.policy import BUILTIN, _valid, pack_files, pack_schema
    from ledgerguard.scanner.yamlload import YamlDoc, load_yaml, validate

    breaks = [lambda p: p["params"].update(no_such_param=1), lambda p: p.update(kind="no_such_kind"),
              lambda p: p.update(params=[]), lambda p: p.update(severity="urgent"), lambda p: p.pop("title"),
              lambda p: p.update(kind="table_rule", params={}), lambda p: p.update(id="bad id")]
    root = Path(__file__).resolve().parents[2]
    files = pack_files([BUILTIN]) + sorted((root / "examples").rglob("*policies*.yaml"))
    checked = 0
    for path in files:
        doc = load_yaml(path)
        if not isinstance(doc.data, dict) or doc.data.get("kind") != "PolicyPack":
            continue
        assert _valid(doc.data) and validate(doc, pack_schema()) == [], path
        for i, policy in enumerate(doc.data.get("policies", [])):
            for n, broken in enumerate(breaks):
                data = copy.deepcopy(doc.data)
                data["policies"][i].setdefault("params", {})
                broken(data["policies"][i])
                full = validate(YamlDoc(data, doc.positions), pack_schema())
                assert _valid(data) == (full == []), (path, policy["id"], n)
                checked += 1
    assert checked > 100
