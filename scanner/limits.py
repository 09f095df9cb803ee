"""Every limit on what an input file may inflate to, in one place (docs/limits.md).

A file is read whole into memory and parsed by code that recurses or builds one object
per value, so a small file can still cost minutes and gigabytes: a 1 MB XLSX that
inflates to 3M rows, a YAML file of 50 MB, ``[[[[…`` ten thousand deep. Past a limit
the input is refused with exit 2 and a message naming the file and the limit —
never a slow run, a memory blow-up or a RecursionError.

Long text is not refused but cut where it is *shown* (terminal, JUnit, SARIF, GitHub
annotations, HTML, xlsx, CSV): ``TEXT_LIMIT`` characters of one field. findings.json,
the contract, keeps every value whole.
"""

from __future__ import annotations

MiB = 2**20

#: policy, waiver, sources, change files and ledgerguard.yaml: PyYAML parses ~1 MB/s
MAX_YAML_BYTES = 8 * MiB
#: YAML nodes (scalars, lists, mappings) of one file: a 8,000-policy pack has ~200k
MAX_YAML_NODES = 500_000
#: nesting of lists/mappings in a YAML or JSON file (the deepest real file has < 10)
MAX_DEPTH = 64
#: a findings.json or a manifest.json (1.1M findings write ~1.2 GB, so this is generous)
MAX_JSON_BYTES = 4096 * MiB
#: rows of one table (a snapshot CSV/Parquet file or one source's table)
MAX_TABLE_ROWS = 20_000_000
#: characters of one cell of a table
MAX_CELL_CHARS = 1 * MiB
#: rows of one XLSX sheet: Excel's own sheet limit
MAX_XLSX_ROWS = 1_048_576
#: the uncompressed size of all members of one XLSX file (zip-bomb guard, checked before opening)
MAX_XLSX_UNCOMPRESSED = 512 * MiB
#: characters of one field shown in a human-facing report or printed on the terminal
TEXT_LIMIT = 4_000


def size_text(n: int) -> str:
    """``8 MiB`` / ``1,048,576``: how a limit is named in a message."""
    return f"{n // MiB} MiB" if n >= MiB and n % MiB == 0 else f"{n:,}"


def truncate(text: str, limit: int = TEXT_LIMIT) -> str:
    """Cut ``text`` to at most ``limit`` characters, saying how much was dropped (every
    human-facing output cuts long fields this way; findings.json keeps them whole)."""
    if len(text) <= limit:
        return text
    marker = f" …[truncated: {len(text):,} characters in total]"
    return text[: max(limit - len(marker), 0)] + marker
