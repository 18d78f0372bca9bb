"""Mapping HubSpot engagement and contact properties to the domain model."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from mutuality_adapters.hubspot.mapping import (
    email_thread,
    format_hubspot_time,
    map_contact,
    map_engagement,
    parse_hubspot_time,
    score_properties,
)
from mutuality_adapters.hubspot.settings import PropertyNames

from mutuality_core.model import Band, Channel, Direction, MutualityScore, Outcome

WHEN = "2026-03-01T10:00:00.000Z"


def one(object_type: str, **props: str):
    activities = map_engagement(object_type, "77", {"hs_timestamp": WHEN, **props}, ["5"])
    assert len(activities) == 1
    return activities[0]


@pytest.mark.parametrize(
    ("raw", "direction"),
    [
        ("EMAIL", Direction.OUTBOUND),
        ("INCOMING_EMAIL", Direction.INBOUND),
        ("FORWARDED_EMAIL", Direction.UNKNOWN),
        (None, Direction.UNKNOWN),
    ],
)
def test_email_direction(raw, direction):
    props = {} if raw is None else {"hs_email_direction": raw}
    activity = one("emails", **props)
    assert activity.channel is Channel.EMAIL
    assert activity.direction is direction
    assert ("forwarded" in activity.tags) == (raw == "FORWARDED_EMAIL")


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("BOUNCED", Outcome.BOUNCED), ("FAILED", Outcome.BOUNCED), ("SENT", Outcome.COMPLETED),
     ("SCHEDULED", Outcome.SCHEDULED)],
)  # fmt: skip
def test_email_status(status, outcome):
    assert one("emails", hs_email_direction="EMAIL", hs_email_status=status).outcome is outcome


def test_email_time_is_hs_timestamp_and_threads_by_id_or_subject():
    activity = one("emails", hs_email_thread_id="t-1", hs_lastmodifieddate="2027-01-01T00:00:00Z")
    assert activity.occurred_at == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
    assert activity.thread_id == "hs:t-1"
    a = email_thread({"hs_email_subject": "Pricing for Q3"})
    b = email_thread({"hs_email_subject": "RE: Fwd: pricing for q3 "})
    assert a == b and a is not None
    assert email_thread({"hs_email_subject": "Another topic"}) != a
    assert email_thread({}) is None


@pytest.mark.parametrize(
    ("disposition", "status", "outcome", "tag"),
    [
        ("f240bbac-87c9-4f6e-bf70-924b57d47db7", "COMPLETED", Outcome.COMPLETED, None),
        ("73a0d17f-1163-4015-bdd5-ec830791da20", "COMPLETED", Outcome.NO_ANSWER, None),
        ("9d9162e7-6cf3-4944-bf63-4dff82258764", "COMPLETED", Outcome.NO_ANSWER, "busy"),
        ("b2cf5968-551e-4856-9783-52b3da59a7d0", "COMPLETED", Outcome.NO_ANSWER, "voicemail"),
        ("", "NO_ANSWER", Outcome.NO_ANSWER, None),
        ("", "BUSY", Outcome.NO_ANSWER, None),
        ("", "CANCELED", Outcome.CANCELED, None),
        ("", "COMPLETED", Outcome.COMPLETED, None),
        ("0a0a0a0a-custom", "COMPLETED", Outcome.UNKNOWN, "disposition:0a0a0a0a-custom"),
    ],
)
def test_call_outcomes(disposition, status, outcome, tag):
    activity = one(
        "calls",
        hs_call_direction="OUTBOUND",
        hs_call_disposition=disposition,
        hs_call_status=status,
        hs_call_duration="90500",
    )
    assert activity.channel is Channel.CALL
    assert activity.direction is Direction.OUTBOUND
    assert activity.outcome is outcome
    assert activity.duration_seconds == pytest.approx(90.5)
    if tag:
        assert tag in activity.tags


def test_inbound_call():
    assert one("calls", hs_call_direction="INBOUND").direction is Direction.INBOUND


@pytest.mark.parametrize(
    ("raw", "outcome", "direction"),
    [
        ("SCHEDULED", Outcome.SCHEDULED, Direction.UNKNOWN),
        ("COMPLETED", Outcome.COMPLETED, Direction.MUTUAL),
        ("RESCHEDULED", Outcome.SCHEDULED, Direction.UNKNOWN),
        ("NO_SHOW", Outcome.NO_SHOW, Direction.UNKNOWN),
        ("CANCELED", Outcome.CANCELED, Direction.UNKNOWN),
        ("PORTAL_CUSTOM_DEMO_DONE", Outcome.UNKNOWN, Direction.UNKNOWN),
    ],
)
def test_meeting_outcomes(raw, outcome, direction):
    activity = one(
        "meetings",
        hs_meeting_outcome=raw,
        hs_meeting_start_time="2026-03-01T10:00:00Z",
        hs_meeting_end_time="2026-03-01T10:30:00Z",
    )
    assert activity.channel is Channel.MEETING
    assert (activity.outcome, activity.direction) == (outcome, direction)
    assert activity.duration_seconds == 1800
    if raw == "PORTAL_CUSTOM_DEMO_DONE":
        assert "outcome:portal_custom_demo_done" in activity.tags


def test_meeting_without_timestamp_uses_start_time():
    activities = map_engagement(
        "meetings", "1", {"hs_meeting_start_time": "2026-02-02T09:00:00Z"}, ["5"]
    )
    assert activities[0].occurred_at == datetime(2026, 2, 2, 9, tzinfo=timezone.utc)


def test_notes_communications_and_tasks():
    note = one("notes")
    assert (note.channel, note.direction) == (Channel.NOTE, Direction.UNKNOWN)
    message = one("communications", hs_communication_channel_type="WHATS_APP")
    assert (message.channel, message.direction) == (Channel.MESSAGE, Direction.UNKNOWN)
    assert "whats_app" in message.tags
    task = one("tasks", hs_task_status="NOT_STARTED")
    assert (task.channel, task.outcome) == (Channel.TASK, Outcome.SCHEDULED)


def test_shared_engagement_is_one_activity_per_contact_with_one_id():
    activities = map_engagement("emails", "9", {"hs_timestamp": WHEN}, ["1", "2", "2", "3"])
    assert [a.contact_id for a in activities] == ["1", "2", "3"]
    assert {a.id for a in activities} == {"9"}


def test_no_contacts_or_no_time_gives_nothing():
    assert map_engagement("notes", "9", {"hs_timestamp": WHEN}, []) == []
    assert map_engagement("notes", "9", {"hs_timestamp": None}, ["1"]) == []


def test_times_parse_iso_and_epoch_ms_and_round_trip():
    iso = parse_hubspot_time("2026-03-01T10:00:00.123Z")
    assert iso == datetime(2026, 3, 1, 10, 0, 0, 123000, tzinfo=timezone.utc)
    assert parse_hubspot_time("1772359200123") == iso
    assert format_hubspot_time(iso) == "2026-03-01T10:00:00.123Z"
    assert parse_hubspot_time("") is None and parse_hubspot_time(None) is None
    assert parse_hubspot_time("2026-03-01T10:00:00.1Z") == datetime(
        2026, 3, 1, 10, 0, 0, 100000, tzinfo=timezone.utc
    )
    assert parse_hubspot_time("2026-03-01T10:00:00.123456789+0000") == datetime(
        2026, 3, 1, 10, 0, 0, 123456, tzinfo=timezone.utc
    )
    with pytest.raises(ValueError, match="not a HubSpot date-time"):
        parse_hubspot_time("yesterday")


def test_contact_mapping():
    contact = map_contact(
        "12",
        {"email": "a@b.c", "firstname": "Ada", "lastname": "", "lastmodifieddate": WHEN},
    )
    assert contact.id == "12" and contact.email == "a@b.c" and contact.last_name is None
    assert contact.modified_at == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)


def test_score_properties_are_strings_with_reasons_capped():
    score = MutualityScore(
        contact_id="1",
        score=72.456,
        lean=-0.12345,
        strength=40.0,
        band=Band.MUTUAL,
        confidence=0.5,
        reasons=("x" * 300,),
        components=(),
        algorithm="t",
        as_of=datetime(2026, 3, 1, tzinfo=timezone.utc),
    )
    names = PropertyNames.with_prefix("ms_")
    values = score_properties(score, datetime(2026, 3, 1, tzinfo=timezone.utc), names)
    reasons = values.pop("ms_reasons")
    assert 0 < len(reasons) <= 255 and reasons.startswith("xxx")
    assert values == {
        "ms_score": "72.5",
        "ms_band": "mutual",
        "ms_lean": "-0.123",
        "ms_strength": "40",
        "ms_confidence": "0.5",
        "ms_scored_at": "1772323200000",
    }
