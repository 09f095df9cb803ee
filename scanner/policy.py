"""PolicyPack loading and validation (SPEC §5).

The pack schema is generated from the registry of kinds: each kind contributes its
params schema through an if/then branch, so the schema never drifts from the code.
Every problem of every file is collected before anything is raised, so one run of
``ledgerguard validate`` shows them all, each with file:line:column.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .contract import SEVERITIES
from .errors import InputError, Problem
from .kinds.base import KINDS
from .yamlload import YamlDoc, load_yaml, validate

API_VERSION = "ledgerguard/v1"
BUILTIN_PACK = Path(__file__).resolve().parent.parent / "policies" / "cn_finance"

_TEXT = {"type": "string", "minLength": 1}
_I18N_TEXT = {
    "oneOf": [
        _TEXT,
        {"type": "object", "additionalProperties": False, "minProperties": 1,
         "properties": {"en": _TEXT, "zh": _TEXT}},
    ]
}
_ID = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*$"}


def builtin_pack_path() -> Path:
    """The built-in pack: beside the source tree (editable) or inside the installed package."""
    if BUILTIN_PACK.is_dir():
        return BUILTIN_PACK
    from importlib.resources import files

    return Path(str(files("ledgerguard.policies") / "cn_finance"))


def pack_schema() -> dict[str, Any]:
    return _pack_schema(tuple(KINDS.names()))


@functools.cache
def _pack_schema(kinds: tuple[str, ...]) -> dict[str, Any]:
    """Built once per set of kinds (every pack file is checked against it). Callers only read it."""
    kinds = list(kinds)
    policy = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "kind", "title", "severity"],
        "properties": {
            "id": _ID,
            "kind": {"enum": kinds},
            "title": _I18N_TEXT,
            "severity": {"enum": list(SEVERITIES)},
            "description": _I18N_TEXT,
            "references": {"type": "array", "items": _TEXT},
            "remediation": _I18N_TEXT,
            "enabled": {"type": "boolean"},
            "params": {"type": "object"},
        },
        "allOf": [
            {"if": {"properties": {"kind": {"const": name}}, "required": ["kind"]},
             "then": {"properties": {"params": KINDS.get(name).schema()},
                      # a kind with required params cannot do without them (table_rule)
                      **({"required": ["params"]} if KINDS.get(name).params_schema.get("required") else {})}}
            for name in kinds
        ],
    }
    control = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "title"],
        "properties": {
            "id": _ID,
            "title": _I18N_TEXT,
            "source": _TEXT,
            "policies": {"type": "array", "items": _ID},
            "manual": {"type": "boolean"},
            "procedure": _I18N_TEXT,
        },
        "if": {"properties": {"manual": {"const": True}}, "required": ["manual"]},
        "then": {"required": ["procedure"]},
        "else": {"required": ["policies"]},
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata"],
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "kind": {"const": "PolicyPack"},
            "metadata": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {"name": _TEXT, "version": {"type": ["string", "number"]},
                               "description": _I18N_TEXT},
            },
            "policies": {"type": "array", "items": policy},
            "controls": {"type": "array", "items": control},
        },
    }


def i18n(value: Any) -> dict[str, str] | None:
    """A text given as a string or {en, zh}, always as a dict with at least "en"."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"en": value, "zh": value}
    return {"en": value.get("en") or value.get("zh"), "zh": value.get("zh") or value.get("en")}


@dataclass(frozen=True)
class Policy:
    id: str
    kind: str
    title: dict[str, str]
    severity: str
    params: dict[str, Any]
    pack: str
    file: str
    line: int
    description: dict[str, str] | None = None
    references: tuple[str, ...] = ()
    remediation: dict[str, str] | None = None
    enabled: bool = True


@dataclass(frozen=True)
class Control:
    id: str
    title: dict[str, str]
    source: str | None
    policies: tuple[str, ...]
    manual: bool
    procedure: dict[str, str] | None


@dataclass
class PolicyPack:
    name: str
    version: str
    description: dict[str, str] | None
    path: str
    sha256: str
    policies: list[Policy] = field(default_factory=list)
    controls: list[Control] = field(default_factory=list)


BUILTIN = "builtin"  # ``--policies builtin``: the built-in pack, e.g. alongside files of one's own


def pack_files(paths: list[str | Path]) -> list[Path]:
    """Files named directly, plus every *.yaml / *.yml directly inside named folders;
    ``builtin`` names the built-in pack."""
    out: list[Path] = []
    for raw in paths:
        p = builtin_pack_path() if str(raw) == BUILTIN else Path(raw)
        if p.is_dir():
            found = sorted(x for x in p.iterdir() if x.suffix in (".yaml", ".yml") and x.is_file())
            if not found:
                raise InputError(Problem("folder holds no policy files (*.yaml)", str(p)))
            out.extend(found)
        elif p.exists():
            out.append(p)
        else:
            raise InputError(Problem("no such file or folder", str(p)))
    return out


def _one_kind_policy_schema(schema: dict[str, Any], kind: Any) -> dict[str, Any]:
    """The policy item schema with only ``kind``'s if/then branch: every other branch's
    ``if`` (kind equals another name) is false for such an item, so both schemas accept
    exactly the same items — at a 25th of the cost of trying every branch."""
    item = schema["properties"]["policies"]["items"]
    return {**item, "allOf": [b for b in item["allOf"] if b["if"]["properties"]["kind"]["const"] == kind]}


@functools.cache
def _is_valid(kinds: tuple[str, ...], kind: str | None) -> Callable[[Any], bool]:
    """is_valid of one policy of ``kind``, or (None) of the pack without its policies, with
    the format checks ``yamlload.validate`` applies."""
    import jsonschema

    schema = _pack_schema(kinds)
    part = ({**schema, "properties": {**schema["properties"], "policies": {"type": "array"}}} if kind is None
            else _one_kind_policy_schema(schema, kind))
    return jsonschema.Draft202012Validator(part, format_checker=jsonschema.FormatChecker()).is_valid


def _valid(data: Any) -> bool:
    """The pack is valid against ``pack_schema()``: the fast path of a valid pack (the usual
    case), checking each policy against its own kind's branch only. Any doubt (False) sends
    the document through the full schema, whose errors name the original schema paths."""
    kinds = tuple(KINDS.names())
    if not _is_valid(kinds, None)(data):
        return False
    return all(isinstance(p, dict) and p.get("kind") in kinds and _is_valid(kinds, p["kind"])(p)
               for p in data.get("policies", []))


def _pack_from_doc(doc: YamlDoc, path: Path, raw: bytes) -> tuple[PolicyPack, list[Problem]]:
    import jsonschema

    schema = pack_schema()
    fast = _valid(doc.data)
    problems = [] if fast else validate(doc, schema)
    data = doc.data if isinstance(doc.data, dict) else {}
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    pack = PolicyPack(
        name=str(meta.get("name", path.stem)),
        version=str(meta.get("version", "")),
        description=i18n(meta.get("description")),
        path=str(path),
        sha256=hashlib.sha256(raw).hexdigest(),
    )
    # every policy and control that is valid by itself is checked further and kept, so one
    # run reports all mistakes (a duplicate id or a bad expression next to a schema error)
    valid_policy = (lambda p: True) if fast else \
        jsonschema.Draft202012Validator(schema["properties"]["policies"]["items"]).is_valid
    valid_control = (lambda c: True) if fast else \
        jsonschema.Draft202012Validator(schema["properties"]["controls"]["items"]).is_valid
    for i, p in enumerate(_items(data, "policies")):
        if not valid_policy(p):
            continue
        kind = KINDS.get(p["kind"])
        for sub, message, *offset in kind.check(p.get("params") or {}):
            problem = doc.positions.problem(("policies", i, "params", *sub), message)
            if offset:  # a place inside a string value (a table_rule expression)
                problem = _inside_scalar(problem, raw, _at(p.get("params") or {}, sub), offset[0])
            problems.append(problem)
        pack.policies.append(Policy(
            id=p["id"], kind=p["kind"], title=i18n(p["title"]), severity=p["severity"],
            params=p.get("params") or {}, pack=pack.name, file=str(path),
            line=doc.positions.values[("policies", i)][0],
            description=i18n(p.get("description")), references=tuple(p.get("references") or ()),
            remediation=i18n(p.get("remediation")), enabled=p.get("enabled", True),
        ))
    for c in _items(data, "controls"):
        if not valid_control(c):
            continue
        pack.controls.append(Control(
            id=c["id"], title=i18n(c["title"]), source=c.get("source"),
            policies=tuple(c.get("policies") or ()), manual=c.get("manual", False),
            procedure=i18n(c.get("procedure")),
        ))
    return pack, problems


def _items(data: dict[str, Any], key: str) -> list[Any]:
    items = data.get(key)
    return items if isinstance(items, list) else []


def _at(data: Any, path: tuple) -> Any:
    for k in path:
        data = data[k]
    return data


def _inside_scalar(problem: Problem, raw: bytes, value: Any, offset: int) -> Problem:
    """Move a problem from the start of a string value to ``offset`` characters into it.

    Exact for one-line plain and quoted scalars (without escapes before the offset) and
    for literal blocks (``|``); otherwise the position stays at the value's start and
    the message names the character.
    """
    if problem.line is None or problem.column is None or not isinstance(value, str):
        return problem
    lines = raw.decode("utf-8-sig", errors="replace").splitlines()
    if problem.line > len(lines):
        return problem
    start = lines[problem.line - 1][problem.column - 1:problem.column]
    line, column = problem.line, problem.column
    one_line = len(lines[problem.line - 1]) >= problem.column + offset - 1
    if one_line and (start in ("'", '"') or (start not in ("|", ">") and "\n" not in value)):
        column += offset + (1 if start in ("'", '"') else 0)
    elif start == "|" and problem.line < len(lines):
        before = value[:offset]
        body = lines[problem.line]
        indent = len(body) - len(body.lstrip(" "))
        line = problem.line + 1 + before.count("\n")
        column = indent + 1 + len(before) - (before.rfind("\n") + 1)
    else:
        return Problem(f"{problem.message} (at character {offset + 1})", problem.file, problem.line,
                       problem.column, problem.schema_path)
    return Problem(problem.message, problem.file, line, column, problem.schema_path)


def load_packs(paths: list[str | Path] | None = None) -> list[PolicyPack]:
    """Load and fully validate policy packs; the built-in pack when no path is given."""
    files = pack_files(paths or [builtin_pack_path()])
    packs: list[PolicyPack] = []
    problems: list[Problem] = []
    docs: dict[str, YamlDoc] = {}
    for path in files:
        try:
            doc = load_yaml(path)
            raw = path.read_bytes()
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        pack, found = _pack_from_doc(doc, path, raw)
        docs[str(path)] = doc
        problems.extend(found)
        packs.append(pack)
    problems.extend(_cross_pack_problems(packs, docs))
    if problems:
        raise InputError(sorted(problems, key=lambda p: (p.file or "", p.line or 0, p.column or 0)))
    return packs


def _cross_pack_problems(packs: list[PolicyPack], docs: dict[str, YamlDoc]) -> list[Problem]:
    """Duplicate policy ids across every loaded pack; controls naming unknown policies."""
    problems = []
    seen: dict[str, str] = {}  # id → where it is first defined
    for pack in packs:
        doc = docs[pack.path]
        data = doc.data if isinstance(doc.data, dict) else {}
        for i, raw in enumerate(_items(data, "policies")):
            pid = raw.get("id") if isinstance(raw, dict) else None
            if not isinstance(pid, str):
                continue
            if pid in seen:
                problems.append(doc.positions.problem(
                    ("policies", i, "id"), f"duplicate policy id {pid!r} (first in {seen[pid]})"))
            else:
                seen[pid] = f"{pack.path}:{doc.positions.values[('policies', i)][0]}"
    for pack in packs:
        doc = docs[pack.path]
        for i, control in enumerate(pack.controls):
            for j, pid in enumerate(control.policies):
                if pid not in seen:
                    problems.append(doc.positions.problem(
                        ("controls", i, "policies", j),
                        f"control {control.id!r} names unknown policy {pid!r}"))
    return problems


def all_policies(packs: list[PolicyPack]) -> list[Policy]:
    return [p for pack in packs for p in pack.policies]


def select_policies(packs: list[PolicyPack], only: list[str] | tuple[str, ...] = (),
                    skip: list[str] | tuple[str, ...] = ()) -> list[PolicyPack]:
    """``--policy`` / ``--skip-policy``: policies outside the selection are disabled, so they
    end ``skipped`` in every report (a control they check says so) instead of vanishing.

    Globs are shell-style and case-sensitive; a glob matching no policy id is an input
    error with the closest ids, since a typo would otherwise silently select nothing."""
    import difflib
    import fnmatch

    ids = [p.id for p in all_policies(packs)]
    problems = []
    for option, globs in (("--policy", only), ("--skip-policy", skip)):
        for glob in globs:
            if not any(fnmatch.fnmatchcase(i, glob) for i in ids):
                close = difflib.get_close_matches(glob, ids, n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else f" (ids: {', '.join(ids)})"
                problems.append(Problem(f"{option} {glob!r} matches no policy{hint}"))
    if problems:
        raise InputError(problems)

    def chosen(pid: str) -> bool:
        wanted = not only or any(fnmatch.fnmatchcase(pid, g) for g in only)
        return wanted and not any(fnmatch.fnmatchcase(pid, g) for g in skip)

    return [dataclasses.replace(pack, policies=[p if chosen(p.id) else dataclasses.replace(p, enabled=False)
                                                for p in pack.policies]) for pack in packs]
