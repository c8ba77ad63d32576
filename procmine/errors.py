"""procmine's own exceptions.

Every error that bad input can cause is one of these. The CLI turns them into a
short message and an exit code in one place (``procmine.cli.main``); library
callers catch :class:`ProcmineError`.

Exit codes: 1 for data and runtime problems (a file that cannot be read or
understood, a bad rules/plan/reference/mapping file, an output that cannot be
written), 2 only for usage errors (wrong or missing options and arguments).
Anything else reaching ``main`` is a bug in procmine: a one-line message and exit
code 70 (EX_SOFTWARE); ``PROCMINE_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations


class ProcmineError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # message, then how to fix it
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class InputError(ProcmineError):
    """A file could not be read or understood (wrong format, damaged, empty)."""


class MappingError(ProcmineError):
    """Columns could not be mapped to the canonical fields without guessing."""


class NothingUsableError(ProcmineError):
    """Every row was rejected; the rejects say why."""


class ConfigError(ProcmineError):
    """A rules, plan, reference, mapping, catalogue or key file is missing or its
    content is wrong, or does not fit the log (exit code 1: a data problem, not
    a wrong command line)."""


class OutputError(ProcmineError):
    """An output file or its folder cannot be written (exit code 1)."""


class UsageError(ProcmineError):
    """Wrong options or arguments (exit code 2, like Click's own usage errors)."""

    exit_code = 2


class CalendarError(ProcmineError):
    """The working calendar cannot count the log's dates (e.g. chinesecalendar too old for its years)."""


class DependencyError(ProcmineError):
    """An optional part procmine needs for this input is not installed (exit code 1);
    the message names the pip command that installs it."""
