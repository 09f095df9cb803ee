"""findings.json: the machine contract (SPEC §7) that every other format is a view of.

Layout: the top-level keys are indented for people, and each entry of ``findings``
and ``resolved`` sits on one line of its own, which keeps the file greppable and
diffable finding by finding. Those lines are written by orjson (compact: no space after
``:`` and ``,``) in one call for the whole list, cut at the entries' boundaries
(``_lines``): for the 30k findings of bench size M ~0.04 s, where the json module's C
encoder took ~0.2 s and one orjson call per entry ~0.13 s (``indent`` would switch json
to its pure-Python encoder: 16 s for 350k findings). The rest of the document is small
and keeps json's indented layout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

import orjson

from ledgerguard.scanner.fsutil import atomic_file

from .base import FORMATS, Reporter

ONE_PER_LINE = ("findings", "resolved")
#: dict keys that are not text (a kind's evidence keyed by year) become text, as json.dumps does
_ORJSON = orjson.OPT_NON_STR_KEYS


#: where one entry ends and the next begins in orjson's encoding of a list of findings
_BOUNDARY = b'},{"id":"'


def _lines(entries: list[Any]) -> bytes:
    """The entries' JSON, one per line (joined by ``,\n    ``), from one orjson call.

    Each finding record begins with its text ``id``, so in the encoded list every boundary
    between two entries reads ``},{"id":"``; inside a JSON string that byte sequence cannot
    occur (a quote there is escaped), so only a nested object opening with an ``id`` key
    could repeat it — then there are more pieces than entries, and each entry is encoded
    on its own instead. The list's brackets are cut from the first and last piece, not from
    the whole encoding: each copy of the ~11 MB of bench size M costs ~2–4 ms in a fresh
    process (its pages are new to it)."""
    if all(isinstance(e, dict) and isinstance(e.get("id"), str) and next(iter(e)) == "id" for e in entries):
        pieces = orjson.dumps(entries, option=_ORJSON).split(_BOUNDARY)
        if len(pieces) == len(entries):
            pieces[0] = pieces[0][1:]  # (one after the other: one entry is one piece)
            pieces[-1] = pieces[-1][:-1]
            return b'},\n    {"id":"'.join(pieces)
    return b",\n    ".join(orjson.dumps(e, option=_ORJSON) for e in entries)


def write_document(doc: dict[str, Any], fh: IO[bytes]) -> None:
    """Write ``doc`` as UTF-8 JSON in the layout above (``json.load`` reads it back equal)."""
    fh.write(b"{")
    for i, (key, value) in enumerate(doc.items()):
        fh.write(b",\n  " if i else b"\n  ")
        fh.write(orjson.dumps(key) + b": ")
        if key in ONE_PER_LINE and isinstance(value, list) and value:
            fh.write(b"[\n    ")  # (three writes, not two copies of the lines)
            fh.write(_lines(value))
            fh.write(b"\n  ]")
        else:
            # JSON text holds no raw newline inside strings, so re-indenting is safe.
            fh.write(json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n  ").encode())
    fh.write(b"\n}\n" if doc else b"}\n")


@FORMATS.register("json")
class JsonReporter(Reporter):
    filename = "findings.json"

    def render(self, doc: dict[str, Any], out_dir: Path, lang: str = "en") -> Path:
        path = out_dir / self.filename
        with atomic_file(path, "wb") as fh:
            write_document(doc, fh)
        return path
