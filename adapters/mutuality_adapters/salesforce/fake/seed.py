"""Fill a fake org from the files adapter's format (contacts.csv + activities.csv).

Each activity row is turned back into what Salesforce would hold:

| channel           | records                                                             |
| ----------------- | ------------------------------------------------------------------- |
| email             | EmailMessage (+ EmailMessageRelation per contact) and its logged  |
|                   | Task (TaskSubtype Email, ActivityId); automated -> Task ListEmail |
| call              | Task TaskSubtype Call, CallType from direction, CallDurationInSeconds |
| meeting           | Event (+ EventRelation per contact; declined -> Status Declined)   |
| message           | Task TaskSubtype LinkedIn                                           |
| task, note, other | Task TaskSubtype Task                                               |

Rows sharing an ``id`` are one shared activity related to several contacts.
Outcome ``scheduled`` gives an open Task. Activities older than a year are archived
(visible only through queryAll), as Salesforce does.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mutuality_adapters.salesforce.fake.org import FakeOrg
from mutuality_adapters.salesforce.fake.soql import canonical_datetime

__all__ = ["seed_folder", "seed_rows"]


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
) -> dict[str, str]:
    """Insert contacts and activities; return ``{seed contact id: Salesforce id}``.

    Activities may name contacts seeded by an earlier call.
    """
    ids = org.seed_contact_ids
    new: dict[str, str] = {}
    for row in contacts:
        seed_id = row["id"]
        record: dict[str, Any] = {
            "Email": row.get("email") or None,
            "FirstName": row.get("first_name") or None,
            "LastName": row.get("last_name") or seed_id,
            "LastModifiedById": "005USER000000001AAA",
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
    open_task = outcome == "scheduled"
    task: dict[str, Any] = {
        "WhoId": contact_ids[0],
        "Status": "Not Started" if open_task else "Completed",
        "IsClosed": not open_task,
        "ActivityDate": when.date().isoformat(),
        "CompletedDateTime": None if open_task else stamp,
        "CreatedDate": stamp,
        "IsArchived": archived and not open_task,
        "Subject": row.get("id"),
    }
    if channel == "meeting":
        event_id = org.insert(
            "Event",
            {
                "WhoId": contact_ids[0],
                "StartDateTime": stamp,
                "ActivityDateTime": stamp,
                "EndDateTime": canonical_datetime(
                    when + timedelta(seconds=float(duration or 1800))
                ),
                "DurationInMinutes": int(float(duration or 1800) // 60),
                "IsChild": False,
                "IsGroupEvent": len(contact_ids) > 1,
                "CreatedDate": stamp,
                "IsArchived": archived,
                "Subject": row.get("id"),
            },
        )
        for contact_id in contact_ids:
            status = "Declined" if contact_id in declined else "Accepted"
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
    if channel == "email" and not automated and "EmailMessage" in org.schema:
        task_id = None
        if log_email_tasks:
            task_id = _insert_task(org, {**task, "TaskSubtype": "Email"}, contact_ids)
        message_id = org.insert(
            "EmailMessage",
            {
                "Incoming": direction == "inbound",
                "MessageDate": stamp,
                "ActivityId": task_id,
                "Status": "3",
                "ThreadIdentifier": row.get("thread_id") or None,
                "CreatedDate": stamp,
                "Subject": row.get("id"),
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
            seconds = 0 if outcome == "no_answer" else int(float(duration or 0))
            task["CallDurationInSeconds"] = seconds
    elif channel == "message":
        task["TaskSubtype"] = "LinkedIn"
    else:
        task["TaskSubtype"] = "Cadence" if automated else "Task"
    return _insert_task(org, task, contact_ids)


def _insert_task(org: FakeOrg, task: Mapping[str, Any], contact_ids: list[str]) -> str:
    task_id = org.insert("Task", task)
    if "TaskWhoRelation" in org.schema:
        for contact_id in contact_ids:
            org.insert(
                "TaskWhoRelation", {"TaskId": task_id, "RelationId": contact_id, "Type": "Contact"}
            )
    return task_id


def seed_folder(org: FakeOrg, folder: str | Path) -> dict[str, str]:
    """Seed from a files-adapter folder holding ``contacts.csv`` and ``activities.csv``."""
    folder = Path(folder)
    with (folder / "contacts.csv").open(newline="", encoding="utf-8-sig") as handle:
        contacts = list(csv.DictReader(handle))
    activities_path = folder / "activities.csv"
    activities: list[dict[str, str]] = []
    if activities_path.exists():
        with activities_path.open(newline="", encoding="utf-8-sig") as handle:
            activities = list(csv.DictReader(handle))
    return seed_rows(org, contacts, activities)
