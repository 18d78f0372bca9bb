"""The public API the Spark engine calls per partition: score_table and validate_table."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pa = pytest.importorskip("pyarrow")
columnar = pytest.importorskip("mutuality_columnar")

from mutuality_core import Activity, score_activities  # noqa: E402
from mutuality_core.errors import InvalidInputError  # noqa: E402

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
VALID_TIMESTAMP = (
    r"\A(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T"
    r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{3})?Z\Z"
)

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


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.from_regex(
                r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                r"(\.[0-9]{3}|\.[0-9]{6})?(Z|[+-][0-9]{2}:[0-9]{2})\Z"
            ),
            st.from_regex(
                r"\A(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T"
                r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{3})?Z\Z"
            ),
            st.text(max_size=32),
        ),
        max_size=20,
    )
)
def test_timestamps_parsed_in_bulk_are_exactly_what_the_row_parser_reads(texts) -> None:
    """A text the bulk parser accepts is the same instant for the row parser; any other
    is left to the row parser (which accepts or rejects it with its own message)."""
    from mutuality_columnar.validate import _timestamps

    from mutuality_core.timestamps import parse_aware_datetime

    us, ok = _timestamps(pa.array(texts, pa.string()))
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    for text, micro, accepted in zip(texts, us.tolist(), ok.tolist(), strict=True):
        if accepted:
            delta = parse_aware_datetime(text) - epoch
            assert micro == (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


@pytest.mark.parametrize(
    ("chunks", "repeats"),
    [
        ([["a1", "a2"], ["abc", "a3"]], False),  # lengths mixed within and across parts
        ([["a1", "a2"], ["abc", "a1"]], True),  # a repeat across parts
        ([["a1", "é"], ["e", "a10"]], False),  # bytes, not characters
        ([["x" * 80, "y"], ["z"]], True),  # too long to hash: "may", the exact count decides
        ([[f"id{i}" for i in range(1000)]], False),
        ([[f"id{i % 999}" for i in range(1000)]], True),
    ],
)
def test_repeated_ids_are_never_missed_by_the_hash(chunks, repeats):
    import pyarrow as pa
    from mutuality_columnar.stream import _may_repeat

    ids = pa.chunked_array([pa.array(c, pa.string()) for c in chunks])
    assert _may_repeat(ids) is repeats
    # a slice starts part-way into its buffers
    sliced = pa.chunked_array([pa.array(["zz"] + chunks[0], pa.string()).slice(1)])
    assert _may_repeat(sliced) == _may_repeat(pa.chunked_array([pa.array(chunks[0])]))
