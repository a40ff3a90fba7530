"""Exceptions that carry a message meant for the user.

The CLI turns any of these into one line on stderr and a non-zero exit; the
app shows them as a notice. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class DashboardError(Exception):
    """A problem the user can fix: bad input, a missing file, a missing extra."""


class DatasetNotFound(DashboardError):
    """No dataset of that name in the data directory."""


class ValidationError(DashboardError):
    """Input was checked and found wrong; ``problems`` lists every problem found."""

    def __init__(self, summary: str, problems: list[str]):
        self.summary = summary
        self.problems = list(problems)
        super().__init__(summary + "\n" + "\n".join(f"  - {p}" for p in self.problems))


def shown(e: Exception, data_dir: str | Path) -> str:
    """The message of ``e`` for a page or an HTTP answer: a message may name the data directory (a
    broken manifest, a refusing disk), and a server's paths are not shown to its users."""
    message = str(e)
    for folder in {str(Path(data_dir).resolve()), str(Path(data_dir).absolute())}:
        message = message.replace(folder, "<data>")
    return message
