"""Errors as values with a location, until the CLI turns them into messages and exit codes.

A ``Problem`` is one thing wrong in one place of an input file; an ``InputError``
carries every problem found in a run so the user sees them all at once (exit 2).
``EvaluationError`` means the input was fine but something could not be read or
evaluated (exit 3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .exitcodes import ExitCode


@dataclass(frozen=True)
class Problem:
    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    schema_path: str | None = None

    @property
    def where(self) -> str:
        """``file:line:column`` as far as known; empty for a problem of no file (an option)."""
        pos = "" if self.line is None else ":".join(str(n) for n in (self.line, self.column) if n is not None)
        if self.file:
            return f"{self.file}:{pos}" if pos else self.file
        return f"line {pos}" if pos else ""

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.schema_path:
            text += f" [schema: {self.schema_path}]"
        return text


class LedgerguardError(Exception):
    exit_code: ExitCode = ExitCode.BAD_INPUT


class InputError(LedgerguardError):
    """Bad input: one or more problems, each with its place. Exit 2."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, problems: Problem | str | Iterable[Problem]) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class EvaluationError(LedgerguardError):
    """Data that could not be read or evaluated (a failed source, a missing table). Exit 3."""

    exit_code = ExitCode.NOT_EVALUABLE


class TableUnavailable(EvaluationError):
    """A policy needs a table the snapshot lacks or that came from a failed source."""
