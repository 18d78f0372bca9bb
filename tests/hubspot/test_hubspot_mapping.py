"""Mapping HubSpot engagement and contact properties to the domain model."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from mutuality_adapters.hubspot.fake.portal import ENGAGEMENT_TYPES as FAKE_ENGAGEMENT_TYPES
from mutuality_adapters.hubspot.mapping import (
    ENGAGEMENT_MAPPERS,
    ENGAGEMENT_PROPERTIES,
    ENGAGEMENT_TYPES,
    TASKS,
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
    assert {a.id for a in activities} == {"emails:9"}  # the type keeps ids of two types apart


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
    as_of, written_at = datetime(2026, 3, 1, tzinfo=timezone.utc), datetime(2026, 3, 2, 8, 30)
    values = score_properties(score, as_of, names, written_at.replace(tzinfo=timezone.utc))
    reasons = values.pop("ms_reasons")
    assert 0 < len(reasons) <= 255 and reasons.startswith("xxx")
    assert values == {
        "ms_score": "72.5",
        "ms_band": "mutual",
        "ms_lean": "-0.123",
        "ms_strength": "40",
        "ms_confidence": "0.5",
        "ms_scored_at": "1772323200000",  # the as_of the score describes
        "ms_written_at": "1772440200000",  # when it was written
    }


# -- heuristics: automated emails, tags, who set a meeting up --------------------------------


def rules_from(**settings):
    from mutuality_adapters.hubspot.settings import HubSpotSettings

    return HubSpotSettings.from_mapping(settings, environ={"HUBSPOT_ACCESS_TOKEN": "t"}).rules


def mapped(object_type, props, contacts=("5",), rules=None):
    from mutuality_adapters.hubspot.rules import DEFAULT_RULES

    activities = map_engagement(
        object_type, "77", {"hs_timestamp": WHEN, **props}, list(contacts), rules or DEFAULT_RULES
    )
    return activities[0]


@pytest.mark.parametrize(
    ("sender", "automated"),
    [
        ("noreply@seller.example", True),
        ("No-Reply@Seller.Example", True),
        ("newsletter@seller.example", True),
        ("notifications@app.example", True),
        ("bounces+123@bounce.mailer.example", True),
        ("jane@seller.example", False),
        ("info@smallshop.example", False),  # people answer info@ in small companies
        ("replynow@seller.example", False),
        (None, False),
    ],
)
def test_automated_sender_patterns(sender, automated):
    props = {"hs_email_direction": "EMAIL"}
    if sender:
        props["hs_email_from_email"] = sender
    activity = mapped("emails", props)
    assert activity.automated is automated
    assert activity.direction is Direction.OUTBOUND


def test_sender_patterns_are_configurable_and_can_be_switched_off():
    rules = rules_from(automated_sender_patterns="info@*; *@mailer.example")
    props = {"hs_email_direction": "EMAIL"}
    assert mapped(
        "emails", {**props, "hs_email_from_email": "info@x.example"}, rules=rules
    ).automated
    assert mapped(
        "emails", {**props, "hs_email_from_email": "a@mailer.example"}, rules=rules
    ).automated
    noreply = {**props, "hs_email_from_email": "noreply@x.example"}
    assert not mapped("emails", noreply, rules=rules).automated
    assert not mapped("emails", noreply, rules=rules_from(automated_sender_patterns=[])).automated


def test_a_sequence_email_is_automated_and_tagged():
    activity = mapped(
        "emails",
        {"hs_email_direction": "EMAIL", "hs_sequence_id": "424242",
         "hs_email_from_email": "jane@seller.example"},
    )  # fmt: skip
    assert activity.automated and activity.tags == {"sequence"}
    assert not mapped("emails", {"hs_email_direction": "EMAIL", "hs_sequence_id": " "}).automated


def test_an_email_to_more_contacts_than_the_threshold_is_bulk():
    props = {"hs_email_direction": "EMAIL", "hs_email_from_email": "jane@seller.example"}
    contacts = [str(n) for n in range(21)]
    bulk = map_engagement("emails", "1", {"hs_timestamp": WHEN, **props}, contacts)
    assert len(bulk) == 21 and all(a.automated for a in bulk)
    assert not mapped("emails", props, contacts=contacts[:20]).automated
    off = rules_from(bulk_recipient_threshold=0)
    assert not mapped("emails", props, contacts=contacts, rules=off).automated
    # the threshold counts distinct contacts, not repeated association rows
    assert not mapped("emails", props, contacts=contacts[:20] * 3).automated


def test_bulk_never_applies_to_other_channels():
    contacts = [str(n) for n in range(50)]
    assert not mapped("meetings", {"hs_meeting_outcome": "COMPLETED"}, contacts=contacts).automated


def test_tags_property_is_split_on_semicolons_and_merged_with_derived_tags():
    activity = mapped(
        "calls",
        {"hs_call_disposition": "b2cf5968-551e-4856-9783-52b3da59a7d0",
         "mutuality_tags": " Ask ;give;;voicemail "},
    )  # fmt: skip
    assert activity.tags == {"ask", "give", "voicemail"}
    assert mapped("notes", {"mutuality_tags": None}).tags == frozenset()
    custom = rules_from(tags_property="ledger")
    assert mapped("notes", {"ledger": "ask", "mutuality_tags": "give"}, rules=custom).tags == {
        "ask"
    }
    off = rules_from(tags_property="")
    assert mapped("notes", {"mutuality_tags": "give"}, rules=off).tags == frozenset()


@pytest.mark.parametrize(
    ("object_type", "field", "text", "tags"),
    [
        ("emails", "hs_email_subject", "Intro to Ana #ask", {"ask"}),
        ("emails", "hs_email_subject", "#GIVE: the deck you wanted", {"give"}),
        ("emails", "hs_email_subject", "#asking around, c#give, ##ask", set()),
        ("calls", "hs_call_title", "catch-up #give", {"give"}),
        ("meetings", "hs_meeting_title", "#ask for a reference", {"ask"}),
        ("notes", "hs_email_subject", "#ask", set()),  # note bodies are never fetched
    ],
)
def test_hashtags_in_short_text_fields(object_type, field, text, tags):
    assert mapped(object_type, {field: text}).tags >= tags
    if not tags:
        assert not ({"ask", "give"} & mapped(object_type, {field: text}).tags)


def test_hashtags_are_configurable():
    rules = rules_from(hashtags=["#intro"])
    assert mapped("emails", {"hs_email_subject": "#intro #ask"}, rules=rules).tags == {"intro"}


OUTCOME, SOURCE, ENGAGEMENT_SOURCE = (
    "hs_meeting_outcome",
    "hs_meeting_source",
    "hs_engagement_source",
)


@pytest.mark.parametrize(
    ("props", "direction"),
    [
        ({OUTCOME: "CANCELED", SOURCE: "MEETINGS_PUBLIC"}, Direction.INBOUND),
        ({OUTCOME: "NO_SHOW", SOURCE: "meetings_embedded"}, Direction.INBOUND),
        ({OUTCOME: "SCHEDULED", "hs_meeting_created_from_link_id": "991"}, Direction.INBOUND),
        ({OUTCOME: "NO_SHOW", SOURCE: "CRM_UI"}, Direction.OUTBOUND),
        ({OUTCOME: "CANCELED", ENGAGEMENT_SOURCE: "CRM_UI"}, Direction.OUTBOUND),
        ({OUTCOME: "CANCELED", ENGAGEMENT_SOURCE: "MEETINGS_PUBLIC"}, Direction.INBOUND),
        # a calendar-synced meeting may have been sent by either side: not guessed
        ({OUTCOME: "CANCELED", SOURCE: "BIDIRECTIONAL_SYNC", ENGAGEMENT_SOURCE: "CRM_UI"},
         Direction.UNKNOWN),
        ({OUTCOME: "CANCELED"}, Direction.UNKNOWN),
        # a held meeting is mutual whoever booked it
        ({OUTCOME: "COMPLETED", SOURCE: "MEETINGS_PUBLIC"}, Direction.MUTUAL),
    ],
)  # fmt: skip
def test_who_set_a_meeting_up(props, direction):
    assert mapped("meetings", props).direction is direction


def test_meeting_sources_are_configurable():
    rules = rules_from(meeting_sources_set_up_by_user="CRM_UI;BIDIRECTIONAL_SYNC")
    props = {"hs_meeting_outcome": "NO_SHOW", "hs_meeting_source": "BIDIRECTIONAL_SYNC"}
    assert mapped("meetings", props, rules=rules).direction is Direction.OUTBOUND


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"tags_property": "my tags"}, "tags_property"),
        ({"bulk_recipient_threshold": -1}, "bulk_recipient_threshold"),
        ({"hashtags": 5}, "hashtags"),
    ],
)
def test_bad_rule_settings_are_named(settings, message):
    from mutuality_core.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        rules_from(**settings)


def test_the_rules_properties_are_requested_only_for_their_types():
    from mutuality_adapters.hubspot.mapping import engagement_properties

    emails = engagement_properties("emails")
    assert {"hs_email_from_email", "hs_sequence_id", "mutuality_tags"} <= set(emails)
    meetings = engagement_properties("meetings")
    assert {"hs_meeting_source", "hs_meeting_created_from_link_id", "hs_meeting_title"} <= set(
        meetings
    )
    assert "hs_note_body" not in engagement_properties("notes")
    assert "mutuality_tags" not in engagement_properties("notes", rules_from(tags_property=""))


def documented_mapping_rows() -> list[tuple[str, str]]:
    """(engagement type, channel) for each row of docs/hubspot.md's mapping table."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "hubspot.md").read_text("utf-8")
    table = doc.split("| HubSpot | channel | direction | outcome |", 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|")[1:3] for line in table.splitlines()[2:]]
    return [(re.findall(r"[a-z]+", hubspot)[0] + "s", channel.strip()) for hubspot, channel in rows]


def test_every_documented_engagement_type_has_a_mapper_giving_the_documented_channel():
    rows = documented_mapping_rows()
    documented = {object_type for object_type, _ in rows}
    assert documented == {"emails", "calls", "meetings", "notes", "communications", "tasks"}
    assert set(ENGAGEMENT_MAPPERS) == documented == {*ENGAGEMENT_TYPES, TASKS}
    assert set(ENGAGEMENT_PROPERTIES) == documented  # what each mapper reads is requested
    assert set(FAKE_ENGAGEMENT_TYPES) == documented  # and the fake portal serves them
    for object_type, channel in rows:
        assert one(object_type).channel.value == channel, object_type


def test_an_engagement_type_without_a_mapper_is_refused():
    with pytest.raises(ValueError, match="not an engagement type: 'deals'"):
        map_engagement("deals", "1", {"hs_timestamp": WHEN}, ["5"])
