"""Salesforce records (as the REST API returns them) -> domain values.

Pure functions only: no client, no clock. Everything the reader learns about an
org's shape (which optional fields exist) arrives here as plain arguments, so the
mapping can be tested with literal dictionaries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from mutuality_core.model import Activity, Channel, Contact, Direction, Outcome

__all__ = [
    "CONTACT_PREFIX",
    "contact_from_record",
    "email_activities",
    "event_activities",
    "is_contact_id",
    "parse_sf_datetime",
    "related_contact_ids",
    "task_activities",
]

#: The key prefix of every Contact id. Standard objects' prefixes are fixed across
#: orgs, so a polymorphic WhoId/RelationId is a Contact exactly when it starts with this.
CONTACT_PREFIX = "003"

#: TaskSubtype values sent by tools rather than typed by a person.
AUTOMATED_SUBTYPES = frozenset({"ListEmail", "Cadence"})

_UTC = timezone.utc


def is_contact_id(value: object) -> bool:
    return isinstance(value, str) and value.startswith(CONTACT_PREFIX)


def parse_sf_datetime(value: str | None) -> datetime | None:
    """Parse ``2024-04-25T15:50:37.000+0000`` (or a ``YYYY-MM-DD`` date) as an aware datetime.

    ``datetime.fromisoformat`` before Python 3.11 rejects the ``+0000`` offset that
    Salesforce sends, so the offset gets its colon first.
    """
    if not value:
        return None
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), _UTC)
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    elif len(value) > 5 and value[-5] in "+-" and value[-3] != ":":
        value = value[:-2] + ":" + value[-2:]
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_UTC)
    return parsed


def format_sf_datetime(value: datetime) -> str:
    """A SOQL datetime literal (UTC, millisecond precision, unquoted)."""
    value = value.astimezone(_UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


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
    return Channel.TASK, Direction.OUTBOUND, outcome, None


def task_activities(record: Mapping[str, Any], relationship: str | None = None) -> list[Activity]:
    """One Activity per related contact; none for internal calls or contact-less tasks.

    Open tasks come back as ``scheduled``: a to-do is not yet evidence of effort.
    Logged emails from Salesforce's own composer are sent by the user, hence outbound
    (when the org has Enhanced Email, the reader prefers the EmailMessage, which knows).
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
        )
        for contact_id in related_contact_ids(record, relationship)
    ]


def event_activities(record: Mapping[str, Any], relationship: str | None = None) -> list[Activity]:
    """A meeting that was held is mutual; an invitee who declined gets ``declined``.

    Child copies of group events (``IsChild``) are skipped: the parent carries the
    whole invitee list, so counting the copies would count the meeting twice.
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
    activities = []
    for contact_id in related_contact_ids(record, relationship):
        declined = statuses.get(contact_id) == "Declined"
        activities.append(
            Activity(
                id=record["Id"],
                contact_id=contact_id,
                occurred_at=start,
                channel=Channel.MEETING,
                direction=Direction.MUTUAL,
                outcome=Outcome.DECLINED if declined else Outcome.COMPLETED,
                duration_seconds=duration,
            )
        )
    return activities


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
) -> list[Activity]:
    """One Activity per contact on the message (From, To, Cc, Bcc), direction from ``Incoming``."""
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
    return [
        Activity(
            id=activity_id,
            contact_id=contact_id,
            occurred_at=occurred,
            channel=Channel.EMAIL,
            direction=direction,
            thread_id=thread or None,
        )
        for contact_id in related_contact_ids(record, relationship)
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


def lookback_start(stamp: datetime, seconds: float) -> datetime:
    return stamp - timedelta(seconds=seconds)
