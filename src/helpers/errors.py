"""The exceptions and warnings that make up the user-facing error interface.

Every mistake an analyst can fix has its own exception type, and every message says three
things: what is wrong, where (the parameter, column or row), and what to do about it. Problems
are collected and reported once (splink and CohortMethod do the same) rather than one per run.

The command line catches :class:`JDLError` and prints the message without a traceback; anything
else is a bug in this package and is shown in full.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "BalanceWarning",
    "CohortError",
    "JDLError",
    "JDLWarning",
    "LinkageWarning",
    "MatchingError",
    "ModelError",
    "ParamsError",
    "RecordsError",
    "RunError",
    "SeparationWarning",
    "SubmissionError",
]


class JDLError(Exception):
    """A problem the analyst can fix. ``str(error)`` is the whole message to show them.

    Parameters
    ----------
    problems
        One problem, or several collected together. Each should name the parameter, column or
        row it is about and say how to fix it.
    fix
        Optional advice that applies to all the problems.
    """

    #: Short name of what was being read when the problem was found, used as a heading.
    subject = "input"

    def __init__(self, problems: str | Iterable[str], *, fix: str | None = None) -> None:
        self.problems: tuple[str, ...] = (
            (problems,) if isinstance(problems, str) else tuple(problems)
        )
        self.fix = fix
        super().__init__(self._render())

    @classmethod
    def from_text(cls, text: str) -> JDLError:
        """Rebuild an error from its rendered message (e.g. one raised inside a notebook)."""
        error = cls.__new__(cls)
        error.problems, error.fix = (text,), None
        Exception.__init__(error, text)
        return error

    def _render(self) -> str:
        if len(self.problems) == 1:
            text = f"Problem with the {self.subject}: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            text = f"{len(self.problems)} problems with the {self.subject}:\n{lines}"
        return f"{text}\n{self.fix}" if self.fix else text


class ParamsError(JDLError):
    """The run parameters (params YAML or notebook parameters) are invalid."""

    subject = "run parameters"


class SubmissionError(JDLError):
    """The organisation's participant file cannot be used."""

    subject = "participant file"


class RecordsError(JDLError):
    """The national records extract is missing, malformed or inconsistent."""

    subject = "national records"


class CohortError(JDLError):
    """Too few people remain for the analysis the parameters ask for."""

    subject = "cohort"


class MatchingError(JDLError):
    """The matching specification cannot be carried out on this cohort."""

    subject = "matching"


class ModelError(JDLError):
    """A statistical model cannot be fitted in a way whose results could be trusted."""

    subject = "statistical model"


class RunError(JDLError):
    """A run could not be completed; earlier good runs are left untouched."""

    subject = "run"


class JDLWarning(UserWarning):
    """Base class for warnings about results that are valid but need care in reading."""


class SeparationWarning(JDLWarning):
    """A covariate (nearly) perfectly predicts treatment, so the propensity score is extreme."""


class BalanceWarning(JDLWarning):
    """Matching left at least one covariate poorly balanced."""


class LinkageWarning(JDLWarning):
    """Some participants could not be linked with confidence."""
