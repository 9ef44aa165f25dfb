"""Policy of the master patient index (主索引): when two records are one person.

Pure functions and defaults; the numbers are configuration, measured in
docs/mpi.md against FEBRL3 and the synthetic duplicate truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Decision = Literal["link", "review", "new"]


@dataclass(frozen=True)
class Thresholds:
    """Match-probability cut-offs of the three outcomes.

    ``link``: at or above, the record joins the person automatically.
    ``review``: at or above (and below ``link``), a human decides (人工审核队列).
    Below ``review`` the record starts a new person.
    """

    link: float = 0.99
    review: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.review <= self.link <= 1.0:
            raise ValueError(
                f"thresholds must satisfy 0 <= review <= link <= 1, "
                f"got review={self.review}, link={self.link}"
            )


DEFAULT_THRESHOLDS = Thresholds()

# A deterministic key shared by more records than this is a placeholder that a
# system fills in for everyone (a clinic's own phone, a dummy card number), not
# an identifier; linking on it would merge strangers.
MAX_RECORDS_PER_KEY = 50


def decide(probability: float, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Decision:
    """Turn a match probability into link / review / new."""
    if probability >= thresholds.link:
        return "link"
    if probability >= thresholds.review:
        return "review"
    return "new"


def identifiers_conflict(id_a: str | None, id_b: str | None) -> bool:
    """Two *reliable* 身份证号 that differ are two people, whatever else agrees.

    Twins share a birth date, an address, often a parent's phone and a family
    name; only the number tells them apart, so a difference vetoes any
    probabilistic link.
    """
    return id_a is not None and id_b is not None and id_a != id_b
