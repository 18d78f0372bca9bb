"""The ``columnar`` entry of the ``mutuality.engines`` entry-point group."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from mutuality_core.config import ScoringConfig
from mutuality_core.model import Activity, MutualityScore

from .codes import activities_table
from .results import score_valid_table

__all__ = ["ColumnarEngine", "engine"]


class ColumnarEngine:
    """Scores activity objects by turning them into columns (worth it from ~20,000)."""

    name = "columnar"
    #: Below this, converting the objects to columns costs about what it saves.
    min_activities = 20_000

    def score_activities(
        self, activities: Sequence[Activity], *, as_of: datetime, config: ScoringConfig
    ) -> Iterator[MutualityScore]:
        if not activities:
            return iter(())
        scored = score_valid_table(activities_table(activities), as_of, config)
        return (scored.score(k) for k in range(len(scored)))


engine = ColumnarEngine()
