"""Seed a fake portal from the files adapter's folder (contacts.csv, activities.csv).

Each activity row becomes the HubSpot engagement that the HubSpot adapter maps
back to the same channel, direction, outcome, ``automated`` flag and tags, written
the way a real portal holds them (docs/hubspot.md, "Heuristics"):

* an automated email comes from a no-reply address (``hs_email_headers``, from
  which HubSpot fills ``hs_email_from_email``), or carries ``hs_sequence_id`` when
  tagged ``sequence``; other outbound mail comes from the rep's own address and
  inbound mail from the contact's;
* tags go into the ``mutuality_tags`` engagement property, which the seeder
  defines in the portal as an admin would;
* a meeting the contact set up (``inbound``) was booked through a scheduling link
  (``hs_meeting_source`` ``MEETINGS_PUBLIC``); one you set up was created in the
  CRM (``CRM_UI``).

Rows that share an activity ``id`` become one engagement associated with every
listed contact. Non-numeric ids are replaced by HubSpot-style numeric ids
(``seed_from_files`` returns the maps). What HubSpot cannot represent is listed
in docs/hubspot.md ("Round trip").
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs

from ..rules import DEFAULT_TAGS_PROPERTY
from .portal import Portal, iso_ms

#: The mailbox the seeded portal's user sends from, and the domain of its no-reply mail.
REP_EMAIL = "rep@seller.example"
SEQUENCE_ID = "424242"

CONNECTED = "f240bbac-87c9-4f6e-bf70-924b57d47db7"
NO_ANSWER = "73a0d17f-1163-4015-bdd5-ec830791da20"
BUSY = "9d9162e7-6cf3-4944-bf63-4dff82258764"
VOICEMAIL = "b2cf5968-551e-4856-9783-52b3da59a7d0"

CHANNEL_TYPES = {"email": "emails", "call": "calls", "meeting": "meetings", "note": "notes",
                 "message": "communications", "task": "tasks", "other": "notes"}  # fmt: skip


@attrs.frozen
class SeedResult:
    contact_ids: Mapping[str, int]
    engagement_ids: Mapping[str, tuple[str, int]]


def _ms(text: str) -> int:
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return round(moment.timestamp() * 1000)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "y", "t"}


def _email_headers(direction: str, automated: bool, contact_email: str | None) -> str:
    """``hs_email_headers`` as HubSpot stores them: who sent the mail, to whom."""
    contact = contact_email or "contact@customer.example"
    if direction == "inbound":
        sender = "noreply@" + contact.rpartition("@")[2] if automated else contact
        to = REP_EMAIL
    else:
        sender = "noreply@" + REP_EMAIL.rpartition("@")[2] if automated else REP_EMAIL
        to = contact
    return json.dumps({"from": {"email": sender}, "to": [{"email": to}]})


def engagement_for(
    row: Mapping[str, str],
    *,
    contact_email: str | None = None,
    tags_property: str = DEFAULT_TAGS_PROPERTY,
) -> tuple[str, dict[str, Any]]:
    """The engagement type and properties that map back to this activity row."""
    channel = (row.get("channel") or "other").strip().lower()
    direction = (row.get("direction") or "unknown").strip().lower()
    outcome = (row.get("outcome") or "completed").strip().lower()
    tags = {t.strip().lower() for t in (row.get("tags") or "").split(";") if t.strip()}
    automated = _truthy(row.get("automated"))
    when = _ms(row["occurred_at"])
    duration = (row.get("duration_seconds") or "").strip()
    object_type = CHANNEL_TYPES.get(channel, "notes")
    props: dict[str, Any] = {"hs_timestamp": iso_ms(when)}
    if tags and tags_property:
        props[tags_property] = ";".join(sorted(tags))
    if object_type == "emails":
        props["hs_email_direction"] = {"outbound": "EMAIL", "inbound": "INCOMING_EMAIL"}.get(
            direction, "FORWARDED_EMAIL"
        )
        props["hs_email_status"] = {"bounced": "BOUNCED", "scheduled": "SCHEDULED"}.get(
            outcome, "SENT"
        )
        if row.get("thread_id"):
            props["hs_email_thread_id"] = row["thread_id"]
        if automated and "sequence" in tags:
            props["hs_sequence_id"] = SEQUENCE_ID  # sent by a sequence, from the rep's mailbox
            props["hs_email_headers"] = _email_headers(direction, False, contact_email)
        else:
            props["hs_email_headers"] = _email_headers(direction, automated, contact_email)
    elif object_type == "calls":
        if direction in ("inbound", "outbound"):
            props["hs_call_direction"] = direction.upper()
        if outcome == "completed":
            props.update(hs_call_status="COMPLETED", hs_call_disposition=CONNECTED)
        elif outcome == "no_answer":
            guid = VOICEMAIL if "voicemail" in tags else BUSY if "busy" in tags else NO_ANSWER
            props.update(hs_call_status="NO_ANSWER", hs_call_disposition=guid)
        elif outcome == "canceled":
            props["hs_call_status"] = "CANCELED"
        elif outcome == "scheduled":
            props["hs_call_status"] = "QUEUED"
        if duration:
            props["hs_call_duration"] = str(int(float(duration) * 1000))
    elif object_type == "meetings":
        props["hs_meeting_outcome"] = {
            "completed": "COMPLETED", "scheduled": "SCHEDULED", "no_show": "NO_SHOW",
            "canceled": "CANCELED", "declined": "CANCELED",
        }.get(outcome, "SCHEDULED")  # fmt: skip
        props["hs_meeting_start_time"] = iso_ms(when)
        if direction == "inbound":
            props["hs_meeting_source"] = "MEETINGS_PUBLIC"  # booked through your scheduling link
        elif direction in ("outbound", "mutual"):
            props["hs_meeting_source"] = "CRM_UI"  # created by a HubSpot user
        if duration:
            end = when + int(float(duration) * 1000)
            props["hs_meeting_end_time"] = iso_ms(end)
    elif object_type == "communications":
        kind = next((t for t in ("sms", "whats_app", "linkedin_message") if t in tags), "sms")
        props["hs_communication_channel_type"] = kind.upper()
    elif object_type == "tasks":
        props["hs_task_status"] = "COMPLETED" if outcome == "completed" else "NOT_STARTED"
        props["hs_task_type"] = "TODO"
    return object_type, props


def define_tags_property(portal: Portal, name: str = DEFAULT_TAGS_PROPERTY) -> None:
    """The engagement property holding ``;``-separated tags, on every engagement type."""
    for object_type in sorted(set(CHANNEL_TYPES.values())):
        portal.define_property(object_type, name, "Mutuality tags")


def seed_from_files(
    portal: Portal,
    folder: Path,
    *,
    modified_ms: int | None = None,
    tags_property: str = DEFAULT_TAGS_PROPERTY,
) -> SeedResult:
    """Load ``folder/contacts.csv`` and ``folder/activities.csv`` into ``portal``."""
    contacts_path = folder / "contacts.csv"
    activities_path = folder / "activities.csv"
    if not contacts_path.is_file():
        raise FileNotFoundError(f"{contacts_path} not found (the files adapter's format)")
    if tags_property:
        define_tags_property(portal, tags_property)
    contact_ids: dict[str, int] = {}
    contact_emails: dict[str, str] = {}
    with contacts_path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            key = (row.get("id") or "").strip()
            if not key:
                continue
            props = {
                "email": row.get("email") or None,
                "firstname": row.get("first_name") or row.get("firstname") or None,
                "lastname": row.get("last_name") or row.get("lastname") or None,
                "company": row.get("company") or None,
            }
            wanted = int(key) if key.isdigit() else None
            if wanted is not None and portal.get("contacts", wanted) is not None:
                wanted = None
            if props["email"]:
                contact_emails[key] = str(props["email"])
            contact_ids[key] = portal.add_contact(
                {k: v for k, v in props.items() if v}, id=wanted, modified_ms=modified_ms
            )
    grouped: dict[str, list[dict[str, str]]] = {}
    if activities_path.is_file():
        with activities_path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                grouped.setdefault(row["id"], []).append(row)
    engagement_ids: dict[str, tuple[str, int]] = {}
    for key, rows in grouped.items():
        first = rows[0]
        object_type, props = engagement_for(
            first,
            contact_email=contact_emails.get(first.get("contact_id", "")),
            tags_property=tags_property,
        )
        contacts = [contact_ids[r["contact_id"]] for r in rows if r["contact_id"] in contact_ids]
        wanted = int(key) if key.isdigit() and portal.get(object_type, int(key)) is None else None
        engagement_ids[key] = (
            object_type,
            portal.add_engagement(object_type, props, contacts, id=wanted, modified_ms=modified_ms),
        )
    return SeedResult(contact_ids, engagement_ids)


def seed_example(portal: Portal, *, contacts: int = 20, seed: int = 7) -> None:
    """A small generated portal for demos when no folder is given."""
    import random

    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for n in range(contacts):
        cid = portal.add_contact(
            {"email": f"person{n}@example.com", "firstname": f"Person{n}", "lastname": "Demo"}
        )
        for _ in range(rng.randint(0, 12)):
            when = start + timedelta(days=rng.randint(0, 300), minutes=rng.randint(0, 600))
            row = {
                "occurred_at": when.isoformat(),
                "channel": rng.choice(["email", "email", "call", "meeting", "note"]),
                "direction": rng.choice(["outbound", "inbound"]),
                "outcome": rng.choice(["completed", "completed", "no_answer"]),
            }
            object_type, props = engagement_for(row)
            portal.add_engagement(object_type, props, [cid])
