"""YAML loading that keeps where every value came from.

``load_yaml`` returns plain data (dates as ISO strings, so JSON Schema sees what
JSON would) plus a ``Positions`` map from each value's path to its line and column.
Duplicate keys are errors, and aliases are refused outright (no billion-laughs).
``validate`` checks data against a JSON Schema and reports **every** error with the
file:line:column of the offending value and the schema path.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import SafeConstructor
from yaml.cyaml import CParser
from yaml.events import AliasEvent, CollectionStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError
from yaml.resolver import Resolver

from . import limits
from .errors import InputError, Problem
from .jsonload import read_input
from .limits import size_text

if TYPE_CHECKING:
    import jsonschema

PathKey = tuple[str | int, ...]


class _Limits(Composer):
    """No aliases, and limits on nesting and node count checked while composing, so a
    hostile file is refused at its place before it costs a RecursionError or minutes."""

    depth = 0
    nodes = 0

    def compose_node(self, parent, index):  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            raise ComposerError(None, None, "YAML aliases (*name) are not allowed", event.start_mark)
        self.nodes += 1
        if self.nodes > limits.MAX_YAML_NODES:
            raise ComposerError(None, None, f"more than {size_text(limits.MAX_YAML_NODES)} YAML values (the limit)",
                                event.start_mark)
        nested = isinstance(event, CollectionStartEvent)
        if nested:
            self.depth += 1
            if self.depth > limits.MAX_DEPTH:
                raise ComposerError(None, None, f"nested deeper than {limits.MAX_DEPTH} levels (the limit)",
                                    event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= nested


class _NoAliasLoader(_Limits, yaml.SafeLoader):
    """PyYAML's pure-Python reader, scanner and parser: the reference, whose messages say
    where and why a file is not YAML."""


class _FastLoader(_Limits, CParser, SafeConstructor, Resolver):
    """libyaml's scanner and parser (C) feeding the same composer and constructor: the
    policy pack reads 5× faster. A file it refuses is read again by ``_NoAliasLoader``,
    so every error is reported in the reference's words and places."""

    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


@dataclass
class Positions:
    """(line, column), 1-based, of every value and of every mapping key."""

    file: str
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def problem(self, path: Iterable[str | int], message: str, *, key: bool = False,
                schema_path: str | None = None) -> Problem:
        """A problem at ``path``, or at its nearest ancestor that has a position."""
        p = tuple(path)
        table = self.keys if key else self.values
        while p and p not in table and p not in self.values:
            p = p[:-1]
        line, col = table.get(p) or self.values.get(p) or (None, None)
        return Problem(message, self.file, line, col, schema_path)


@dataclass
class YamlDoc:
    data: Any
    positions: Positions


def _construct(node: Node, path: PathKey, pos: Positions, loader: yaml.SafeLoader,
               problems: list[Problem]) -> Any:
    pos.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                problems.append(Problem("mapping keys must be plain scalars", pos.file,
                                        key_node.start_mark.line + 1, key_node.start_mark.column + 1))
                continue
            key = loader.construct_object(key_node)
            key = key.isoformat() if isinstance(key, dt.date) else str(key)
            key_pos = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in out:
                first = pos.keys[(*path, key)]
                problems.append(Problem(f"duplicate key {key!r} (first at line {first[0]})",
                                        pos.file, *key_pos))
                continue
            pos.keys[(*path, key)] = key_pos
            out[key] = _construct(value_node, (*path, key), pos, loader, problems)
        return out
    if isinstance(node, SequenceNode):
        return [_construct(n, (*path, i), pos, loader, problems) for i, n in enumerate(node.value)]
    try:
        value = loader.construct_object(node)
    except ValueError:  # a date-shaped scalar that is no date (2026-13-01): keep the text
        return node.value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _compose(loader_class: type[_Limits], text: str, pos: Positions, problems: list[Problem]) -> Any:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _construct(node, (), pos, loader, problems)
    finally:
        loader.dispose()


def parse_yaml(text: str, file: str) -> YamlDoc:
    pos = Positions(file)
    problems: list[Problem] = []
    try:
        data = _compose(_FastLoader, text, pos, problems)
    except yaml.YAMLError:
        pos, problems = Positions(file), []
        try:
            data = _compose(_NoAliasLoader, text, pos, problems)
        except ReaderError as exc:  # a character YAML forbids (a control character, NUL)
            line = text.count("\n", 0, exc.position) + 1
            col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
            raise InputError(Problem(f"invalid YAML: character {exc.character!r} is not allowed in YAML",
                                     file, line, col)) from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
            msg = " ".join(str(m) for m in (exc.context, exc.problem) if m)
            raise InputError(Problem(f"invalid YAML: {msg}", file, line, col)) from None
        except yaml.YAMLError as exc:
            raise InputError(Problem(f"invalid YAML: {exc}", file)) from None
    if problems:
        raise InputError(problems)
    return YamlDoc(data, pos)


def load_yaml(path: str | Path) -> YamlDoc:
    return parse_yaml(read_input(path, limits.MAX_YAML_BYTES), str(path))


def _schema_path(err: jsonschema.ValidationError) -> str:
    return "/".join(str(x) for x in err.absolute_schema_path)


def validate(doc: YamlDoc, schema: dict, base_path: PathKey = ()) -> list[Problem]:
    """Every schema error of ``doc`` as a located Problem (empty list when valid)."""
    import jsonschema  # ~75 ms to import: only the commands that check a file pay for it

    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    data = doc.data
    for k in base_path:
        data = data[k]
    problems = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        path = (*base_path, *err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set(err.schema.get("properties", {}))
            for extra in [k for k in err.instance if k not in allowed]:
                hint = f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""
                close = difflib.get_close_matches(str(extra), sorted(allowed), n=1)
                hint += f"; did you mean {close[0]}?" if close else ""
                problems.append(doc.positions.problem(
                    (*path, extra), f"unknown key {extra!r}{hint}", key=True,
                    schema_path=_schema_path(err)))
            continue
        where = "/".join(str(x) for x in err.absolute_path)
        message = f"{where}: {err.message}" if where else err.message
        problems.append(doc.positions.problem(path, message + _did_you_mean(err), schema_path=_schema_path(err)))
    return problems


def _did_you_mean(err: jsonschema.ValidationError) -> str:
    """``; did you mean revoke_on_departure?`` for a misspelt word of a closed list (kinds, severities…)."""
    if err.validator != "enum" or not isinstance(err.instance, str):
        return ""
    words = [w for w in err.validator_value if isinstance(w, str)]
    close = difflib.get_close_matches(err.instance, words, n=1)
    return f"; did you mean {close[0]}?" if close else ""


def load_checked(path: str | Path, schema: dict, what: str, top_key: str) -> tuple[YamlDoc | None, list[Problem]]:
    """A YAML input file read and schema-checked: the document (None when unreadable or
    empty) and its located problems, for loaders that report every file's problems at once."""
    try:
        doc = load_yaml(path)
    except InputError as exc:
        return None, list(exc.problems)
    if doc.data is None:
        return None, [Problem(f"empty {what} file (expected a top-level {top_key!r} list)", str(path), 1, 1)]
    return doc, validate(doc, schema)
