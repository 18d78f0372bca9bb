"""The fake portal's data: CRM records, associations, property definitions and groups.

Kept apart from HTTP so tests and seeders can build a portal with plain method
calls. Records store property values as strings, like HubSpot returns them;
datetime properties are stored in HubSpot's ISO form and compared as epoch ms.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

import attrs

ENGAGEMENT_TYPES = ("emails", "calls", "meetings", "notes", "communications", "tasks")
OBJECT_TYPES = ("contacts", *ENGAGEMENT_TYPES)
SINGULAR = {
    "contacts": "contact",
    "emails": "email",
    "calls": "call",
    "meetings": "meeting",
    "notes": "note",
    "communications": "communication",
    "tasks": "task",
}
#: HubSpot-defined association type ids (hubspot.crm.association_type); communications: 81/82.
ASSOCIATION_TYPE_IDS = {
    ("contacts", "calls"): 193, ("calls", "contacts"): 194,
    ("contacts", "emails"): 197, ("emails", "contacts"): 198,
    ("contacts", "meetings"): 199, ("meetings", "contacts"): 200,
    ("contacts", "notes"): 201, ("notes", "contacts"): 202,
    ("contacts", "tasks"): 203, ("tasks", "contacts"): 204,
    ("contacts", "communications"): 82, ("communications", "contacts"): 81,
}  # fmt: skip


def iso_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_ms(value: Any) -> int | None:
    """Epoch ms from HubSpot's inputs: an int, a digit string, or ISO 8601."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return round(moment.timestamp() * 1000)


def modified_property(object_type: str) -> str:
    return "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"


def created_property(object_type: str) -> str:
    return "createdate" if object_type == "contacts" else "hs_createdate"


@attrs.define
class Record:
    id: int
    properties: dict[str, str | None]
    created_ms: int
    updated_ms: int


def _prop(
    name: str, label: str, type_: str, field_type: str, group: str, *, read_only: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type,
        "groupName": group,
        "description": "",
        "options": [],
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": False,
        "hidden": False,
        "formField": False,
        "archived": False,
        "modificationMetadata": {
            "archivable": not read_only,
            "readOnlyDefinition": True,
            "readOnlyValue": read_only,
        },
    }


def _standard_properties() -> dict[str, dict[str, dict[str, Any]]]:
    contacts = {
        p["name"]: p
        for p in (
            _prop("email", "Email", "string", "text", "contactinformation"),
            _prop("firstname", "First Name", "string", "text", "contactinformation"),
            _prop("lastname", "Last Name", "string", "text", "contactinformation"),
            _prop("company", "Company Name", "string", "text", "contactinformation"),
            _prop("createdate", "Create Date", "datetime", "date", "contactinformation",
                  read_only=True),
            _prop("lastmodifieddate", "Last Modified Date", "datetime", "date",
                  "contactinformation", read_only=True),
            _prop("hs_object_id", "Record ID", "number", "number", "contactinformation",
                  read_only=True),
        )
    }  # fmt: skip
    result = {"contacts": contacts}
    for kind in ENGAGEMENT_TYPES:
        group = f"{SINGULAR[kind]}information"
        result[kind] = {
            p["name"]: p
            for p in (
                _prop("hs_timestamp", "Activity date", "datetime", "date", group),
                _prop("hs_createdate", "Create date", "datetime", "date", group, read_only=True),
                _prop("hs_lastmodifieddate", "Last modified date", "datetime", "date", group,
                      read_only=True),
                _prop("hs_object_id", "Record ID", "number", "number", group, read_only=True),
            )
        }  # fmt: skip
    emails = result["emails"]
    emails["hs_email_headers"] = _prop("hs_email_headers", "Email headers", "string", "text",
                                       "emailinformation")  # fmt: skip
    for name, label in EMAIL_HEADER_FIELDS.values():
        emails[name] = _prop(name, label, "string", "text", "emailinformation", read_only=True)
    return result


#: Read-only email properties HubSpot fills from ``hs_email_headers`` (documented in
#: HubSpot's emails guide): header key -> (property, label).
EMAIL_HEADER_FIELDS = {
    "from": ("hs_email_from_email", "From email"),
    "to": ("hs_email_to_email", "To email"),
}


def _header_properties(raw: Any) -> dict[str, str | None]:
    """The sender and recipient properties HubSpot fills from the headers JSON."""
    try:
        headers = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    if not isinstance(headers, Mapping):
        return {}
    sender = headers.get("from") or headers.get("sender") or {}
    to = headers.get("to") or []
    out: dict[str, str | None] = {}
    if isinstance(sender, Mapping) and sender.get("email"):
        out["hs_email_from_email"] = str(sender["email"])
    emails = [str(t["email"]) for t in to if isinstance(t, Mapping) and t.get("email")]
    if emails:
        out["hs_email_to_email"] = ";".join(emails)
    return out


class Portal:
    """An in-memory HubSpot portal. Thread-safe through one lock (``portal.lock``)."""

    def __init__(
        self, *, clock_ms: Callable[[], int] | None = None, portal_id: int = 1234567
    ) -> None:
        self.portal_id = portal_id  # what GET /account-info/v3/details names the account
        self.lock = threading.RLock()
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self.records: dict[str, dict[int, Record]] = {t: {} for t in OBJECT_TYPES}
        self._sorted_ids: dict[str, list[int]] = {t: [] for t in OBJECT_TYPES}
        self._unsorted: set[str] = set()
        self.links: dict[tuple[str, str], dict[int, dict[int, None]]] = {}
        self.property_defs = _standard_properties()
        self.groups: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in OBJECT_TYPES}
        self._next_contact_id = 1001
        self._next_engagement_id = 50_000_001

    # -- creation ------------------------------------------------------------------------

    def _store(self, object_type: str, record: Record) -> None:
        table = self.records[object_type]
        if record.id in table:
            raise ValueError(f"{object_type} {record.id} already exists")
        table[record.id] = record
        ids = self._sorted_ids[object_type]
        if ids and record.id < ids[-1]:
            self._unsorted.add(object_type)
        ids.append(record.id)

    def sorted_ids(self, object_type: str) -> list[int]:
        if object_type in self._unsorted:
            self._sorted_ids[object_type].sort()
            self._unsorted.discard(object_type)
        return self._sorted_ids[object_type]

    def _new_record(
        self,
        object_type: str,
        object_id: int | None,
        properties: Mapping[str, Any],
        modified_ms: int | None,
        created_ms: int | None,
    ) -> Record:
        if object_id is None:
            if object_type == "contacts":
                object_id = self._next_contact_id
            else:
                object_id = self._next_engagement_id
        object_id = int(object_id)
        if object_type == "contacts":
            self._next_contact_id = max(self._next_contact_id, object_id + 1)
        else:
            self._next_engagement_id = max(self._next_engagement_id, object_id + 1)
        now = self.clock_ms()
        modified = now if modified_ms is None else int(modified_ms)
        created = modified if created_ms is None else int(created_ms)
        props: dict[str, str | None] = {}
        for key, value in properties.items():
            props[key] = self._normalise(object_type, key, value)
        if object_type == "emails" and props.get("hs_email_headers"):
            props.update(_header_properties(props["hs_email_headers"]))
        props["hs_object_id"] = str(object_id)
        props[created_property(object_type)] = iso_ms(created)
        props[modified_property(object_type)] = iso_ms(modified)
        return Record(object_id, props, created, modified)

    def add_contact(
        self,
        properties: Mapping[str, Any] | None = None,
        *,
        id: int | None = None,
        modified_ms: int | None = None,
        created_ms: int | None = None,
    ) -> int:
        with self.lock:
            record = self._new_record("contacts", id, properties or {}, modified_ms, created_ms)
            self._store("contacts", record)
            return record.id

    def add_engagement(
        self,
        object_type: str,
        properties: Mapping[str, Any],
        contact_ids: Iterable[int] = (),
        *,
        id: int | None = None,
        modified_ms: int | None = None,
        created_ms: int | None = None,
    ) -> int:
        if object_type not in ENGAGEMENT_TYPES:
            raise ValueError(f"not an engagement type: {object_type}")
        with self.lock:
            record = self._new_record(object_type, id, properties, modified_ms, created_ms)
            self._store(object_type, record)
            for contact_id in contact_ids:
                self.associate(object_type, record.id, "contacts", int(contact_id))
            return record.id

    def associate(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        """Link two records both ways (HubSpot associations are symmetric)."""
        with self.lock:
            for (a, a_id, b, b_id) in ((from_type, from_id, to_type, to_id),
                                       (to_type, to_id, from_type, from_id)):  # fmt: skip
                targets = self.links.setdefault((a, b), {}).setdefault(int(a_id), {})
                targets[int(b_id)] = None  # an ordered set

    def associated(self, from_type: str, from_id: int, to_type: str) -> list[int]:
        return list(self.links.get((from_type, to_type), {}).get(int(from_id), ()))

    # -- reads and writes ----------------------------------------------------------------

    def property_type(self, object_type: str, name: str) -> str | None:
        definition = self.property_defs[object_type].get(name)
        return None if definition is None else definition["type"]

    def _normalise(self, object_type: str, name: str, value: Any) -> str | None:
        if value is None:
            return None
        if self.property_type(object_type, name) == "datetime" or name == "hs_timestamp":
            ms = parse_ms(value)
            return iso_ms(ms) if ms is not None else str(value)
        return str(value)

    def define_property(
        self,
        object_type: str,
        name: str,
        label: str,
        *,
        type_: str = "string",
        field_type: str = "text",
        group: str | None = None,
    ) -> None:
        """Create a custom property (as an admin would in HubSpot's settings); idempotent."""
        with self.lock:
            group = group or f"{SINGULAR[object_type]}information"
            self.property_defs[object_type].setdefault(
                name, _prop(name, label, type_, field_type, group)
            )

    def get(self, object_type: str, object_id: int | str) -> Record | None:
        try:
            return self.records[object_type].get(int(object_id))
        except (TypeError, ValueError):
            return None

    def update(self, object_type: str, object_id: int, properties: Mapping[str, Any]) -> Record:
        """Set properties (empty string clears) and move the modified stamp, as HubSpot does."""
        with self.lock:
            record = self.records[object_type][int(object_id)]
            for key, value in properties.items():
                record.properties[key] = (
                    None if value == "" else self._normalise(object_type, key, value)
                )
            if object_type == "emails" and "hs_email_headers" in properties:
                record.properties.update(_header_properties(record.properties["hs_email_headers"]))
            self.touch(object_type, record)
            return record

    def touch(self, object_type: str, record: Record, at_ms: int | None = None) -> None:
        now = self.clock_ms() if at_ms is None else at_ms
        record.updated_ms = now
        record.properties[modified_property(object_type)] = iso_ms(now)

    def iter_records(self, object_type: str) -> Iterator[Record]:
        table = self.records[object_type]
        for object_id in self.sorted_ids(object_type):
            yield table[object_id]

    def counts(self) -> dict[str, int]:
        return {t: len(r) for t, r in self.records.items()}
