"""The built-in pack's controls: every policy mapped, manual ones with a procedure, CLI view."""

from __future__ import annotations

import re
import shutil

from ledgerguard.scanner.policy import builtin_pack_path, load_packs

PACK = builtin_pack_path()


def test_every_policy_of_the_pack_is_mapped_to_a_control():
    packs = load_packs()
    controls = [c for p in packs for c in p.controls]
    mapped = {pid for c in controls for pid in c.policies}
    policies = {p.id for pack in packs for p in pack.policies}
    assert policies and policies <= mapped, policies - mapped
    for c in controls:
        assert c.source, c.id
        assert c.manual == (not c.policies), c.id
        if c.manual:
            assert c.procedure and c.procedure["en"] and c.procedure["zh"], c.id
    register = next(c for c in controls if c.id == "CTL-DESTRUCTION-REGISTER")
    for who in ("单位负责人", "档案管理机构负责人", "会计管理机构负责人", "档案管理机构经办人", "会计管理机构经办人"):
        assert who in register.procedure["zh"]
    assert any("监交人" in c.title["zh"] for c in controls)
    assert any("培训" in c.title["zh"] for c in controls)


def test_policies_list_controls_shows_the_mapping(cli):
    result = cli("policies", "list", "--controls")
    assert result.exit_code == 0
    out = result.output
    assert re.search(r"CTL-SOD-CASHIER .*\n    source: 会计基础工作规范 第十二条.*\n    checked by SOD-001 ", out)
    assert re.search(r"CTL-DESTRUCTION-REGISTER .*\[manual\]\n"
                     r"    source: 会计档案管理办法 第十八条\n    procedure: ", out)
    assert re.search(r"\d+ controls \(\d+ checked by policies, \d+ manual\)", out)
    assert "not mapped" not in out
    zh = cli("policies", "list", "--controls", "--lang", "zh").output
    assert "会计档案销毁清册由单位负责人" in zh


def test_a_control_naming_an_unknown_policy_fails_validation(cli, tmp_path):
    pack = tmp_path / "pack"
    shutil.copytree(PACK, pack, ignore=shutil.ignore_patterns("tests"))
    text = (pack / "controls.yaml").read_text(encoding="utf-8")
    (pack / "controls.yaml").write_text(text.replace("policies: [SOD-001]", "policies: [SOD-999]"), encoding="utf-8")
    result = cli("validate", pack)
    assert result.exit_code == 2
    assert re.search(r"controls\.yaml:\d+:\d+: control 'CTL-SOD-CASHIER' names unknown policy 'SOD-999'",
                     result.stderr)
