"""The one enum of exit codes every command uses (SPEC §2)."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # nothing at or above --fail-on
    FINDINGS = 1  # findings at or above --fail-on
    BAD_INPUT = 2  # usage, unreadable or invalid policy/waiver/sources/snapshot/change file
    NOT_EVALUABLE = 3  # a source or a policy could not be evaluated
