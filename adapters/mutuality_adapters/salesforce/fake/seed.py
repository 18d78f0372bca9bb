"""Fill a fake org from the files adapter's format (contacts.csv + activities.csv).

Each activity row is turned back into what Salesforce would hold:

| channel     | records                                                                  |
| ----------- | ------------------------------------------------------------------------ |
| email       | EmailMessage (+ EmailMessageRelation per contact; bounced -> IsBounced) |
|             | and its logged Task (TaskSubtype Email, ActivityId); automated -> Task  |
|             | ListEmail; scheduled -> open Task Email                                  |
| call        | Task TaskSubtype Call, CallType from direction, CallDurationInSeconds   |
| meeting     | Event + EventRelation per contact (declined -> Status Declined); not   |
|             | held -> outcome field (Canceled, No Show, Scheduled) and, canceled, a   |
|             | "Canceled: " Subject as calendar sync writes; inbound (booked by the    |
|             | contact) -> CreatedById = :data:`BOOKING_USER_ID`                       |
| message     | Task TaskSubtype LinkedIn                                                |
| note        | Task TaskSubtype Task, Type Note                                         |
| task, other | Task TaskSubtype Task                                                    |

Tags go to the ``Mutuality_Tags__c`` field (``;``-separated) of every activity
object; with ``custom_fields=False`` the org gets no custom activity fields and tags
become Subject hashtags (``#ask``), a no-show a "No-show: " Subject prefix.
Rows sharing an ``id`` are one shared activity related to several contacts.
Outcome ``scheduled`` gives an open Task. Activities older than a year are archived
(visible only through queryAll), as Salesforce does.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mutuality_adapters.salesforce.fake.org import FakeOrg
from mutuality_adapters.salesforce.fake.soql import canonical_datetime

__all__ = [
    "BOOKING_USER_ID",
    "OUTCOME_FIELD",
    "SALES_USER_ID",
    "TAGS_FIELD",
    "add_activity_fields",
    "seed_folder",
    "seed_rows",
]

#: The user who logs activities by hand ("you").
SALES_USER_ID = "005USER000000001AAA"
#: A scheduling tool's integration user: Events it creates were booked by the contact.
BOOKING_USER_ID = "005BOOKING00001AAA"
TAGS_FIELD = "Mutuality_Tags__c"
OUTCOME_FIELD = "Mutuality_Meeting_Outcome__c"

_OUTCOME_VALUES = {
    "canceled": "Canceled",
    "no_show": "No Show",
    "scheduled": "Scheduled",
    "declined": "Declined",
}
_HASHTAGGABLE = re.compile(r"^[A-Za-z][\w-]*(?::[\w-]+)?$")


def add_activity_fields(org: FakeOrg) -> None:
    """Create the tags field on Task, Event, EmailMessage and the meeting outcome field.

    Visible to the integration user, as after granting field-level security.
    """
    wanted = [(obj, TAGS_FIELD, "LongTextArea") for obj in ("Task", "Event", "EmailMessage")]
    wanted.append(("Event", OUTCOME_FIELD, "Picklist"))
    for obj, field, kind in wanted:
        if obj in org.schema and field not in org.schema[obj]:
            org.add_custom_field(f"{obj}.{field}", {"type": kind, "label": field}, visible=True)


def _when(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _truthy(text: Any) -> bool:
    return str(text or "").strip().lower() in ("1", "true", "yes", "y")


def seed_rows(
    org: FakeOrg,
    contacts: Iterable[Mapping[str, str]],
    activities: Iterable[Mapping[str, str]],
    *,
    log_email_tasks: bool = True,
    custom_fields: bool = True,
) -> dict[str, str]:
    """Insert contacts and activities; return ``{seed contact id: Salesforce id}``.

    Activities may name contacts seeded by an earlier call. ``custom_fields`` adds
    the tags and meeting outcome fields to the org first (see the module docstring).
    """
    if custom_fields:
        add_activity_fields(org)
    if BOOKING_USER_ID not in org.records["User"]:
        org.records["User"][BOOKING_USER_ID] = {
            "Id": BOOKING_USER_ID,
            "Username": "scheduler@example.com",
            "Name": "Scheduling Integration",
        }
    ids = org.seed_contact_ids
    new: dict[str, str] = {}
    for row in contacts:
        seed_id = row["id"]
        record: dict[str, Any] = {
            "Email": row.get("email") or None,
            "FirstName": row.get("first_name") or None,
            "LastName": row.get("last_name") or seed_id,
            "LastModifiedById": SALES_USER_ID,
        }
        if row.get("company"):
            record["Account"] = {"Name": row["company"]}
        if seed_id.startswith("003") and len(seed_id) in (15, 18):
            record["Id"] = seed_id
        ids[seed_id] = new[seed_id] = org.insert("Contact", record)
    groups: dict[str, list[Mapping[str, str]]] = {}
    for row in activities:
        groups.setdefault(row["id"], []).append(row)
    archive_before = org.clock() - timedelta(days=365)
    for rows in groups.values():
        contact_ids = [ids[r["contact_id"]] for r in rows if r["contact_id"] in ids]
        declined = {
            ids[r["contact_id"]]
            for r in rows
            if r["contact_id"] in ids and (r.get("outcome") or "").strip().lower() == "declined"
        }
        if contact_ids:
            org.seed_activity_ids[rows[0]["id"]] = _insert_activity(
                org, rows[0], contact_ids, archive_before, log_email_tasks, declined
            )
    return new


def _subject_and_tags(
    org: FakeOrg, obj: str, base: str, tags: list[str]
) -> tuple[str, dict[str, Any]]:
    """Tags in the tags field when the object has it, else as Subject hashtags."""
    if not tags:
        return base, {}
    if TAGS_FIELD in org.schema.get(obj, {}):
        return base, {TAGS_FIELD: ";".join(tags)}
    hashtags = " ".join(f"#{t}" for t in tags if _HASHTAGGABLE.match(t))
    return f"{base} {hashtags}".strip(), {}


def _insert_activity(
    org: FakeOrg,
    row: Mapping[str, str],
    contact_ids: list[str],
    archive_before: datetime,
    log_email_tasks: bool,
    declined: set[str] = frozenset(),  # type: ignore[assignment]
) -> str:
    """Insert one activity's records; return the id the adapter will give it."""
    when = _when(row["occurred_at"])
    stamp = canonical_datetime(when)
    channel = (row.get("channel") or "other").strip().lower()
    direction = (row.get("direction") or "unknown").strip().lower()
    outcome = (row.get("outcome") or "completed").strip().lower()
    archived = when < archive_before
    duration = row.get("duration_seconds") or ""
    automated = _truthy(row.get("automated"))
    tags = sorted({t.strip().lower() for t in (row.get("tags") or "").split(";") if t.strip()})
    base_subject = row.get("id") or ""
    open_task = outcome == "scheduled"
    subject, tag_fields = _subject_and_tags(org, "Task", base_subject, tags)
    task: dict[str, Any] = {
        "WhoId": contact_ids[0],
        "Status": "Not Started" if open_task else "Completed",
        "IsClosed": not open_task,
        "ActivityDate": when.date().isoformat(),
        "CompletedDateTime": None if open_task else stamp,
        "CreatedDate": stamp,
        "IsArchived": archived and not open_task,
        "Subject": subject,
        **tag_fields,
    }
    if channel == "meeting":
        return _insert_event(org, row, contact_ids, declined, archived, tags)
    if channel == "email" and not automated and not open_task and "EmailMessage" in org.schema:
        task_id = None
        if log_email_tasks:
            task_id = _insert_task(org, {**task, "TaskSubtype": "Email"}, contact_ids)
        subject, tag_fields = _subject_and_tags(org, "EmailMessage", base_subject, tags)
        message_id = org.insert(
            "EmailMessage",
            {
                "Incoming": direction == "inbound",
                "MessageDate": stamp,
                "ActivityId": task_id,
                "Status": "3",
                "IsBounced": outcome == "bounced",
                "ThreadIdentifier": row.get("thread_id") or None,
                "CreatedDate": stamp,
                "Subject": subject,
                **tag_fields,
            },
        )
        for contact_id in contact_ids:
            org.insert(
                "EmailMessageRelation",
                {
                    "EmailMessageId": message_id,
                    "RelationId": contact_id,
                    "RelationType": "FromAddress" if direction == "inbound" else "ToAddress",
                },
            )
        return task_id or message_id
    if channel == "email":
        task["TaskSubtype"] = "ListEmail" if automated else "Email"
    elif channel == "call":
        task["TaskSubtype"] = "Cadence" if automated else "Call"
        if "CallType" in org.schema["Task"]:
            task["CallType"] = "Inbound" if direction == "inbound" else "Outbound"
            # 0 s on a closed call is Salesforce's "no answer"; no duration stays empty
            if outcome == "no_answer":
                task["CallDurationInSeconds"] = 0
            elif duration:
                task["CallDurationInSeconds"] = int(float(duration))
    elif channel == "message":
        task["TaskSubtype"] = "LinkedIn"
    else:
        task["TaskSubtype"] = "Cadence" if automated else "Task"
        if channel == "note":
            task["Type"] = "Note"
    return _insert_task(org, task, contact_ids)


def _insert_event(
    org: FakeOrg,
    row: Mapping[str, str],
    contact_ids: list[str],
    declined: set[str],
    archived: bool,
    tags: list[str],
) -> str:
    """An Event as a rep or a booking tool leaves it, with its invitees."""
    when = _when(row["occurred_at"])
    stamp = canonical_datetime(when)
    direction = (row.get("direction") or "unknown").strip().lower()
    outcome = (row.get("outcome") or "completed").strip().lower()
    duration = float(row.get("duration_seconds") or 1800)
    subject, fields = _subject_and_tags(org, "Event", row.get("id") or "", tags)
    has_outcome_field = OUTCOME_FIELD in org.schema["Event"]
    if outcome in _OUTCOME_VALUES and outcome != "declined":
        if has_outcome_field:
            fields[OUTCOME_FIELD] = _OUTCOME_VALUES[outcome]
        if outcome == "canceled":
            subject = f"Canceled: {subject}"  # what Outlook/Google calendar sync writes
        elif outcome == "no_show" and not has_outcome_field:
            subject = f"No-show: {subject}"
    creator = BOOKING_USER_ID if direction == "inbound" else SALES_USER_ID
    event_id = org.insert(
        "Event",
        {
            "WhoId": contact_ids[0],
            "StartDateTime": stamp,
            "ActivityDateTime": stamp,
            "EndDateTime": canonical_datetime(when + timedelta(seconds=duration)),
            "DurationInMinutes": int(duration // 60),
            "IsChild": False,
            "IsGroupEvent": len(contact_ids) > 1,
            "OwnerId": SALES_USER_ID,
            "CreatedById": creator,
            "CreatedDate": stamp,
            "IsArchived": archived,
            "Subject": subject,
            **fields,
        },
    )
    for contact_id in contact_ids:
        if contact_id in declined:
            status = "Declined"
        elif outcome == "completed":
            status = "Accepted"
        else:
            status = "New"
        org.insert(
            "EventRelation",
            {
                "EventId": event_id,
                "RelationId": contact_id,
                "Status": status,
                "IsInvitee": True,
            },
        )
    return event_id


def _insert_task(org: FakeOrg, task: Mapping[str, Any], contact_ids: list[str]) -> str:
    task_id = org.insert("Task", task)
    if "TaskWhoRelation" in org.schema:
        for contact_id in contact_ids:
            org.insert(
                "TaskWhoRelation", {"TaskId": task_id, "RelationId": contact_id, "Type": "Contact"}
            )
    return task_id


def seed_folder(org: FakeOrg, folder: str | Path, *, custom_fields: bool = True) -> dict[str, str]:
    """Seed from a files-adapter folder holding ``contacts.csv`` and ``activities.csv``."""
    folder = Path(folder)
    with (folder / "contacts.csv").open(newline="", encoding="utf-8-sig") as handle:
        contacts = list(csv.DictReader(handle))
    activities_path = folder / "activities.csv"
    activities: list[dict[str, str]] = []
    if activities_path.exists():
        with activities_path.open(newline="", encoding="utf-8-sig") as handle:
            activities = list(csv.DictReader(handle))
    return seed_rows(org, contacts, activities, custom_fields=custom_fields)
