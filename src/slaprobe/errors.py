"""One error hierarchy for everything an operator can get wrong.

    SlaprobeError
    ├── ConfigError   probes.toml problems, all of them at once (exit 2)
    ├── InputError    bad command-line values or import files (exit 2)
    └── StoreError    the database cannot be opened or written

The CLI turns each into a one-line message (no traceback) and exit code 2.
"""

from __future__ import annotations


class SlaprobeError(Exception):
    """Base of every error slaprobe reports to an operator."""


class ConfigError(SlaprobeError):
    """The configuration is invalid; `problems` holds one line per mistake."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class InputError(SlaprobeError):
    """A command-line value or an input file is invalid."""


class StoreError(SlaprobeError):
    """The database cannot be opened, read or written."""
