"""One ISO 8601 parser for the CLI, the files adapter and the CRM mappings."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mutuality_core.timestamps import parse_aware_datetime, parse_iso_datetime

UTC = timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T14:30:00Z", datetime(2026, 3, 1, 14, 30, tzinfo=UTC)),
        ("2026-03-01t14:30:00z", datetime(2026, 3, 1, 14, 30, tzinfo=UTC)),
        ("  2026-03-01T14:30:00+00:00 ", datetime(2026, 3, 1, 14, 30, tzinfo=UTC)),
        ("2026-03-01 14:30Z", datetime(2026, 3, 1, 14, 30, tzinfo=UTC)),
        # Salesforce: no colon in the offset
        ("2024-04-25T15:50:37.000+0000", datetime(2024, 4, 25, 15, 50, 37, tzinfo=UTC)),
        # HubSpot and others: 1, 2 or 9 fraction digits
        ("2026-03-01T14:30:00.5Z", datetime(2026, 3, 1, 14, 30, 0, 500000, tzinfo=UTC)),
        ("2026-03-01T14:30:00.12Z", datetime(2026, 3, 1, 14, 30, 0, 120000, tzinfo=UTC)),
        ("2026-03-01T14:30:00.123456789Z", datetime(2026, 3, 1, 14, 30, 0, 123456, tzinfo=UTC)),
        (
            "2026-03-01T14:30:00-05",
            datetime(2026, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=-5))),
        ),
        (
            "2026-03-01T14:30:00+0530",
            datetime(2026, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        ),
    ],
)
def test_every_dialect_we_meet_reads_the_same_on_every_python(text, expected):
    parsed = parse_aware_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


def test_a_time_without_a_zone_is_naive_for_the_lenient_parser_and_refused_by_the_strict_one():
    assert parse_iso_datetime("2026-03-01T14:30:00").tzinfo is None
    assert parse_iso_datetime("2026-03-01") == datetime(2026, 3, 1)
    for text in ("2026-03-01T14:30:00", "2026-03-01"):
        with pytest.raises(ValueError, match="has no time zone; add Z for UTC"):
            parse_aware_datetime(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "'yesterday' is not an ISO 8601 timestamp .expected e.g. 2026-03-01T14"),
        ("", "is not an ISO 8601 timestamp"),
        ("2026-13-01T00:00:00Z", "is not a valid date-time"),
        ("2026-02-30T10:00:00Z", "is not a valid date-time"),
        ("2026-03-01T25:00:00Z", "is not a valid date-time"),
    ],
)
def test_bad_text_says_what_is_wrong_and_shows_a_valid_example(text, message):
    with pytest.raises(ValueError, match=message):
        parse_aware_datetime(text)


OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(2100, 1, 1),
        timezones=OFFSETS,
    )
)
def test_what_isoformat_writes_reads_back_exactly(moment):
    assert parse_aware_datetime(moment.isoformat()) == moment
    utc = moment.astimezone(UTC).replace(tzinfo=None).isoformat()
    assert parse_aware_datetime(utc + "Z") == moment


def test_apis_that_document_utc_get_utc_for_a_time_without_a_zone():
    from mutuality_core.timestamps import format_utc_milliseconds

    assert parse_iso_datetime("2026-03-01T14:30:00", naive_as_utc=True) == datetime(
        2026, 3, 1, 14, 30, tzinfo=UTC
    )
    five_east = datetime(2026, 3, 1, 19, 30, 0, 123999, tzinfo=timezone(timedelta(hours=5)))
    assert format_utc_milliseconds(five_east) == "2026-03-01T14:30:00.123Z"
