"""The score rows' published values made from arrays equal the files writer's, for every value.

:mod:`mutuality_spark.columns` rounds and formats whole columns at once; the files
writer's ``score_row`` does it one score object at a time. Every value a published
column can hold is checked here (scores and strengths have two decimals in [0, 100],
leans and confidences three in [-1, 1] and [0, 1]), so neither can drift from the other.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

np = pytest.importorskip("numpy")
pa = pytest.importorskip("pyarrow")
pytest.importorskip("mutuality_columnar")

from mutuality_adapters.files.writer import score_row  # noqa: E402
from mutuality_spark.columns import published_seconds, two_decimals  # noqa: E402
from mutuality_spark.partition import micros  # noqa: E402

from mutuality_core.construct import trusted_score  # noqa: E402
from mutuality_core.model import Band, Contact  # noqa: E402
from mutuality_core.ports import ScoreUpdate  # noqa: E402
from mutuality_core.timestamps import from_epoch_microseconds  # noqa: E402

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)


def _row(
    score: float = 50.0,
    lean: float = 0.0,
    strength: float = 50.0,
    confidence: float = 0.5,
    last: datetime | None = None,
) -> list[str]:
    made = trusted_score(
        "c1", score, lean, strength, Band.MUTUAL, confidence, ("r",), (), "2.0", AS_OF, 1, last
    )
    return score_row(ScoreUpdate(Contact("c1"), made, AS_OF), scored_at="")


def _steps(low: int, high: int, scale: float) -> np.ndarray:
    """Every value the engine publishes between low/scale and high/scale (``k / scale``)."""
    return np.arange(low, high + 1) / scale


def test_scores_and_strengths_round_as_the_writer_rounds_them() -> None:
    values = _steps(0, 10_000, 100.0)  # ..., 0.5, ..., 2.5: halves go to even, as round()
    expected = [int(_row(score=v, strength=v)[2]) for v in values.tolist()]
    assert np.rint(values).astype(np.int32).tolist() == expected
    assert expected == [int(_row(strength=v)[5]) for v in values.tolist()]


def test_leans_and_confidences_have_the_writers_two_decimals() -> None:
    leans = _steps(-1000, 1000, 1000.0)
    assert two_decimals(leans).tolist() == [float(_row(lean=v)[4]) for v in leans.tolist()]
    confidences = _steps(0, 1000, 1000.0)
    assert two_decimals(confidences).tolist() == [
        float(_row(confidence=v)[6]) for v in confidences.tolist()
    ]
    shaped = two_decimals(np.array([0.125, 0.135, 0.125]))  # repeats keep their positions
    assert shaped.tolist() == [float(f"{v:.2f}") for v in (0.125, 0.135, 0.125)]
    assert two_decimals(np.array([], np.float64)).tolist() == []


def test_last_activity_times_are_cut_to_the_second_as_the_writer_shows_them() -> None:
    rng = random.Random(11)
    times = [rng.randrange(-2 * 10**15, 2 * 10**15) for _ in range(2_000)]
    times += [0, 999_999, 1_000_000, -1, -1_000_000, -1_000_001]  # around whole seconds
    us = np.array([*times, np.iinfo(np.int64).min], np.int64)  # the last: no time
    got = published_seconds(us).to_pylist()
    expected = []
    for value in times:
        shown = _row(last=from_epoch_microseconds(value))[11]
        expected.append(micros(datetime.fromisoformat(shown[:-1] + "+00:00")))
    assert got == [*expected, None]
    assert _row(last=None)[11] == ""
