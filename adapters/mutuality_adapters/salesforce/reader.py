"""The Source: Contacts and activities read with SOQL, incrementally, page by page.

Streams, in this order (EmailMessage before Task so a full read knows every logged
email's Task id before it meets the Task):

* ``Contact``, ``EmailMessage``, ``Task``, ``Event``: ``queryAll`` (archived
  activities exist only there) ordered by ``SystemModstamp, Id``; deleted rows
  become deletions, child rows (``TaskWhoRelations``, ``EventRelations``,
  ``EmailMessageRelations``) arrive in the same row through a sub-query, so each
  activity is credited to every related contact without extra calls.
* ``TaskWhoRelation``, ``EventRelation``, ``EmailMessageRelation`` (incremental runs
  only): a relation added or removed on its own brings its parent to be read again
  by ``Id IN (...)`` in chunks that keep the URL short.

Each stream's position is ``(ts, id)`` of the last row read, plus a ``floor``
(server time of the query minus ``lookback_seconds``) and the ids already read at
or after the floor. The next query re-reads from the floor (rows that committed late
with an older stamp are caught) and skips the rows it has already seen, so equal
stamps neither skip nor repeat rows. When the floor is older than the position the
query is a plain keyset ``(SystemModstamp, Id) > (ts, id)``. See docs/salesforce.md.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from mutuality_adapters.salesforce import mapping
from mutuality_adapters.salesforce.client import SalesforceClient
from mutuality_adapters.salesforce.fields import FIELD_NAMES, stored_score
from mutuality_adapters.salesforce.settings import SalesforceSettings
from mutuality_core.errors import (
    AuthenticationError,
    ConfigError,
    CrmUnavailableError,
    StateError,
)
from mutuality_core.model import Activity, Contact
from mutuality_core.ports import Cursor, Page, StoredScore

__all__ = ["OrgShape", "SalesforceSource", "detect_shape"]

logger = logging.getLogger(__name__)

CURSOR_VERSION = 1
#: Ids kept per stream to skip re-read rows; beyond this the stream falls back to a
#: plain keyset (a late commit older than the position could then be missed).
MAX_SEEN = 20_000
#: Ids per ``IN (...)``: 18-character ids cost ~27 URL bytes each once encoded, and
#: Salesforce rejects request URIs over 16,384 bytes.
IN_CHUNK = 300
SHAPE_MAX_AGE = timedelta(hours=24)

_TASK_FIELDS = (
    "Id",
    "WhoId",
    "TaskSubtype",
    "Status",
    "IsClosed",
    "ActivityDate",
    "CompletedDateTime",
    "CallType",
    "CallDurationInSeconds",
    "Subject",
    "Type",
    "CreatedDate",
    "IsDeleted",
    "SystemModstamp",
)
_EVENT_FIELDS = (
    "Id",
    "WhoId",
    "StartDateTime",
    "EndDateTime",
    "ActivityDateTime",
    "ActivityDate",
    "DurationInMinutes",
    "IsChild",
    "Subject",
    "CreatedById",
    "CreatedDate",
    "IsDeleted",
    "SystemModstamp",
)
_EMAIL_FIELDS = (
    "Id",
    "Incoming",
    "MessageDate",
    "ActivityId",
    "Status",
    "ThreadIdentifier",
    "Subject",
    "IsBounced",
    "CreatedDate",
    "IsDeleted",
    "SystemModstamp",
)
_CONTACT_FIELDS = (
    "Id",
    "Email",
    "FirstName",
    "LastName",
    "Account.Name",
    "IsDeleted",
    "SystemModstamp",
)
#: Child relationship -> (junction object, its parent field, extra child fields).
_JUNCTIONS = {
    "Task": ("TaskWhoRelations", "TaskWhoRelation", "TaskId", ()),
    "Event": ("EventRelations", "EventRelation", "EventId", ("Status",)),
    "EmailMessage": (
        "EmailMessageRelations",
        "EmailMessageRelation",
        "EmailMessageId",
        ("RelationType",),
    ),
}


@attrs.frozen
class OrgShape:
    """What this org has, learnt from describe: absent objects/fields are skipped."""

    objects: frozenset[str]
    fields: Mapping[str, tuple[str, ...]]  # object -> selectable fields we use
    relationships: Mapping[str, str | None]  # parent -> child relationship name
    checked_at: str
    #: The fields looked for (standard and configured custom ones): when the settings
    #: or this version ask for others, the org is described again.
    asked: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "objects": sorted(self.objects),
            "fields": {k: list(v) for k, v in self.fields.items()},
            "relationships": dict(self.relationships),
            "checked_at": self.checked_at,
            "asked": list(self.asked),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrgShape:
        return cls(
            objects=frozenset(data["objects"]),
            fields={k: tuple(v) for k, v in data["fields"].items()},
            relationships=dict(data["relationships"]),
            checked_at=data["checked_at"],
            asked=tuple(data.get("asked", ())),
        )


def wanted_fields(settings: SalesforceSettings) -> dict[str, tuple[str, ...]]:
    """Per activity object, the fields to select when the org has them."""
    tags = (settings.tags_field,) if settings.tags_field else ()
    outcome = (settings.meeting_outcome_field,) if settings.meeting_outcome_field else ()
    return {
        "Task": (*_TASK_FIELDS, *tags),
        "Event": (*_EVENT_FIELDS, *outcome, *tags),
        "EmailMessage": (*_EMAIL_FIELDS, *tags),
    }


def asked_fields(settings: SalesforceSettings) -> tuple[str, ...]:
    return tuple(
        f"{obj}.{field}" for obj, fields in wanted_fields(settings).items() for field in fields
    )


def activity_rules(
    obj: str, shape: OrgShape, settings: SalesforceSettings
) -> mapping.ActivityRules:
    """The optional fields this org showed for ``obj``, for the mapping."""
    present = shape.fields.get(obj, ())
    tags = settings.tags_field if settings.tags_field in present else None
    outcome = (
        settings.meeting_outcome_field
        if obj == "Event" and settings.meeting_outcome_field in present
        else None
    )
    return mapping.ActivityRules(
        tags_field=tags, outcome_field=outcome, booking_users=settings.booking_users
    )


def _describe(sf: Any, *, obj: str) -> Any:
    return getattr(sf, obj).describe()


def _query_more(sf: Any, *, url: str) -> Any:
    return sf.query_more(url, identifier_is_url=True)


def detect_shape(
    client: SalesforceClient, now: datetime, settings: SalesforceSettings | None = None
) -> OrgShape:
    """Describe the objects we read (4 calls) and log what this org lacks."""
    settings = settings or client.settings
    listing = client.call(lambda sf: sf.describe(), what="listing the org's objects")
    present = {o["name"] for o in (listing or {}).get("sobjects", [])}
    fields: dict[str, tuple[str, ...]] = {"Contact": _CONTACT_FIELDS}
    relationships: dict[str, str | None] = {}
    wanted = wanted_fields(settings)
    for obj, candidates in wanted.items():
        if obj not in present:
            logger.info("Salesforce org has no %s object (e.g. no Enhanced Email): skipped", obj)
            continue
        described = client.call(functools.partial(_describe, obj=obj), what=f"describing {obj}")
        names = {f["name"] for f in described.get("fields", [])}
        missing = [f for f in candidates if f not in names]
        if missing:
            logger.info("Salesforce %s lacks %s: read without them", obj, ", ".join(missing))
        fields[obj] = tuple(f for f in candidates if f in names)
        rel_name, child, _parent_field, _extra = _JUNCTIONS[obj]
        has_child = any(
            c.get("relationshipName") == rel_name for c in described.get("childRelationships", [])
        )
        if has_child and child in present:
            relationships[obj] = rel_name
        else:
            relationships[obj] = None
            logger.info(
                "Salesforce org has no %s (e.g. Shared Activities off): %s credit their WhoId only",
                child,
                obj,
            )
    objects = frozenset(present & {"Contact", *wanted, *(j[1] for j in _JUNCTIONS.values())})
    if "EmailMessage" in fields and relationships.get("EmailMessage") is None:
        logger.info("EmailMessage without EmailMessageRelation cannot name contacts: skipped")
        del fields["EmailMessage"]
    return OrgShape(
        objects,
        fields,
        relationships,
        mapping.format_sf_datetime(now),
        asked_fields(settings),
    )


# ---------------------------------------------------------------------------- cursor


@attrs.define
class StreamState:
    ts: str | None = None
    id: str | None = None
    floor: str | None = None
    seen: dict[str, str] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"ts": self.ts, "id": self.id, "floor": self.floor, "seen": self.seen}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StreamState:
        return cls(data.get("ts"), data.get("id"), data.get("floor"), dict(data.get("seen") or {}))


@attrs.define
class CursorState:
    streams: dict[str, StreamState] = attrs.field(factory=dict)
    user_id: str | None = None
    shape: OrgShape | None = None

    def encode(self) -> Cursor:
        return json.dumps(
            {
                "v": CURSOR_VERSION,
                "user_id": self.user_id,
                "shape": self.shape.to_json() if self.shape else None,
                "streams": {k: v.to_json() for k, v in self.streams.items()},
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, cursor: Cursor | None) -> CursorState:
        if not cursor:
            return cls()
        try:
            data = json.loads(cursor)
            if data.get("v") != CURSOR_VERSION:
                raise ValueError(f"cursor version {data.get('v')!r}")
            shape = OrgShape.from_json(data["shape"]) if data.get("shape") else None
            streams = {k: StreamState.from_json(v) for k, v in data.get("streams", {}).items()}
            return cls(streams, data.get("user_id"), shape)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise StateError(
                f"the saved Salesforce cursor is unreadable ({error}); run "
                "`mutuality sync --adapter salesforce --full` to read everything again"
            ) from None


def query_records(client: SalesforceClient, soql: str) -> Iterator[Mapping[str, Any]]:
    """Every row of a ``queryAll``, page by page (``page_size`` rows a request)."""
    headers = {"Sforce-Query-Options": f"batchSize={client.settings.page_size}"}

    def start(sf: Any) -> tuple[Iterator[Mapping[str, Any]], Any]:
        # query_all_iter sends nothing until iterated: the first page is fetched
        # here, inside the call that may log in again and start over.
        iterator = sf.query_all_iter(soql, include_deleted=True, headers=headers)
        return iterator, next(iterator, _END)

    iterator, first = client.call(start, what="starting a query")
    if first is _END:
        return
    yield first
    while True:
        try:
            record = client.call(
                lambda _sf: next(iterator), what="reading query pages", relogin=False
            )
        except StopIteration:
            return
        yield record


def _stamp_key(value: str | None) -> datetime:
    parsed = mapping.parse_sf_datetime(value)
    return parsed if parsed is not None else datetime.min.replace(tzinfo=timezone.utc)


# ---------------------------------------------------------------------------- source


class SalesforceSource:
    """Reads what changed since the cursor; ``read(None)`` reads everything."""

    complete_history = False

    def __init__(
        self, client: SalesforceClient, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.client = client
        self.settings = client.settings
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.stats: dict[str, int] = {}
        #: Contacts are read with their Mutuality fields (same query, no extra request) so
        #: the engine can rewrite cleared or edited scores; off once an org lacks them.
        self.read_score_fields = True

    # -- helpers

    def _server_now(self) -> datetime:
        return self.client.session.server_time or self.clock()

    def _query(self, soql: str) -> Iterator[Mapping[str, Any]]:
        return query_records(self.client, soql)

    def _user_id(self, state: CursorState) -> str | None:
        """The integration user's id, to tell our own writes from users' edits."""
        if state.user_id:
            return state.user_id
        try:
            info = self.client.call(lambda sf: sf.oauth2("userinfo"), what="identifying the user")
        except AuthenticationError:
            raise
        except CrmUnavailableError as error:
            logger.info("cannot identify the integration user (%s): own writes are re-read", error)
            return None
        return (info or {}).get("user_id")

    # -- the read

    def read(self, cursor: Cursor | None) -> Iterator[Page]:
        # A run starts with its read: the per-run share of the allowance starts here,
        # also when a library caller reuses one connection for several runs.
        self.client.budget.calls = 0
        state = CursorState.decode(cursor)
        full = cursor is None
        if full:
            state = CursorState()
        now = self.clock()
        if (
            state.shape is None
            or _stamp_key(state.shape.checked_at) < now - SHAPE_MAX_AGE
            or state.shape.asked != asked_fields(self.settings)
        ):
            state.shape = detect_shape(self.client, now, self.settings)
        state.user_id = self._user_id(state)
        shape = state.shape
        run = _Run(self, state, shape, full)
        yield from run.contacts()
        linked: set[str] = set()
        email_complete = False
        if "EmailMessage" in shape.fields:
            email_complete = state.streams.get("EmailMessage") is None
            yield from run.parents("EmailMessage", linked)
        if "Task" in shape.fields:
            yield from run.parents("Task", linked, email_complete=email_complete)
        if "Event" in shape.fields:
            yield from run.parents("Event", linked)
        yield from run.relations(linked)


class _Run:
    """One read: the cursor being advanced and what this run has already read."""

    def __init__(
        self, source: SalesforceSource, state: CursorState, shape: OrgShape, full: bool
    ) -> None:
        self.source = source
        self.settings = source.settings
        self.state = state
        self.shape = shape
        self.full = full
        self.read_parents: dict[str, set[str]] = {}
        #: Server time just before each parent object's query: a relation stamped at
        #: or after it may have committed after that query read its parent.
        self.parent_query_started: dict[str, datetime] = {}
        self.rules = {
            obj: activity_rules(obj, shape, self.settings)
            for obj in ("Task", "Event", "EmailMessage")
        }
        # A full read's relation streams start (minus the lookback) at this instant.
        self.start = source._server_now()

    # -- positions

    def _position_filter(self, stream: StreamState | None) -> str | None:
        """The WHERE part for a stream's position (ids already seen are skipped by the caller)."""
        if stream is None:
            return None
        if stream.floor and (
            stream.ts is None or _stamp_key(stream.floor) <= _stamp_key(stream.ts)
        ):
            return f"SystemModstamp >= {_literal(stream.floor)}"
        if stream.ts:
            ts = _literal(stream.ts)
            return f"(SystemModstamp > {ts} OR (SystemModstamp = {ts} AND Id > '{stream.id}'))"
        return None

    def _advance(
        self, name: str, record: Mapping[str, Any], floor: datetime, new: StreamState
    ) -> None:
        stamp = record.get("SystemModstamp")
        new.ts, new.id = stamp, record["Id"]
        # a record without a stamp sorts first (datetime.min): never past the floor
        if new.floor is not None and stamp is not None and _stamp_key(stamp) >= floor:
            new.seen[record["Id"]] = stamp
            if len(new.seen) > MAX_SEEN:
                logger.warning(
                    "Salesforce %s: more than %d rows share the last %s s; the next read "
                    "uses a plain keyset from here",
                    name,
                    MAX_SEEN,
                    self.settings.lookback_seconds,
                )
                new.seen, new.floor = {}, None

    def _begin(self, name: str) -> tuple[StreamState | None, StreamState, datetime]:
        old = self.state.streams.get(name)
        new = StreamState(
            ts=old.ts if old else None,
            id=old.id if old else None,
            seen=old.seen if old else {},  # filtered into a new dict below
        )
        return old, new, self._open_lookback_window(new)

    def _where(self, *parts: str | None) -> str:
        present = [p for p in parts if p]
        return f" WHERE {' AND '.join(present)}" if present else ""

    def _open_lookback_window(self, new: StreamState) -> datetime:
        """Set the stream's lookback floor from the server's clock as reading begins.

        Ids stamped before the floor are dropped from the de-duplication set: the
        next read's window starts at the floor, so they cannot come back in it.
        """
        floor = self.source._server_now() - timedelta(seconds=self.settings.lookback_seconds)
        new.floor = mapping.format_sf_datetime(floor)
        new.seen = {i: s for i, s in new.seen.items() if _stamp_key(s) >= floor}
        return floor

    def _page(self, **kwargs: Any) -> Page:
        return Page(cursor=self.state.encode(), **kwargs)

    # -- contacts

    def contacts(self) -> Iterator[Page]:
        old, new, floor = self._begin("Contact")
        position = self._position_filter(old)
        own = None
        if old is not None and self.state.user_id:
            # Our own score writes move SystemModstamp; they are not a change to read.
            own = f"LastModifiedById != '{self.state.user_id}'"
        deleted = "IsDeleted = false" if old is None else None
        soql = (
            f"SELECT {', '.join(self.shape.fields['Contact'])} FROM Contact"
            + self._where(deleted, position, own)
            + " ORDER BY SystemModstamp, Id"
        )
        contacts: list[Contact] = []
        stored: list[StoredScore] = []
        gone: list[str] = []
        started = False
        for record in self._contact_records(soql):
            if not started:
                floor = self._open_lookback_window(new)
                started = True
            self._advance("Contact", record, floor, new)
            if skip_same(record, old):
                continue
            if record.get("IsDeleted"):
                gone.append(record["Id"])
            else:
                contacts.append(mapping.contact_from_record(record))
                if self.source.read_score_fields:
                    stored.append(stored_score(record))
            if len(contacts) + len(gone) >= self.settings.page_size:
                self.state.streams["Contact"] = new
                yield self._page(contacts=contacts, deleted_contact_ids=gone, stored_scores=stored)
                contacts, stored, gone = [], [], []
        self.state.streams["Contact"] = new
        yield self._page(contacts=contacts, deleted_contact_ids=gone, stored_scores=stored)

    def _contact_records(self, soql: str) -> Iterator[Mapping[str, Any]]:
        """The contact query's rows, with the Mutuality fields while the org has them.

        An org not set up yet (``score`` before ``setup``) refuses them: read without,
        once, and say so; ``sync`` then stops at its first write with the setup hint.
        """
        source = self.source
        if source.read_score_fields:
            fields = ", ".join(FIELD_NAMES)
            records = source._query(soql.replace(" FROM Contact", f", {fields} FROM Contact", 1))
            try:
                first = next(records, None)
            except ConfigError as error:
                logger.warning("reading contacts without their Mutuality fields: %s", error)
                source.read_score_fields = False
            else:
                if first is not None:
                    yield first
                    yield from records
                return
        yield from source._query(soql)

    # -- parents (Task, Event, EmailMessage)

    def _select(self, obj: str) -> str:
        fields = ", ".join(self.shape.fields[obj])
        rel = self.shape.relationships.get(obj)
        if rel:
            _name, _child, _pf, extra = _JUNCTIONS[obj]
            fields += f", (SELECT {', '.join(('RelationId', *extra))} FROM {rel})"
        return f"SELECT {fields} FROM {obj}"

    def _base_filter(self, obj: str) -> str | None:
        return "IsChild = false" if obj == "Event" and "IsChild" in self.shape.fields[obj] else None

    def parents(
        self, obj: str, linked: set[str], *, email_complete: bool = False
    ) -> Iterator[Page]:
        old, new, floor = self._begin(obj)
        position = self._position_filter(old)
        deleted = "IsDeleted = false" if old is None else None
        soql = (
            self._select(obj)
            + self._where(self._base_filter(obj), deleted, position)
            + " ORDER BY SystemModstamp, Id"
        )
        incremental = old is not None
        batch: list[Mapping[str, Any]] = []
        started = False
        seen_here = self.read_parents.setdefault(obj, set())
        # The last response's Date header (whole seconds, earlier than this query):
        # erring early only re-reads a parent more often.
        self.parent_query_started[obj] = self.source._server_now()
        for record in self.source._query(soql):
            if not started:
                floor = self._open_lookback_window(new)
                started = True
            self._advance(obj, record, floor, new)
            if old is not None and skip_same(record, old):
                continue
            seen_here.add(record["Id"])
            batch.append(record)
            if len(batch) >= self.settings.page_size:
                yield from self._emit(obj, batch, linked, incremental, email_complete, new)
                batch = []
        yield from self._emit(obj, batch, linked, incremental, email_complete, new, last=True)

    def _emit(
        self,
        obj: str,
        records: Sequence[Mapping[str, Any]],
        linked: set[str],
        incremental: bool,
        email_complete: bool,
        new: StreamState | None,
        *,
        last: bool = False,
    ) -> Iterator[Page]:
        rel = self.shape.relationships.get(obj)
        if rel:
            for record in records:
                self._complete_children(record, rel)
        if obj == "EmailMessage":
            linked.update(r["ActivityId"] for r in records if r.get("ActivityId"))
        if obj == "Task" and "EmailMessage" in self.shape.fields:
            unknown = [
                r["Id"]
                for r in records
                if r.get("TaskSubtype") == "Email" and r["Id"] not in linked
            ]
            if unknown and not email_complete:
                linked.update(self._linked_tasks(unknown))
        activities: list[Activity] = []
        gone: list[str] = []
        replaced: list[str] = []
        for record in records:
            if obj == "Task" and record["Id"] in linked:
                continue  # the EmailMessage carries this logged email (same activity id)
            activity_id = (
                mapping.email_activity_id(record) if obj == "EmailMessage" else record["Id"]
            )
            if record.get("IsDeleted"):
                gone.append(activity_id)
                continue
            rules = self.rules[obj]
            if obj == "Task":
                mapped = mapping.task_activities(record, rel, rules)
            elif obj == "Event":
                mapped = mapping.event_activities(record, rel, rules)
            else:
                thread = (
                    "ThreadIdentifier" if "ThreadIdentifier" in self.shape.fields[obj] else None
                )
                mapped = mapping.email_activities(record, rel, thread_field=thread, rules=rules)
            activities.extend(mapped)
            replaced.append(activity_id)
        if new is not None:
            self.state.streams[obj] = new
        if incremental and replaced:
            # The cache keys activities by (id, contact); a changed activity may have
            # lost contacts, so its old rows go first (the next page re-adds them).
            yield Page(deleted_activity_ids=replaced)
        if activities or gone or last or new is not None:
            yield self._page(activities=activities, deleted_activity_ids=gone)

    def _complete_children(self, record: Mapping[str, Any], rel: str) -> None:
        """Fetch the rest of a sub-query's rows when they did not fit in one batch.

        Salesforce returns a parent's child rows like a query of their own: a big
        group event or mass email comes with ``done: false`` and a nested
        ``nextRecordsUrl``; without following it, only the first batch of contacts
        would be credited.
        """
        nested = record.get(rel)
        if not isinstance(nested, dict) or nested.get("done", True):
            return
        rows = list(nested.get("records") or ())
        next_url = nested.get("nextRecordsUrl")
        while next_url:
            more = self.source.client.call(
                functools.partial(_query_more, url=next_url),
                what=f"reading the rest of a record's {rel}",
            )
            rows.extend(more.get("records") or ())
            next_url = None if more.get("done", True) else more.get("nextRecordsUrl")
        nested["records"] = rows
        nested["done"] = True
        nested.pop("nextRecordsUrl", None)

    def _linked_tasks(self, task_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in mapping.chunked(task_ids, IN_CHUNK):
            soql = (
                "SELECT ActivityId FROM EmailMessage WHERE IsDeleted = false "
                f"AND ActivityId IN ({_in(chunk)})"
            )
            found.update(r["ActivityId"] for r in self.source._query(soql) if r.get("ActivityId"))
        return found

    # -- relations (incremental only)

    def relations(self, linked: set[str]) -> Iterator[Page]:
        for parent, (_rel, child, parent_field, _extra) in _JUNCTIONS.items():
            if self.shape.relationships.get(parent) is None or parent not in self.shape.fields:
                continue
            if self.state.streams.get(child) is None:
                # A full read covered every relation older than its parents' queries;
                # start just before this run so late commits are still caught.
                floor = self.start - timedelta(seconds=self.settings.lookback_seconds)
                self.state.streams[child] = StreamState(floor=mapping.format_sf_datetime(floor))
            old, new, floor = self._begin(child)
            position = self._position_filter(old)
            soql = (
                f"SELECT Id, {parent_field}, SystemModstamp FROM {child}"
                + self._where(position)
                + " ORDER BY SystemModstamp, Id"
            )
            stale: list[str] = []
            started = False
            already = self.read_parents.get(parent, set())
            parent_read_at = self.parent_query_started.get(parent)
            for record in self.source._query(soql):
                if not started:
                    floor = self.source._server_now() - timedelta(
                        seconds=self.settings.lookback_seconds
                    )
                    new.floor = mapping.format_sf_datetime(floor)
                    started = True
                self._advance(child, record, floor, new)
                if skip_same(record, old):
                    continue
                parent_id = record.get(parent_field)
                if not parent_id or parent_id in stale:
                    continue
                if parent_id in already:
                    # The parent read this run carries this relation only when the
                    # relation is older than that parent's query. A newer one may
                    # have committed after it: it stays out of ``seen`` so the next
                    # run meets it again and reads its parent then (reading the
                    # parent twice in one run would repeat its activities).
                    stamp = _stamp_key(record.get("SystemModstamp"))
                    if parent_read_at is not None and stamp < parent_read_at:
                        continue
                    if new.floor is not None and stamp >= floor:
                        new.seen.pop(record["Id"], None)
                        continue
                stale.append(parent_id)
            for chunk in mapping.chunked(stale, IN_CHUNK):
                soql = self._select(parent) + self._where(
                    self._base_filter(parent), f"Id IN ({_in(chunk)})"
                )
                records = list(self.source._query(soql))
                yield from self._emit(parent, records, linked, True, False, None)
            self.state.streams[child] = new
            yield self._page()


_END = object()


def skip_same(record: Mapping[str, Any], old: StreamState | None) -> bool:
    """True when this exact version of the row was read before (id and stamp in ``seen``)."""
    if old is None or not old.seen:
        return False
    return old.seen.get(record["Id"]) == record.get("SystemModstamp")


def _literal(stamp: str) -> str:
    parsed = mapping.parse_sf_datetime(stamp)
    assert parsed is not None
    return mapping.format_sf_datetime(parsed)


def _in(ids: Sequence[str]) -> str:
    return ", ".join("'" + i.replace("\\", "\\\\").replace("'", "\\'") + "'" for i in ids)
