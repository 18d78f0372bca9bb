"""The public API the Spark engine calls per partition: score_table and validate_table."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

pa = pytest.importorskip("pyarrow")
columnar = pytest.importorskip("mutuality_columnar")

from mutuality_core import Activity, score_activities  # noqa: E402
from mutuality_core.errors import InvalidInputError  # noqa: E402

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)

ROWS = {
    "id": ["a1", "a2", "a3", "a4", "a5"],
    "contact_id": ["c1", "c1", "c2", "c2", "c1"],
    "occurred_at": [
        "2026-05-01T10:00:00Z",
        "2026-05-01T12:30:00+02:00",
        "2026-04-01T09:00:00Z",
        "2026-04-02T09:00:00.250Z",
        "2026-05-20T08:00:00Z",
    ],
    "channel": ["email", "email", "meeting", "call", "Email"],
    "direction": ["outbound", "inbound", "mutual", "outbound", "outbound"],
    "outcome": ["", "", "completed", "no_answer", ""],
    "thread_id": ["t1", "t1", "", "", "t2"],
    "duration_seconds": ["", "", "1800", "60", ""],
    "automated": ["", "false", "", "", "yes"],
    "tags": ["", "ask", "", "", "give;Ask"],
}


def _reference() -> list:
    table = {k: list(v) for k, v in ROWS.items()}
    activities = [
        Activity(
            table["id"][i],
            table["contact_id"][i],
            datetime.fromisoformat(table["occurred_at"][i].replace("Z", "+00:00")),
            table["channel"][i],
            table["direction"][i],
            outcome=table["outcome"][i] or "completed",
            thread_id=table["thread_id"][i] or None,
            duration_seconds=float(table["duration_seconds"][i])
            if table["duration_seconds"][i]
            else None,
            automated=table["automated"][i] in ("true", "yes"),
            tags=table["tags"][i],
        )
        for i in range(len(table["id"]))
    ]
    return list(score_activities(activities, as_of=AS_OF))


def test_score_table_gives_the_core_scores_as_columns() -> None:
    result = columnar.score_table(pa.table(ROWS), as_of=AS_OF)
    assert result.schema == columnar.SCORE_SCHEMA
    expected = _reference()
    rows = result.to_pylist()
    assert [r["id"] for r in rows] == [s.contact_id for s in expected]
    for row, score in zip(rows, expected, strict=True):
        assert row["score"] == score.score
        assert row["band"] == score.band.value
        assert row["lean"] == score.lean
        assert row["strength"] == score.strength
        assert row["confidence"] == score.confidence
        assert row["reasons"] == score.reasons_text
        assert row["activity_count"] == score.activity_count
        assert row["last_activity_at"] == score.last_activity_at
        assert row["scored_at"] == AS_OF
        assert row["algorithm"] == score.algorithm


def test_validate_table_splits_valid_rows_and_rejects_with_the_files_messages() -> None:
    rows = {k: list(v) for k, v in ROWS.items()}
    rows["occurred_at"][1] = "2026-05-01 12:30"
    rows["channel"][2] = "fax"
    rows["id"][4] = "a1"
    rows["contact_id"][4] = "c1"
    valid, rejects = columnar.validate_table(pa.table(rows))
    assert valid.schema == columnar.VALID_SCHEMA
    assert valid.column("id").to_pylist() == ["a1", "a4"]
    assert rejects.column("row").to_pylist() == [1, 2, 4]
    errors = rejects.column("error").to_pylist()
    assert "has no time zone" in errors[0]
    assert errors[1].startswith("channel must be one of email, call")
    assert errors[2] == (
        "duplicate activity id 'a1' for contact 'c1' (an earlier row has the same id and "
        "contact_id)"
    )
    assert rejects.column("values").to_pylist()[1][3] == "fax"


def test_score_table_refuses_invalid_rows_and_points_to_validate_table() -> None:
    rows = {k: list(v) for k, v in ROWS.items()}
    rows["direction"][0] = "sideways"
    with pytest.raises(InvalidInputError, match=r"row 0: direction must be one of .*validate"):
        columnar.score_table(pa.table(rows), as_of=AS_OF)


def test_valid_rows_score_the_same_as_text() -> None:
    valid, _ = columnar.validate_table(pa.table(ROWS))
    assert columnar.score_table(valid, as_of=AS_OF).equals(
        columnar.score_table(pa.table(ROWS), as_of=AS_OF)
    )
