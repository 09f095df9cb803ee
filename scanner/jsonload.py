"""Input files read whole within a size limit, and JSON files (a snapshot's manifest.json, a
findings.json) parsed with located errors.

``json.loads`` recurses once per nesting level and ends in a RecursionError past ~1000
levels; here that becomes exit 2 with the line and column where the nesting passes
``limits.MAX_DEPTH``, like every other bad input.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from . import limits
from .errors import InputError, Problem
from .limits import size_text

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def _too_deep(text: str) -> tuple[int, int]:
    """(line, column) where the nesting of ``text`` first passes limits.MAX_DEPTH (strings skipped)."""
    depth = 0
    for m in _TOKEN.finditer(text):
        ch = m.group()
        if ch in "[{":
            depth += 1
            if depth > limits.MAX_DEPTH:
                at = m.start()
                return text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1
        elif ch in "]}":
            depth -= 1
    return 1, 1


def read_input(path: str | Path, max_bytes: int) -> str:
    """A YAML or JSON input file as text, refused past ``max_bytes`` before it is read;
    InputError (exit 2) naming the file (and, for bytes that are no UTF-8, their place)."""
    p = Path(path)
    try:
        if p.stat().st_size > max_bytes:
            raise InputError(Problem(f"file is larger than {size_text(max_bytes)} (the limit)", str(p)))
        return p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(Problem("no such file", str(p))) from None
    except UnicodeDecodeError as exc:
        raise InputError(Problem(f"not UTF-8 text: byte {exc.start} cannot be decoded", str(p),
                                 *_byte_place(p, exc.start))) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise InputError(Problem(f"cannot read: {getattr(exc, 'strerror', None) or exc}", str(p))) from None


def _byte_place(path: Path, offset: int) -> tuple[int, int]:
    """(line, column) of byte ``offset`` of a file that is not valid UTF-8."""
    head = path.read_bytes()[:offset]
    return head.count(b"\n") + 1, offset - (head.rfind(b"\n") + 1) + 1


def parse_json(text: str, file: str, **options: Any) -> Any:
    """JSON text parsed (``options`` go to ``json.loads``); InputError (exit 2) naming the
    file, line and column."""
    try:
        return json.loads(text, **options)
    except json.JSONDecodeError as exc:
        raise InputError(Problem(f"invalid JSON: {exc.msg}", file, exc.lineno, exc.colno)) from None
    except RecursionError:
        raise InputError(Problem(f"nested deeper than {limits.MAX_DEPTH} levels (the limit)", file,
                                 *_too_deep(text))) from None


def load_json(path: str | Path) -> Any:
    """The parsed content of a JSON file; InputError (exit 2) naming the file, line and column."""
    return parse_json(read_input(path, limits.MAX_JSON_BYTES), str(path))
