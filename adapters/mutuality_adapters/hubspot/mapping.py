"""Pure mapping between HubSpot records (property dicts of strings) and the domain model.

No I/O here: every function takes the record's ``properties`` as HubSpot returns
them (all values are strings or ``None``) so the mapping can be tested without a
server, and so a change in HubSpot's vocabulary is a change in one table.

Decisions (documented in docs/hubspot.md):

* ``FORWARDED_EMAIL`` is direction ``unknown``: an email forwarded to the CRM may be
  one the contact sent you or one you sent; HubSpot does not say which. It keeps
  the tag ``forwarded`` so it can be told apart.
* Calls: a known disposition GUID decides the outcome; otherwise ``hs_call_status``
  does. A portal's custom disposition with a finished call is kept as ``unknown``.
* Meetings: ``COMPLETED`` is a ``mutual`` activity. A meeting not held is
  ``inbound`` when the contact booked it through a scheduling link, ``outbound``
  when a HubSpot user set it up, else ``unknown`` (see :mod:`.rules`). A custom
  outcome is kept as outcome ``unknown`` with a tag ``outcome:<value>``, never dropped.
* Emails are ``automated`` when sent by a sequence, from a no-reply style address,
  or to more contacts than ``bulk_recipient_threshold`` (see :mod:`.rules`).
* Tags also come from the ``tags_property`` and from ``#ask``/``#give`` in subjects.
* Notes, communications and tasks: direction ``unknown``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import NamedTuple

from mutuality_core.model import Activity, Channel, Contact, Direction, MutualityScore, Outcome
from mutuality_core.ports import StoredScore
from mutuality_core.timestamps import format_utc_milliseconds, parse_iso_datetime

from .rules import DEFAULT_RULES, MappingRules
from .settings import PropertyNames

Properties = Mapping[str, "str | None"]

#: Engagement object types we read, in reading order. Tasks are opt-in.
ENGAGEMENT_TYPES = ("emails", "calls", "meetings", "notes", "communications")
TASKS = "tasks"


def modified_property(object_type: str) -> str:
    """The property HubSpot moves when a record changes (the incremental cursor)."""
    return "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"


CONTACT_PROPERTIES = ("email", "firstname", "lastname", "company", "lastmodifieddate")

#: Only the properties each mapping needs: HubSpot bills by request, not by field,
#: but smaller payloads are faster and leak less personal data into caches.
ENGAGEMENT_PROPERTIES: Mapping[str, tuple[str, ...]] = {
    "emails": (
        "hs_timestamp", "hs_email_direction", "hs_email_status", "hs_email_thread_id",
        "hs_email_subject", "hs_lastmodifieddate",
    ),
    "calls": (
        "hs_timestamp", "hs_call_direction", "hs_call_status", "hs_call_disposition",
        "hs_call_duration", "hs_lastmodifieddate",
    ),
    "meetings": (
        "hs_timestamp", "hs_meeting_outcome", "hs_meeting_start_time", "hs_meeting_end_time",
        "hs_lastmodifieddate",
    ),
    "notes": ("hs_timestamp", "hs_lastmodifieddate"),
    "communications": ("hs_timestamp", "hs_communication_channel_type", "hs_lastmodifieddate"),
    "tasks": ("hs_timestamp", "hs_task_status", "hs_task_type", "hs_lastmodifieddate"),
}  # fmt: skip

#: Documented properties the mapping reads that a portal might still refuse in a search:
#: requested like the rules' properties, so a refusal drops them instead of the sync.
OPTIONAL_PROPERTIES: Mapping[str, tuple[str, ...]] = {
    "calls": ("hs_call_has_voicemail",),  # a voicemail left: tag "voicemail"
}

CALL_DISPOSITIONS: Mapping[str, tuple[Outcome, str | None]] = {
    "f240bbac-87c9-4f6e-bf70-924b57d47db7": (Outcome.COMPLETED, None),  # Connected
    "9d9162e7-6cf3-4944-bf63-4dff82258764": (Outcome.NO_ANSWER, "busy"),
    "73a0d17f-1163-4015-bdd5-ec830791da20": (Outcome.NO_ANSWER, None),  # No answer
    "b2cf5968-551e-4856-9783-52b3da59a7d0": (Outcome.NO_ANSWER, "voicemail"),
    "a4c4c377-d246-4b32-a13b-75a56a4cd0ff": (Outcome.NO_ANSWER, "live_message"),
    "17b47fee-58de-441e-a44c-c6300d46f273": (Outcome.NO_ANSWER, "wrong_number"),
}
CONNECTED_GUID = "f240bbac-87c9-4f6e-bf70-924b57d47db7"

CALL_STATUSES: Mapping[str, Outcome] = {
    "COMPLETED": Outcome.COMPLETED,
    "NO_ANSWER": Outcome.NO_ANSWER,
    "BUSY": Outcome.NO_ANSWER,
    "FAILED": Outcome.NO_ANSWER,
    "MISSED": Outcome.NO_ANSWER,
    "CANCELED": Outcome.CANCELED,
    "QUEUED": Outcome.SCHEDULED,
}

MEETING_OUTCOMES: Mapping[str, Outcome] = {
    "SCHEDULED": Outcome.SCHEDULED,
    "COMPLETED": Outcome.COMPLETED,
    "RESCHEDULED": Outcome.SCHEDULED,
    "NO_SHOW": Outcome.NO_SHOW,
    "CANCELED": Outcome.CANCELED,
    "CANCELLED": Outcome.CANCELED,
}

EMAIL_DIRECTIONS: Mapping[str, Direction] = {
    "EMAIL": Direction.OUTBOUND,
    "INCOMING_EMAIL": Direction.INBOUND,
    "FORWARDED_EMAIL": Direction.UNKNOWN,
}

_SUBJECT_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|tr)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def parse_hubspot_time(value: str | None) -> datetime | None:
    """Parse HubSpot's datetimes: ISO 8601 (``...Z``) or epoch milliseconds; ``None`` if empty."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.isdigit() or (text.startswith("-") and text[1:].isdigit()):
        return datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc)
    try:
        return parse_iso_datetime(text, naive_as_utc=True)
    except ValueError:
        raise ValueError(f"not a HubSpot date-time: {text!r}") from None


def to_epoch_ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def time_ms(value: str | None) -> int | None:
    """Epoch ms, or None when empty or unreadable (used only to compare stamps)."""
    try:
        parsed = parse_hubspot_time(value)
    except ValueError:
        return None
    return None if parsed is None else to_epoch_ms(parsed)


#: HubSpot's own wire format for datetimes: ISO 8601, UTC, milliseconds, ``Z``.
format_hubspot_time = format_utc_milliseconds


def map_contact(object_id: str, props: Properties) -> Contact:
    return Contact(
        id=str(object_id),
        email=props.get("email") or None,
        first_name=props.get("firstname") or None,
        last_name=props.get("lastname") or None,
        company=props.get("company") or None,
        modified_at=_safe_time(props.get("lastmodifieddate")),
    )


def _safe_time(value: str | None) -> datetime | None:
    """A contact's stamp is informational: an unreadable one is dropped, not fatal."""
    try:
        return parse_hubspot_time(value)
    except ValueError:
        return None


def activity_time(object_type: str, props: Properties) -> datetime | None:
    """When the activity happened: ``hs_timestamp``, else a meeting's start time."""
    when = parse_hubspot_time(props.get("hs_timestamp"))
    if when is None and object_type == "meetings":
        when = parse_hubspot_time(props.get("hs_meeting_start_time"))
    return when


def email_thread(props: Properties) -> str | None:
    """A thread key when the data allows: HubSpot's thread id, else the normalised subject."""
    thread = props.get("hs_email_thread_id")
    if thread:
        return f"hs:{thread}"
    subject = props.get("hs_email_subject")
    if subject:
        normal = _SUBJECT_PREFIX.sub("", subject).strip().lower()
        if normal:
            return "subj:" + hashlib.sha1(normal.encode("utf-8")).hexdigest()[:16]
    return None


def _upper(props: Properties, key: str) -> str:
    value = props.get(key)
    return value.strip().upper() if value else ""


def engagement_properties(object_type: str, rules: MappingRules = DEFAULT_RULES) -> tuple[str, ...]:
    """Every property the mapping of ``object_type`` reads under ``rules``."""
    return tuple(dict.fromkeys((*ENGAGEMENT_PROPERTIES[object_type],
                                *OPTIONAL_PROPERTIES.get(object_type, ()),
                                *rules.extra_properties(object_type))))  # fmt: skip


def activity_id_for(object_type: str, object_id: str | int) -> str:
    """The activity id of an engagement: ``<object type>:<HubSpot id>``, e.g. ``calls:123``."""
    return f"{object_type}:{object_id}"


class EngagementShape(NamedTuple):
    """What one engagement type's mapper reads from an engagement, before the common part.

    Time, contacts, the activity id and the rules' tags are the same for every type and
    are added by :func:`map_engagement`. (A tuple: one is built per engagement read.)
    """

    channel: Channel
    direction: Direction = Direction.UNKNOWN
    outcome: Outcome = Outcome.COMPLETED
    thread_id: str | None = None
    duration_seconds: float | None = None
    automated: bool = False
    tags: tuple[str, ...] = ()


#: ``mapper(properties, rules, number of contacts)``: the shape of one engagement type.
EngagementMapper = Callable[[Properties, MappingRules, int], EngagementShape]


def map_email(props: Properties, rules: MappingRules, contact_count: int) -> EngagementShape:
    """Direction from ``hs_email_direction``; ``automated`` by sequence, sender or bulk."""
    tags: list[str] = []
    raw = _upper(props, "hs_email_direction")
    if raw == "FORWARDED_EMAIL":
        tags.append("forwarded")
    status = _upper(props, "hs_email_status")
    outcome = Outcome.COMPLETED
    if status in ("BOUNCED", "FAILED"):
        outcome = Outcome.BOUNCED
    elif status == "SCHEDULED":
        outcome = Outcome.SCHEDULED
    if (props.get("hs_sequence_id") or "").strip():
        automated = True
        tags.append("sequence")
    else:
        automated = rules.is_automated_sender(props.get("hs_email_from_email")) or rules.is_bulk(
            contact_count
        )
    return EngagementShape(
        Channel.EMAIL,
        direction=EMAIL_DIRECTIONS.get(raw, Direction.UNKNOWN),
        outcome=outcome,
        thread_id=email_thread(props),
        automated=automated,
        tags=tuple(tags),
    )


def map_call(props: Properties, rules: MappingRules, contact_count: int) -> EngagementShape:
    """Outcome from a known disposition GUID, else from ``hs_call_status``; duration in ms."""
    tags: list[str] = []
    raw = _upper(props, "hs_call_direction")
    direction = {"INBOUND": Direction.INBOUND, "OUTBOUND": Direction.OUTBOUND}.get(
        raw, Direction.UNKNOWN
    )
    disposition = (props.get("hs_call_disposition") or "").strip().lower()
    status = _upper(props, "hs_call_status")
    outcome = Outcome.COMPLETED
    if disposition in CALL_DISPOSITIONS:
        outcome, tag = CALL_DISPOSITIONS[disposition]
        if tag:
            tags.append(tag)
    elif disposition and status in ("", "COMPLETED"):
        outcome = Outcome.UNKNOWN  # a portal's own disposition: kept, not guessed
        tags.append(f"disposition:{disposition}")
    elif status:
        outcome = CALL_STATUSES.get(status, Outcome.UNKNOWN)
    if (props.get("hs_call_has_voicemail") or "").lower() == "true":
        tags.append("voicemail")
    duration: float | None = None
    ms = props.get("hs_call_duration")
    if ms:
        try:
            duration = max(float(ms) / 1000.0, 0.0)
        except ValueError:
            duration = None
    return EngagementShape(
        Channel.CALL, direction=direction, outcome=outcome, duration_seconds=duration,
        tags=tuple(tags),
    )  # fmt: skip


def map_meeting(props: Properties, rules: MappingRules, contact_count: int) -> EngagementShape:
    """A held meeting is mutual; one not held is whoever set it up (see :mod:`.rules`)."""
    tags: list[str] = []
    raw = _upper(props, "hs_meeting_outcome")
    if raw in MEETING_OUTCOMES:
        outcome = MEETING_OUTCOMES[raw]
        if raw == "RESCHEDULED":
            tags.append("rescheduled")
    elif raw:
        outcome = Outcome.UNKNOWN
        tags.append(f"outcome:{raw.lower()}")
    else:
        outcome = Outcome.UNKNOWN
    direction = Direction.UNKNOWN
    if outcome is Outcome.COMPLETED:
        direction = Direction.MUTUAL
    else:
        booked_by = rules.meeting_booked_by(props)
        if booked_by == "contact":
            direction = Direction.INBOUND
        elif booked_by == "user":
            direction = Direction.OUTBOUND
    duration: float | None = None
    start = parse_hubspot_time(props.get("hs_meeting_start_time"))
    end = parse_hubspot_time(props.get("hs_meeting_end_time"))
    if start and end and end >= start:
        duration = (end - start).total_seconds()
    return EngagementShape(
        Channel.MEETING, direction=direction, outcome=outcome, duration_seconds=duration,
        tags=tuple(tags),
    )  # fmt: skip


def map_note(props: Properties, rules: MappingRules, contact_count: int) -> EngagementShape:
    """A note says nothing about who spoke to whom."""
    return EngagementShape(Channel.NOTE)


def map_communication(
    props: Properties, rules: MappingRules, contact_count: int
) -> EngagementShape:
    """SMS, WhatsApp, LinkedIn messages: the channel type is kept as a tag."""
    kind = props.get("hs_communication_channel_type")
    return EngagementShape(Channel.MESSAGE, tags=(kind.strip().lower(),) if kind else ())


def map_task(props: Properties, rules: MappingRules, contact_count: int) -> EngagementShape:
    """A task is completed or still to do (scheduled); its type is kept as a tag."""
    status = _upper(props, "hs_task_status")
    kind = props.get("hs_task_type")
    return EngagementShape(
        Channel.TASK,
        outcome=Outcome.COMPLETED if status == "COMPLETED" else Outcome.SCHEDULED,
        tags=(kind.strip().lower(),) if kind else (),
    )


#: One mapper per engagement type we read (:data:`ENGAGEMENT_TYPES` and :data:`TASKS`).
ENGAGEMENT_MAPPERS: Mapping[str, EngagementMapper] = {
    "emails": map_email,
    "calls": map_call,
    "meetings": map_meeting,
    "notes": map_note,
    "communications": map_communication,
    "tasks": map_task,
}


def map_engagement(
    object_type: str,
    object_id: str,
    props: Properties,
    contact_ids: list[str] | tuple[str, ...],
    rules: MappingRules = DEFAULT_RULES,
) -> list[Activity]:
    """One Activity per associated contact (same id). No time or no contacts: nothing."""
    when = activity_time(object_type, props)
    if when is None or not contact_ids:
        return []
    contacts = list(dict.fromkeys(str(c) for c in contact_ids))
    mapper = ENGAGEMENT_MAPPERS.get(object_type)
    if mapper is None:
        raise ValueError(f"not an engagement type: {object_type!r}")
    shape = mapper(props, rules, len(contacts))
    # HubSpot documents no id space shared by every engagement type (the legacy
    # Engagements API shared one, but communications are not legacy engagements), so
    # the type is part of the activity id: an email and a call with one id stay two.
    activity_id = activity_id_for(object_type, object_id)
    tags = [*shape.tags, *rules.tags(object_type, props)]
    return [
        Activity(
            id=activity_id,
            contact_id=str(contact_id),
            occurred_at=when,
            channel=shape.channel,
            direction=shape.direction,
            outcome=shape.outcome,
            thread_id=shape.thread_id,
            duration_seconds=shape.duration_seconds,
            automated=shape.automated,
            tags=tags,
        )
        for contact_id in contacts
    ]


def _number(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def score_properties(
    score: MutualityScore, scored_at: datetime, names: PropertyNames, written_at: datetime
) -> dict[str, str]:
    """The property values written for one score (HubSpot takes every value as a string).

    ``scored_at`` is the moment the score describes (the run's ``as_of``), as in every
    output; ``written_at`` is when we wrote it, which tells our own writes from edits.
    """
    return {
        names.score: _number(score.score, 1),
        names.band: score.band.value,
        names.lean: _number(score.lean, 3),
        names.strength: _number(score.strength, 1),
        names.confidence: _number(score.confidence, 3),
        names.reasons: score.reasons_text[:255],
        names.scored_at: str(to_epoch_ms(scored_at)),
        names.written_at: str(to_epoch_ms(written_at)),
    }


def _float_or_none(value: str | None) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except ValueError:
        return None


def stored_score(object_id: str, props: Properties, names: PropertyNames) -> StoredScore:
    """The score properties a contact holds now (read with the contact, no extra request)."""
    return StoredScore(
        contact_id=str(object_id),
        score=_float_or_none(props.get(names.score)),
        band=props.get(names.band) or None,
        lean=_float_or_none(props.get(names.lean)),
        strength=_float_or_none(props.get(names.strength)),
        confidence=_float_or_none(props.get(names.confidence)),
        reasons=props.get(names.reasons) or None,
        scored_at=_safe_time(props.get(names.scored_at)),
    )
