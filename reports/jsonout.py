"""findings.json: the machine contract (SPEC §7) that every other format is a view of.

Layout: the top-level keys are indented for people, and each entry of ``findings``
and ``resolved`` sits on one line of its own, which keeps the file greppable and
diffable finding by finding. Those lines are written by orjson (compact: no space after
``:`` and ``,``): the json module's C encoder took ~0.2 s for the 30k findings of bench
size M, orjson ~0.04 s (and ``indent`` would switch json to its pure-Python encoder,
16 s for 350k findings). The rest of the document is small and keeps json's indented
layout.
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


def write_document(doc: dict[str, Any], fh: IO[bytes]) -> None:
    """Write ``doc`` as UTF-8 JSON in the layout above (``json.load`` reads it back equal)."""
    fh.write(b"{")
    for i, (key, value) in enumerate(doc.items()):
        fh.write(b",\n  " if i else b"\n  ")
        fh.write(orjson.dumps(key) + b": ")
        if key in ONE_PER_LINE and isinstance(value, list) and value:
            fh.write(b"[\n    " + b",\n    ".join(orjson.dumps(item, option=_ORJSON) for item in value) + b"\n  ]")
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
