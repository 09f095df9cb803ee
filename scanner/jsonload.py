"""JSON input files (a snapshot's manifest.json, a findings.json) read with located errors.

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


def load_json(path: str | Path) -> Any:
    """The parsed content of a JSON file; InputError (exit 2) naming the file, line and column."""
    p = Path(path)
    try:
        if p.stat().st_size > limits.MAX_JSON_BYTES:
            raise InputError(Problem(f"file is larger than {size_text(limits.MAX_JSON_BYTES)} (the limit)", str(p)))
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(Problem("no such file", str(p))) from None
    except UnicodeDecodeError as exc:
        raise InputError(Problem(f"cannot read: not UTF-8 text (byte {exc.start})", str(p))) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise InputError(Problem(f"cannot read: {getattr(exc, 'strerror', None) or exc}", str(p))) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(Problem(f"invalid JSON: {exc.msg}", str(p), exc.lineno, exc.colno)) from None
    except RecursionError:
        raise InputError(Problem(f"nested deeper than {limits.MAX_DEPTH} levels (the limit)", str(p),
                                 *_too_deep(text))) from None
