"""The scores file's fast CSV text is exactly what csv.writer writes."""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta, timezone

import pytest
from mutuality_adapters.files.writer import SCORE_COLUMNS, _csv_text, _utc_text


def _reference(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def test_random_rows_match_csv_writer() -> None:
    rng = random.Random(11)
    pieces = ["a", "Zé", ",", '"', "\n", "\r", " ", ";", "", "'", "\t", "…"]
    rows = []
    for _ in range(5_000):
        width = len(SCORE_COLUMNS) if rng.random() < 0.8 else rng.randint(1, 14)
        rows.append(
            ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 4))) for _ in range(width)]
        )
    assert _csv_text(rows) == _reference(rows)


@pytest.mark.parametrize(
    "row",
    [
        ["c1", "a@x.com", "80", "mutual", "0.10", "40", "0.9", "you; they", "t", "m-1", "12", ""],
        ["c2", "", "50", "dormant", "-0.50", "0", "0.20", "quiet, for 400 days", "", "", "", ""],
        ["c3", 'say "hi"', "", "", "", "", "", "", "", "", "", ""],
        ["c4", "two\nlines", "", "", "", "", "", "", "", "", "", "cr\r"],
        ["only,one"],
        [""],
    ],
)
def test_edge_rows_match_csv_writer(row: list[str]) -> None:
    assert _csv_text([row]) == _reference([row])
    assert _csv_text([row, row]) == _reference([row, row])


def test_no_rows_is_no_text() -> None:
    assert _csv_text([]) == ""


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 1, 2, 3, 4, 5, 999_999, tzinfo=timezone.utc),
        datetime(1, 1, 1, tzinfo=timezone.utc),
        datetime(999, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
        datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=timezone(timedelta(hours=-3))),
    ],
)
def test_utc_text_is_whole_seconds_in_utc(moment: datetime) -> None:
    utc = moment.astimezone(timezone.utc)
    expected = utc.replace(microsecond=0, tzinfo=None).isoformat() + "Z"
    assert _utc_text(moment) == expected
