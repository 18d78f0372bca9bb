"""A partition's score rows as Arrow columns, straight from the columnar engine's arrays.

The published numbers of every contact are already arrays in a
:class:`~mutuality_columnar.ScoredBatch`; this turns them into the partition's
output columns without a Python object per contact. Two kinds of value come out:

* the exact values (``exact_*``), as the core computes them;
* the values as the scores file shows them, which the files writer
  (:func:`mutuality_adapters.files.writer.score_row`) makes with ``round()`` (score,
  strength), ``f"{x:.2f}"`` (lean, confidence) and whole seconds (last activity).
  ``np.rint`` rounds half to even like ``round()``; the two-decimal texts are made by
  the same format, once per distinct value (a lean or confidence has three decimals,
  so at most a few thousand distinct values); times are cut to the second below, as
  ``isoformat(timespec="seconds")`` cuts them. ``tests/spark/test_columns.py`` checks
  all of it against ``score_row`` over every value these columns can hold.

Reasons are the one per-contact cost left: the core's own ``judge`` and
``build_reasons`` for each contact that needs them (every score row of a scoring job;
only the changed ones of a sync, the only rows a sync writes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from mutuality_columnar import ScoredBatch

from mutuality_core.reasons_text import join_reasons

__all__ = ["published_seconds", "score_columns", "two_decimals"]

_NO_TIME = np.iinfo(np.int64).min
_SECOND = 1_000_000


def two_decimals(values: np.ndarray) -> np.ndarray:
    """``float(f"{v:.2f}")`` of every value, formatted once per distinct value."""
    if values.size == 0:
        return values.astype(np.float64)
    distinct, where = np.unique(values, return_inverse=True)
    shown = np.array([float(f"{v:.2f}") for v in distinct.tolist()], np.float64)
    return shown[where.reshape(values.shape)]


def published_seconds(us: np.ndarray) -> pa.Array:
    """Epoch microseconds cut to the whole second below (null for no time)."""
    missing = us == _NO_TIME
    return pa.array(us - us % _SECOND, pa.int64(), mask=missing)


def _exact_micros(us: np.ndarray) -> pa.Array:
    return pa.array(us, pa.int64(), mask=us == _NO_TIME)


def _reason_lists(reasons: Sequence[tuple[str, ...] | None]) -> pa.Array:
    """list<string> column; None where a row's reasons were not built."""
    return pa.array([None if r is None else list(r) for r in reasons], pa.list_(pa.string()))


def score_columns(
    scored: ScoredBatch,
    rows: np.ndarray,
    emails: Sequence[str | None],
    algorithm: str,
    with_reasons: np.ndarray,
) -> dict[str, pa.Array]:
    """The score-row columns of contacts ``rows`` of ``scored`` (positions, in output order)
    from ``id`` to ``exact_last_activity_us`` (the caller adds ``kind`` and ``changed``).

    ``emails``: each output row's email (None for none); ``with_reasons``: a bool per
    output row, whether its reasons are built (else they are null).
    """
    v = scored.verdicts
    count = rows.size
    score = v.score[rows]
    lean = v.lean[rows]
    strength = v.strength[rows]
    confidence = v.confidence[rows]
    last = scored.tallies.last_us[rows]
    bands = scored.band_values()
    wanted = rows[with_reasons].tolist()
    built = iter(scored.reasons(wanted))
    reasons: list[tuple[str, ...] | None] = [
        next(built) if flag else None for flag in with_reasons.tolist()
    ]
    ids = scored.contact_ids
    return {
        "id": pa.array([ids[k] for k in rows.tolist()], pa.string()),
        "email": pa.array(emails, pa.string()),
        "score": pa.array(np.rint(score).astype(np.int32)),
        "band": pa.array([bands[k] for k in rows.tolist()], pa.string()),
        "lean": pa.array(two_decimals(lean)),
        "strength": pa.array(np.rint(strength).astype(np.int32)),
        "confidence": pa.array(two_decimals(confidence)),
        "reasons": pa.array([None if r is None else join_reasons(r) for r in reasons], pa.string()),
        "algorithm": pa.array([algorithm] * count, pa.string()),
        "activity_count": pa.array(scored.batch.activity_count[rows], pa.int64()),
        "last_activity_us": published_seconds(last),
        "exact_score": pa.array(score),
        "exact_lean": pa.array(lean),
        "exact_strength": pa.array(strength),
        "exact_confidence": pa.array(confidence),
        "exact_reasons": _reason_lists(reasons),
        "exact_last_activity_us": _exact_micros(last),
    }
