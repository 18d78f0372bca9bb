"""mutuality_columnar: the core's scoring model over columns (numpy + pyarrow), for large inputs.

The pure-Python core (``mutuality_core``) is the reference; this engine computes the
same published results for whole tables at once, proven equal field by field by the
differential tests. Install it with ``pip install 'mutuality[fast]'``; the core, the
files adapter and the CLI use it on their own where it helps.

Public API (stable; used per partition by the Spark engine):

* :func:`validate_table` - check an activity table as the files adapter checks rows:
  ``(valid rows, rejects)`` with the files adapter's messages.
* :func:`score_table` - score an activity table: one row per contact, the scores
  file's columns.
"""

from __future__ import annotations

from datetime import datetime

from mutuality_core.config import ScoringConfig
from mutuality_core.errors import InvalidInputError, MissingDependencyError

try:
    import numpy  # noqa: F401
    import pyarrow as pa
except ImportError as exc:  # one line that says what to install
    raise MissingDependencyError(exc.name or "numpy and pyarrow", "fast") from None
from mutuality_core.timestamps import check_as_of

from .codes import VALID_SCHEMA
from .results import SCORE_SCHEMA, ScoredBatch, score_valid_table
from .validate import REJECT_SCHEMA, check_columns, validate_table

__all__ = [
    "REJECT_SCHEMA",
    "SCORE_SCHEMA",
    "VALID_SCHEMA",
    "ScoredBatch",
    "check_columns",
    "score_table",
    "score_valid",
    "validate_table",
]

_DEFAULT_CONFIG = ScoringConfig()


def _is_valid_table(table: pa.Table) -> bool:
    return table.schema.equals(VALID_SCHEMA)


def score_valid(
    activities: pa.Table, *, as_of: datetime, config: ScoringConfig | None = None
) -> ScoredBatch:
    """Score a table of activities; score objects and reasons are built on demand.

    ``activities`` as for :func:`score_table`. The result holds every contact's
    published numbers as arrays (``.verdicts``), ``.score(k)`` builds contact ``k``'s
    :class:`~mutuality_core.model.MutualityScore` and ``.to_table()`` the columns.
    """
    check_as_of(as_of)
    if not _is_valid_table(activities):
        checked = check_columns(activities)
        if checked.rejects:
            row, error, _ = checked.rejects[0]
            raise InvalidInputError(
                f"row {row}: {error} ({len(checked.rejects)} invalid row(s); use "
                "validate_table to keep the valid rows and see every reject)"
            )
        activities = checked.table
    return score_valid_table(activities, as_of, config or _DEFAULT_CONFIG)


def score_table(
    activities: pa.Table,
    *,
    as_of: datetime,
    config: ScoringConfig | None = None,
    reasons: bool = True,
) -> pa.Table:
    """Score every contact of ``activities``: one row per contact, in contact_id order.

    ``activities`` has the files adapter's activity columns (id, contact_id,
    occurred_at, channel, direction, outcome, thread_id, duration_seconds, automated,
    tags; the first five required), as text or typed (e.g. the valid rows of
    :func:`validate_table`, or Parquet with a timestamp column). Invalid rows raise
    :class:`~mutuality_core.errors.InvalidInputError`; filter them with
    :func:`validate_table` first to skip them.

    Returns :data:`SCORE_SCHEMA`: id (the contact id), score, band, lean, strength,
    confidence, reasons (joined as in the scores file; null with ``reasons=False``,
    which is much faster), scored_at (``as_of``), algorithm, activity_count,
    last_activity_at. Numbers are the published values, exactly as the core's
    :func:`~mutuality_core.score_activities` gives them.
    """
    return score_valid(activities, as_of=as_of, config=config).to_table(reasons=reasons)
