from __future__ import annotations

from datetime import datetime, timezone

import pytest
from mutuality_adapters.salesforce import mapping

from mutuality_core.model import Channel, Direction, Outcome

C1, C2, LEAD = "003000000000001AAA", "003000000000002AAA", "00Q000000000001AAA"


def test_parse_salesforce_datetime_forms() -> None:
    want = datetime(2024, 4, 25, 15, 50, 37, tzinfo=timezone.utc)
    assert mapping.parse_sf_datetime("2024-04-25T15:50:37.000+0000") == want
    assert mapping.parse_sf_datetime("2024-04-25T17:50:37.000+0200") == want
    assert mapping.parse_sf_datetime("2024-04-25T15:50:37Z") == want
    assert mapping.parse_sf_datetime("2024-04-25") == datetime(2024, 4, 25, tzinfo=timezone.utc)
    assert mapping.parse_sf_datetime(None) is None
    assert mapping.format_sf_datetime(want) == "2024-04-25T15:50:37.000Z"


def task(**fields: object) -> dict[str, object]:
    base = {
        "Id": "00T1",
        "WhoId": C1,
        "TaskSubtype": "Task",
        "IsClosed": True,
        "CompletedDateTime": "2026-01-02T03:04:05.000+0000",
        "IsDeleted": False,
    }
    base.update(fields)
    return base


def test_calls_take_direction_duration_and_no_answer() -> None:
    inbound = mapping.task_activities(
        task(TaskSubtype="Call", CallType="Inbound", CallDurationInSeconds=90)
    )
    assert [(a.channel, a.direction, a.duration_seconds, a.outcome) for a in inbound] == [
        (Channel.CALL, Direction.INBOUND, 90.0, Outcome.COMPLETED)
    ]
    missed = mapping.task_activities(
        task(TaskSubtype="Call", CallType="Outbound", CallDurationInSeconds=0)
    )
    assert missed[0].outcome is Outcome.NO_ANSWER and missed[0].direction is Direction.OUTBOUND
    assert mapping.task_activities(task(TaskSubtype="Call", CallType="Internal")) == []


def test_open_tasks_are_scheduled_and_list_emails_automated() -> None:
    open_task = mapping.task_activities(
        task(IsClosed=False, CompletedDateTime=None, ActivityDate="2026-02-01")
    )
    assert open_task[0].outcome is Outcome.SCHEDULED
    assert open_task[0].occurred_at == datetime(2026, 2, 1, tzinfo=timezone.utc)
    listed = mapping.task_activities(task(TaskSubtype="ListEmail"))
    assert listed[0].automated and listed[0].channel is Channel.EMAIL
    cadence = mapping.task_activities(task(TaskSubtype="Cadence"))
    assert cadence[0].automated
    linkedin = mapping.task_activities(task(TaskSubtype="LinkedIn"))
    assert linkedin[0].channel is Channel.MESSAGE and not linkedin[0].automated


def test_shared_task_credits_every_contact_but_not_leads() -> None:
    record = task(
        TaskWhoRelations={
            "totalSize": 3,
            "done": True,
            "records": [{"RelationId": C1}, {"RelationId": C2}, {"RelationId": LEAD}],
        }
    )
    activities = mapping.task_activities(record, "TaskWhoRelations")
    assert sorted(a.contact_id for a in activities) == [C1, C2]
    assert {a.id for a in activities} == {"00T1"}
    assert mapping.task_activities(task(WhoId=LEAD)) == []


def test_events_are_mutual_declines_kept_apart_children_skipped() -> None:
    record = {
        "Id": "00U1",
        "WhoId": C1,
        "StartDateTime": "2026-03-01T09:00:00.000+0000",
        "DurationInMinutes": 30,
        "IsChild": False,
        "EventRelations": {
            "records": [
                {"RelationId": C1, "Status": "Accepted"},
                {"RelationId": C2, "Status": "Declined"},
            ]
        },
    }
    by_contact = {a.contact_id: a for a in mapping.event_activities(record, "EventRelations")}
    assert (
        by_contact[C1].direction is Direction.MUTUAL and by_contact[C1].outcome is Outcome.COMPLETED
    )
    assert by_contact[C2].outcome is Outcome.DECLINED
    assert by_contact[C1].duration_seconds == 1800.0
    assert mapping.event_activities({**record, "IsChild": True}, "EventRelations") == []


def test_email_direction_id_and_drafts() -> None:
    record = {
        "Id": "02s1",
        "Incoming": True,
        "MessageDate": "2026-03-01T09:00:00.000+0000",
        "ActivityId": "00T9",
        "Status": "3",
        "ThreadIdentifier": "th",
        "EmailMessageRelations": {"records": [{"RelationId": C1, "RelationType": "FromAddress"}]},
    }
    [email] = mapping.email_activities(
        record, "EmailMessageRelations", thread_field="ThreadIdentifier"
    )
    assert (email.id, email.direction, email.thread_id) == ("00T9", Direction.INBOUND, "th")
    assert mapping.email_activities({**record, "Status": "5"}, "EmailMessageRelations") == []
    sent = {
        **record,
        "Incoming": False,
        "ActivityId": None,
        "EmailMessageRelations": {"records": [{"RelationId": C1, "RelationType": "ToAddress"}]},
    }
    outgoing = mapping.email_activities(sent, "EmailMessageRelations")
    assert outgoing[0].id == "02s1" and outgoing[0].direction is Direction.OUTBOUND
    # a contact that is the sender of a message we sent is no recipient of ours
    assert (
        mapping.email_activities(
            {**sent, **{k: record[k] for k in ("EmailMessageRelations",)}}, "EmailMessageRelations"
        )
        == []
    )


def test_contact_record() -> None:
    contact = mapping.contact_from_record(
        {
            "Id": C1,
            "Email": "a@x.com",
            "FirstName": "A",
            "LastName": "B",
            "Account": {"Name": "Acme"},
            "SystemModstamp": "2026-01-01T00:00:00.000+0000",
        }
    )
    assert (contact.company, contact.email) == ("Acme", "a@x.com")
    assert contact.modified_at == datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("size", [1, 299, 300, 301])
def test_chunked_covers_everything(size: int) -> None:
    values = [str(i) for i in range(size)]
    chunks = list(mapping.chunked(values, 300))
    assert [v for c in chunks for v in c] == values and all(len(c) <= 300 for c in chunks)


def event(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "Id": "00U2",
        "WhoId": C1,
        "StartDateTime": "2026-03-01T09:00:00.000+0000",
        "DurationInMinutes": 30,
        "IsChild": False,
        "Subject": "Intro",
        "CreatedById": "005USER000000001AAA",
        "EventRelations": {
            "records": [
                {"RelationId": C1, "Status": "New"},
                {"RelationId": C2, "Status": "Declined"},
            ]
        },
    }
    base.update(fields)
    return base


BOOKER = "005BOOKING00001"  # 15-character form, as settings.booking_users gives


@pytest.mark.parametrize(
    ("fields", "outcome"),
    [
        ({"Subject": "Canceled: Intro"}, Outcome.CANCELED),
        ({"Subject": "Cancelled - Intro"}, Outcome.CANCELED),
        ({"Subject": "[No-show] Intro"}, Outcome.NO_SHOW),
        ({"Subject": "no show: Intro"}, Outcome.NO_SHOW),
        ({"Outcome__c": "No Show"}, Outcome.NO_SHOW),
        ({"Outcome__c": "Did not show up"}, Outcome.NO_SHOW),
        ({"Outcome__c": "Rescheduled"}, Outcome.CANCELED),
        ({"Outcome__c": "Scheduled"}, Outcome.SCHEDULED),
        ({"Outcome__c": "Held", "Subject": "Canceled: Intro"}, Outcome.COMPLETED),
        ({"Outcome__c": "Demo given"}, Outcome.UNKNOWN),
        ({"Outcome__c": "Demo given", "Subject": "Canceled: Intro"}, Outcome.CANCELED),
        ({"Subject": "Cancellation policy review"}, Outcome.COMPLETED),
        ({"Subject": "No showstoppers: launch"}, Outcome.COMPLETED),
        ({}, Outcome.COMPLETED),
    ],
)
def test_meeting_outcome_from_field_then_subject(
    fields: dict[str, object], outcome: Outcome
) -> None:
    assert mapping.meeting_outcome(event(**fields), "Outcome__c") is outcome


def test_outcome_field_is_ignored_unless_the_org_showed_it() -> None:
    assert mapping.meeting_outcome(event(Outcome__c="No Show")) is Outcome.COMPLETED


def test_meetings_not_held_keep_their_organiser_and_no_duration() -> None:
    rules = mapping.ActivityRules(booking_users=frozenset({BOOKER}))
    canceled = mapping.event_activities(event(Subject="Canceled: Intro"), "EventRelations", rules)
    assert {(a.contact_id, a.direction, a.outcome, a.duration_seconds) for a in canceled} == {
        (C1, Direction.OUTBOUND, Outcome.CANCELED, None),
        (C2, Direction.OUTBOUND, Outcome.CANCELED, None),
    }
    booked = mapping.event_activities(
        event(Subject="Canceled: Intro", CreatedById=BOOKER + "AAA"), "EventRelations", rules
    )
    assert {a.direction for a in booked} == {Direction.INBOUND}
    held = mapping.event_activities(event(CreatedById=BOOKER + "AAA"), "EventRelations", rules)
    by_contact = {a.contact_id: a for a in held}
    assert (by_contact[C1].direction, by_contact[C1].outcome) == (
        Direction.MUTUAL,
        Outcome.COMPLETED,
    )
    assert by_contact[C1].duration_seconds == 1800.0
    # the invitee who declined was invited: the invitation is on your side
    assert (by_contact[C2].direction, by_contact[C2].outcome) == (
        Direction.OUTBOUND,
        Outcome.DECLINED,
    )


def test_tags_from_subject_hashtags_and_the_tags_field() -> None:
    record = task(Subject="Re: pricing #Ask #by:them, see #1 &#39; x#y", Tags__c="give; Internal;")
    assert mapping.record_tags(record) == {"ask", "by:them"}
    assert mapping.record_tags(record, "Tags__c") == {"ask", "by:them", "give", "internal"}
    [activity] = mapping.task_activities(record, None, mapping.ActivityRules(tags_field="Tags__c"))
    assert activity.tags == {"ask", "by:them", "give", "internal"}
    [meeting, _declined] = mapping.event_activities(event(Subject="Intro #give"), "EventRelations")
    assert meeting.tags == {"give"}


def test_task_type_note_is_a_note_without_direction() -> None:
    [note] = mapping.task_activities(task(Type="Note", Subject="met at the fair #internal"))
    assert (note.channel, note.direction, note.tags) == (
        Channel.NOTE,
        Direction.UNKNOWN,
        {"internal"},
    )
    [todo] = mapping.task_activities(task(Type="Other"))
    assert (todo.channel, todo.direction) == (Channel.TASK, Direction.OUTBOUND)


def test_bounced_email_and_email_tags() -> None:
    record = {
        "Id": "02s2",
        "Incoming": False,
        "MessageDate": "2026-03-01T09:00:00.000+0000",
        "Status": "3",
        "IsBounced": True,
        "Subject": "Intro #ask",
        "EmailMessageRelations": {"records": [{"RelationId": C1, "RelationType": "ToAddress"}]},
    }
    [email] = mapping.email_activities(record, "EmailMessageRelations")
    assert (email.outcome, email.tags) == (Outcome.BOUNCED, {"ask"})
    [sent] = mapping.email_activities({**record, "IsBounced": False}, "EmailMessageRelations")
    assert sent.outcome is Outcome.COMPLETED
