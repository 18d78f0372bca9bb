"""Salesforce records (as the REST API returns them) -> domain values.

Pure functions only: no client, no clock. Everything the reader learns about an
org's shape (which optional fields exist) arrives here as plain arguments, so the
mapping can be tested with literal dictionaries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timezone
from typing import Any, TypeGuard

import attrs

from mutuality_core.model import Activity, Channel, Contact, Direction, Outcome
from mutuality_core.timestamps import format_utc_milliseconds, parse_iso_datetime

__all__ = [
    "CONTACT_PREFIX",
    "ActivityRules",
    "contact_from_record",
    "email_activities",
    "event_activities",
    "is_contact_id",
    "meeting_outcome",
    "parse_sf_datetime",
    "record_tags",
    "related_contact_ids",
    "task_activities",
]

#: The key prefix of every Contact id. Standard objects' prefixes are fixed across
#: orgs, so a polymorphic WhoId/RelationId is a Contact exactly when it starts with this.
CONTACT_PREFIX = "003"

#: TaskSubtype values sent by tools rather than typed by a person.
AUTOMATED_SUBTYPES = frozenset({"ListEmail", "Cadence"})

#: Task ``Type`` values that mark a logged note (the standard picklist is org-configurable;
#: orgs that log notes as Tasks add a "Note" value).
NOTE_TYPES = frozenset({"note", "notes"})

_UTC = timezone.utc


@attrs.frozen
class ActivityRules:
    """What the reader learnt about this org's optional fields, for one object.

    ``tags_field`` and ``outcome_field`` are set only when describe showed the field
    (custom fields are invisible without field-level security); ``booking_users``
    are the 15-character ids of users whose Events were booked by the contact
    (scheduling tools' integration users).
    """

    tags_field: str | None = None
    outcome_field: str | None = None
    booking_users: frozenset[str] = frozenset()


NO_RULES = ActivityRules()

#: ``#ask``, ``#give``, ``#by:them`` in a Subject; not ``#1`` or ``&#39;``.
_HASHTAG = re.compile(r"(?<![\w#&])#([A-Za-z][\w-]*(?::[\w-]+)?)")


def record_tags(record: Mapping[str, Any], tags_field: str | None = None) -> frozenset[str]:
    """Hashtags in the Subject plus the ``;``-separated values of the tags field."""
    tags: set[str] = set()
    subject = record.get("Subject")
    if isinstance(subject, str) and "#" in subject:
        tags.update(tag.lower() for tag in _HASHTAG.findall(subject))
    if tags_field:
        value = record.get(tags_field)
        if isinstance(value, str) and value:
            tags.update(t.strip().lower() for t in value.split(";") if t.strip())
    return frozenset(tags)


#: A Subject that calendar sync or a rep marked as not held: "Canceled: Demo",
#: "Cancelled - Demo", "[No-show] Intro", "No show: Intro".
_NOT_HELD_SUBJECT = re.compile(r"^\s*[\[(]?\s*(cancel+ed|no[\s_-]?show)\s*[\]):-]", re.IGNORECASE)
_HELD_WORDS = frozenset(
    {"held", "completed", "complete", "done", "attended", "occurred", "happened", "met"}
)
_SCHEDULED_WORDS = frozenset({"scheduled", "planned", "pending", "booked", "upcoming"})
#: Outcomes of a meeting that took place (as far as the record says).
_HELD = frozenset({Outcome.COMPLETED, Outcome.UNKNOWN})


def _outcome_from_text(text: str) -> Outcome | None:
    """An outcome from free wording, or None when the text names none we know."""
    words = " ".join(text.lower().replace("_", " ").replace("-", " ").split())
    if not words:
        return None
    if "cancel" in words or "resched" in words:
        return Outcome.CANCELED
    if "no show" in words or "noshow" in words or ("show" in words and "not" in words):
        return Outcome.NO_SHOW
    if "declin" in words:
        return Outcome.DECLINED
    if words in _SCHEDULED_WORDS:
        return Outcome.SCHEDULED
    if words in _HELD_WORDS:
        return Outcome.COMPLETED
    return None


def meeting_outcome(record: Mapping[str, Any], outcome_field: str | None = None) -> Outcome:
    """Whether an Event was held: the outcome field first, then a Subject prefix.

    Salesforce has no standard "canceled" or "no-show" on Event: calendar sync
    prefixes a canceled meeting's Subject with "Canceled:", and orgs that track
    no-shows do it in a custom field. A value the field holds that we cannot read
    is ``unknown`` (scored like a held meeting, but not claimed to be one).
    """
    unreadable = False
    if outcome_field:
        value = record.get(outcome_field)
        if isinstance(value, str) and value.strip():
            known = _outcome_from_text(value)
            if known is not None:
                return known
            unreadable = True
    subject = record.get("Subject")
    if isinstance(subject, str):
        match = _NOT_HELD_SUBJECT.match(subject)
        if match:
            return _outcome_from_text(match.group(1)) or Outcome.UNKNOWN
    return Outcome.UNKNOWN if unreadable else Outcome.COMPLETED


def is_contact_id(value: object) -> TypeGuard[str]:
    """A Contact id (a polymorphic field may hold a Lead's, a User's or nothing)."""
    return isinstance(value, str) and value.startswith(CONTACT_PREFIX)


def parse_sf_datetime(value: str | None) -> datetime | None:
    """Parse ``2024-04-25T15:50:37.000+0000`` (or a ``YYYY-MM-DD`` date) as an aware datetime.

    ``datetime.fromisoformat`` before Python 3.11 rejects the ``+0000`` offset that
    Salesforce sends; the core's parser reads it on every version.
    """
    if not value:
        return None
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), _UTC)
    return parse_iso_datetime(value, naive_as_utc=True)


#: A SOQL datetime literal (UTC, millisecond precision, unquoted).
format_sf_datetime = format_utc_milliseconds


def contact_from_record(record: Mapping[str, Any]) -> Contact:
    account = record.get("Account")
    company = account.get("Name") if isinstance(account, Mapping) else None
    return Contact(
        id=record["Id"],
        email=record.get("Email") or None,
        first_name=record.get("FirstName") or None,
        last_name=record.get("LastName") or None,
        company=company or None,
        modified_at=parse_sf_datetime(record.get("SystemModstamp")),
    )


def _children(record: Mapping[str, Any], relationship: str) -> list[Mapping[str, Any]]:
    nested = record.get(relationship)
    if isinstance(nested, Mapping):
        return list(nested.get("records") or ())
    return []


def related_contact_ids(record: Mapping[str, Any], relationship: str | None) -> list[str]:
    """Every Contact an activity relates to: its ``WhoId`` plus the junction rows.

    With Shared Activities a Task or Event relates to up to 50 contacts and ``WhoId``
    is only the primary one, so crediting ``WhoId`` alone would miss the others.
    """
    ids: list[str] = []
    who = record.get("WhoId")
    if is_contact_id(who):
        ids.append(who)
    if relationship:
        for child in _children(record, relationship):
            relation_id = child.get("RelationId")
            if is_contact_id(relation_id) and relation_id not in ids:
                ids.append(relation_id)
    return ids


def _task_time(record: Mapping[str, Any]) -> datetime | None:
    return (
        parse_sf_datetime(record.get("CompletedDateTime"))
        or parse_sf_datetime(record.get("ActivityDate"))
        or parse_sf_datetime(record.get("CreatedDate"))
    )


def _task_shape(record: Mapping[str, Any]) -> tuple[Channel, Direction, Outcome, float | None]:
    subtype = record.get("TaskSubtype") or "Task"
    closed = bool(record.get("IsClosed"))
    outcome = Outcome.COMPLETED if closed else Outcome.SCHEDULED
    duration: float | None = None
    if subtype == "Call":
        call_type = record.get("CallType")
        direction = {
            "Inbound": Direction.INBOUND,
            "Outbound": Direction.OUTBOUND,
        }.get(call_type or "", Direction.UNKNOWN)
        seconds = record.get("CallDurationInSeconds")
        if seconds is not None:
            duration = float(seconds)
            if closed and duration == 0:
                outcome = Outcome.NO_ANSWER
        return Channel.CALL, direction, outcome, duration
    if subtype in ("Email", "ListEmail"):
        return Channel.EMAIL, Direction.OUTBOUND, outcome, None
    if subtype == "LinkedIn":
        return Channel.MESSAGE, Direction.OUTBOUND, outcome, None
    task_type = record.get("Type")
    if isinstance(task_type, str) and task_type.strip().lower() in NOTE_TYPES:
        return Channel.NOTE, Direction.UNKNOWN, outcome, None
    return Channel.TASK, Direction.OUTBOUND, outcome, None


def task_activities(
    record: Mapping[str, Any],
    relationship: str | None = None,
    rules: ActivityRules = NO_RULES,
) -> list[Activity]:
    """One Activity per related contact; none for internal calls or contact-less tasks.

    Open tasks come back as ``scheduled``: a to-do is not yet evidence of effort.
    Logged emails from Salesforce's own composer are sent by the user, hence outbound
    (when the org has Enhanced Email, the reader prefers the EmailMessage, which knows).
    A Task of ``Type`` Note is a note: nothing in it says who spoke to whom, so its
    direction is ``unknown``.
    """
    if record.get("IsDeleted"):
        return []
    if record.get("TaskSubtype") == "Call" and record.get("CallType") == "Internal":
        return []
    occurred = _task_time(record)
    if occurred is None:
        return []
    channel, direction, outcome, duration = _task_shape(record)
    automated = (record.get("TaskSubtype") or "") in AUTOMATED_SUBTYPES
    tags = record_tags(record, rules.tags_field)
    return [
        Activity(
            id=record["Id"],
            contact_id=contact_id,
            occurred_at=occurred,
            channel=channel,
            direction=direction,
            outcome=outcome,
            duration_seconds=duration,
            automated=automated,
            tags=tags,
        )
        for contact_id in related_contact_ids(record, relationship)
    ]


def event_activities(
    record: Mapping[str, Any],
    relationship: str | None = None,
    rules: ActivityRules = NO_RULES,
) -> list[Activity]:
    """A meeting that was held is mutual; one that was not is the organiser's.

    The outcome comes from :func:`meeting_outcome`; an invitee whose
    ``EventRelation.Status`` is Declined gets ``declined``, outbound (the contact
    turned down an invitation). A meeting that was not
    held (canceled, no-show, declined, scheduled) keeps who set it up, which the
    score needs to tell who let whom down: the contact when a booking tool's user
    created the Event (``rules.booking_users``), else you (Events are owned and
    created by users). Child copies of group events (``IsChild``) are skipped: the
    parent carries the whole invitee list, so counting the copies would count the
    meeting twice.
    """
    if record.get("IsDeleted") or record.get("IsChild"):
        return []
    start = parse_sf_datetime(record.get("StartDateTime")) or parse_sf_datetime(
        record.get("ActivityDateTime")
    )
    if start is None:
        start = parse_sf_datetime(record.get("ActivityDate"))
    if start is None:
        return []
    duration: float | None = None
    if record.get("DurationInMinutes") is not None:
        duration = float(record["DurationInMinutes"]) * 60.0
    else:
        end = parse_sf_datetime(record.get("EndDateTime"))
        if end is not None and end >= start:
            duration = (end - start).total_seconds()
    statuses: dict[str, str] = {}
    if relationship:
        for child in _children(record, relationship):
            if is_contact_id(child.get("RelationId")) and child.get("Status"):
                statuses[child["RelationId"]] = child["Status"]
    held = meeting_outcome(record, rules.outcome_field)
    creator = record.get("CreatedById")
    booked = isinstance(creator, str) and creator[:15] in rules.booking_users
    organiser = Direction.INBOUND if booked else Direction.OUTBOUND
    tags = record_tags(record, rules.tags_field)
    activities = []
    for contact_id in related_contact_ids(record, relationship):
        outcome, direction = held, organiser
        if outcome in _HELD and statuses.get(contact_id) == "Declined":
            # this contact turned down an invitation: the invitation was not theirs
            outcome, direction = Outcome.DECLINED, Direction.OUTBOUND
        held_here = outcome in _HELD
        activities.append(
            Activity(
                id=record["Id"],
                contact_id=contact_id,
                occurred_at=start,
                channel=Channel.MEETING,
                direction=Direction.MUTUAL if held_here else direction,
                outcome=outcome,
                # the booked slot is not time spent when the meeting did not happen
                duration_seconds=duration if held_here else None,
                tags=tags,
            )
        )
    return activities


#: EmailMessageRelation.RelationType values whose contact a message is evidence for.
_SENDER = frozenset({"FromAddress"})
_RECIPIENTS = frozenset({"ToAddress", "CcAddress", "BccAddress"})

#: EmailMessage.Status values that mean the message never went anywhere (5 = Draft).
_UNSENT_EMAIL_STATUSES = frozenset({"5"})


def email_activity_id(record: Mapping[str, Any]) -> str:
    """The id a logged email is known by: its Task's id when it has one.

    A logged email usually exists twice, as EmailMessage and as a Task linked by
    ``ActivityId``; giving both the same id makes them one activity in the cache.
    """
    return record.get("ActivityId") or record["Id"]


def email_activities(
    record: Mapping[str, Any],
    relationship: str | None,
    *,
    thread_field: str | None = None,
    rules: ActivityRules = NO_RULES,
) -> list[Activity]:
    """One Activity per contact whose effort the message shows, direction from ``Incoming``.

    Each contact's ``EmailMessageRelation.RelationType`` says what part it had. A
    received message (``Incoming``) is the sender's effort: the ``FromAddress``
    contact gets it, inbound; contacts that were only To/Cc/Bcc recipients alongside
    us get nothing (being copied on someone else's mail is no effort of theirs, and
    none of ours towards them). A sent message is ours towards every To/Cc/Bcc
    contact: outbound. Without a RelationType (an org or record that has none) every
    related contact gets the message's direction, as before.

    ``IsBounced`` (set when Salesforce's bounce management sees the message bounce)
    gives ``bounced``: the message never reached anyone.
    """
    if record.get("IsDeleted") or record.get("Status") in _UNSENT_EMAIL_STATUSES:
        return []
    occurred = parse_sf_datetime(record.get("MessageDate")) or parse_sf_datetime(
        record.get("CreatedDate")
    )
    if occurred is None:
        return []
    direction = Direction.INBOUND if record.get("Incoming") else Direction.OUTBOUND
    thread = record.get(thread_field) if thread_field else None
    activity_id = email_activity_id(record)
    outcome = Outcome.BOUNCED if record.get("IsBounced") else Outcome.COMPLETED
    tags = record_tags(record, rules.tags_field)
    roles: dict[str, set[str]] = {}
    if relationship:
        for child in _children(record, relationship):
            relation_id, kind = child.get("RelationId"), child.get("RelationType")
            if is_contact_id(relation_id) and isinstance(kind, str):
                roles.setdefault(relation_id, set()).add(kind)
    wanted = _SENDER if record.get("Incoming") else _RECIPIENTS
    return [
        Activity(
            id=activity_id,
            contact_id=contact_id,
            occurred_at=occurred,
            channel=Channel.EMAIL,
            direction=direction,
            outcome=outcome,
            thread_id=thread or None,
            tags=tags,
        )
        for contact_id in related_contact_ids(record, relationship)
        if contact_id not in roles or roles[contact_id] & wanted
    ]


def chunked(values: Iterable[str], size: int) -> Iterable[list[str]]:
    chunk: list[str] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
