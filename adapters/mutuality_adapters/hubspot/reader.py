"""The HubSpot :class:`~mutuality_core.ports.Source`: contacts and engagements as lazy pages.

Request economy (what each page costs):

* full scan: ``GET /crm/v3/objects/{type}?limit=100&associations=contacts`` — the
  engagement's contacts come embedded, so associations cost no extra request;
* incremental: ``POST .../search`` (200 per request, 5 requests/s) per type, then
  one v4 batch association read per 1,000 changed engagements (search cannot
  return associations).

An engagement associated with N contacts becomes N activities with one id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from mutuality_core.model import Activity, Contact
from mutuality_core.ports import Cursor, Page, Rejection, StoredScore

from . import cursor as cursors
from .api import HubSpotApi, HubSpotApiError, HubSpotResponseError
from .clock import NowMs, wall_ms
from .cursor import TypePosition
from .mapping import (
    CONTACT_PROPERTIES,
    ENGAGEMENT_PROPERTIES,
    ENGAGEMENT_TYPES,
    TASKS,
    engagement_properties,
    map_contact,
    map_engagement,
    modified_property,
    stored_score,
    time_ms,
)
from .settings import HubSpotSettings

log = logging.getLogger(__name__)


class HubSpotSource:
    """Reads what changed since the cursor; ``read(None)`` is a full scan."""

    complete_history = False

    def __init__(
        self, api: HubSpotApi, settings: HubSpotSettings, *, now_ms: NowMs = wall_ms
    ) -> None:
        self.api = api
        self.settings = settings
        self.now_ms = now_ms
        self.object_types: tuple[str, ...] = ("contacts", *ENGAGEMENT_TYPES) + (
            (TASKS,) if settings.include_tasks else ()
        )
        self.skipped_own_writes = 0
        self.skipped_engagements = 0
        self._rejected: list[Rejection] = []
        self._optional_properties_refused = False
        #: Contacts are read with their score properties (no extra request), so the
        #: engine can rewrite a contact whose scores were cleared or edited.
        self.contact_properties = (*CONTACT_PROPERTIES, *settings.properties.as_dict().values())

    # -- the port ------------------------------------------------------------------------

    def read(self, cursor: Cursor | None) -> Iterator[Page]:
        saved = cursors.decode(cursor)
        start = self.now_ms()
        positions: dict[str, TypePosition] = {}
        for object_type in self.object_types:
            position = saved.get(object_type)
            if position is None:  # first run, --full, or a type newly enabled (tasks)
                position = TypePosition("list", after=None, t0=start)
            positions[object_type] = position
        # Carry positions of types we do not read now (e.g. tasks turned off) unchanged.
        for object_type, position in saved.items():
            positions.setdefault(object_type, position)
        for object_type in self.object_types:
            yield from self._read_type(object_type, positions)

    # -- per type ------------------------------------------------------------------------

    def _read_type(self, object_type: str, positions: dict[str, TypePosition]) -> Iterator[Page]:
        position = positions[object_type]
        if position.mode == "list":
            # The next run's window starts at the scan's start (minus the lag), so whatever
            # changed during the scan is read then; no search is spent on it now.
            yield from self._scan(object_type, positions)
            return
        resumed = position.hi is not None
        yield from self._window(object_type, positions)
        if resumed:  # an interrupted window is closed; now catch up to the present
            yield from self._window(object_type, positions)

    def _scan(self, object_type: str, positions: dict[str, TypePosition]) -> Iterator[Page]:
        position = positions[object_type]
        lag = int(self.settings.search_lag_seconds * 1000)
        after = position.after
        is_contacts = object_type == "contacts"
        properties = (
            self.contact_properties if is_contacts else self._engagement_properties(object_type)
        )
        while True:
            body = self.api.list_page(
                object_type,
                properties=properties,
                associations=() if is_contacts else ("contacts",),
                after=after,
                limit=self.settings.list_page_size,
            )
            results = body.get("results") or []
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if after:
                positions[object_type] = TypePosition("list", after=str(after), t0=position.t0)
            else:
                start = position.t0 if position.t0 is not None else self.now_ms()
                positions[object_type] = TypePosition("search", lo=start - lag)
            cursor = cursors.encode(positions)
            if is_contacts:
                contacts, stored = self._contacts(results, incremental=False)
                yield Page(contacts=contacts, cursor=cursor, stored_scores=stored)
            else:
                activities = self._embedded_activities(object_type, results)
                yield Page(activities=activities, cursor=cursor, rejected=self._take_rejected())
            if not after:
                return

    def _window(self, object_type: str, positions: dict[str, TypePosition]) -> Iterator[Page]:
        position = positions[object_type]
        lo = position.lo if position.lo is not None else 0
        hi = position.hi
        last_id = position.id
        if hi is None:
            hi = self.now_ms() - int(self.settings.search_lag_seconds * 1000)
            last_id = 0
            if hi <= lo:
                return
        is_contacts = object_type == "contacts"
        modified = modified_property(object_type)
        properties = (
            self.contact_properties if is_contacts else self._engagement_properties(object_type)
        )
        limit = self.settings.search_page_size
        pending: list[Mapping[str, Any]] = []
        done = False
        while not done:
            body = self._search(
                object_type,
                {
                    "filterGroups": [
                        {
                            "filters": [
                                {"propertyName": modified, "operator": "GT", "value": str(lo)},
                                {"propertyName": modified, "operator": "LTE", "value": str(hi)},
                                {"propertyName": "hs_object_id", "operator": "GT",
                                 "value": str(last_id)},
                            ]
                        }
                    ],
                    "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                    "properties": list(properties),
                    "limit": limit,
                },
            )  # fmt: skip
            results = body.get("results") or []
            total = body.get("total")
            done = len(results) < limit or (isinstance(total, int) and total <= len(results))
            if results:
                ids = [int(r["id"]) for r in results]
                if min(ids) <= last_id:
                    raise HubSpotResponseError(
                        200, f"HubSpot search for {object_type} did not honour the id filter"
                    )
                last_id = max(ids)
            if done:
                positions[object_type] = TypePosition("search", lo=hi)
            else:
                positions[object_type] = TypePosition("search", lo=lo, hi=hi, id=last_id)
            if is_contacts:
                contacts, stored = self._contacts(results, incremental=True)
                yield Page(contacts=contacts, cursor=cursors.encode(positions),
                           stored_scores=stored)  # fmt: skip
                continue
            pending.extend(results)
            if done or len(pending) + limit > self.settings.association_batch_size:
                activities = self._searched_activities(object_type, pending)
                pending = []
                yield Page(
                    activities=activities,
                    cursor=cursors.encode(positions),
                    rejected=self._take_rejected(),
                )

    # -- optional properties ---------------------------------------------------------------

    def _engagement_properties(self, object_type: str) -> tuple[str, ...]:
        if self._optional_properties_refused:
            return ENGAGEMENT_PROPERTIES[object_type]
        return engagement_properties(object_type, self.settings.rules)

    def _search(self, object_type: str, body: dict[str, Any]) -> Mapping[str, Any]:
        """Search; a 400 while asking for the heuristics' optional properties drops them once.

        HubSpot documents that a list request ignores unknown properties, not that a
        search does; the heuristics' properties (``hs_sequence_id``, ``hs_meeting_source``,
        the tags property...) may not exist in every portal, so a refusal must not stop
        the sync: the run goes on without them and says so.
        """
        try:
            return self.api.search(object_type, body)
        except HubSpotApiError as exc:
            base = ENGAGEMENT_PROPERTIES.get(object_type)
            if exc.status != 400 or base is None or self._optional_properties_refused:
                raise
            if set(body.get("properties") or ()) <= set(base):
                raise
            log.warning(
                "HubSpot refused a %s search asking for optional properties (%s); "
                "reading without them for the rest of this run (automated/tags/"
                "meeting-direction/voicemail rules see less); the engagements read so stay "
                "mapped so until they change: run with --full once the portal is fixed",
                object_type,
                exc,
            )
            self._optional_properties_refused = True
            return self.api.search(object_type, {**body, "properties": list(base)})

    # -- mapping helpers -------------------------------------------------------------------

    def _contacts(
        self, results: Sequence[Mapping[str, Any]], *, incremental: bool
    ) -> tuple[list[Contact], list[StoredScore]]:
        """The contacts, and the score properties each holds now."""
        window = self.settings.own_write_window_seconds * 1000
        names = self.settings.properties
        contacts = []
        stored = []
        for record in results:
            props = record.get("properties") or {}
            if incremental:
                written = time_ms(props.get(names.written_at))
                modified = time_ms(props.get("lastmodifieddate"))
                # ``written_at`` is when we wrote; ``abs`` allows for our clock running
                # ahead of HubSpot's.
                if (
                    written is not None
                    and modified is not None
                    and abs(modified - written) <= window
                ):
                    self.skipped_own_writes += 1  # only our own write moved it
                    continue
            object_id = str(record["id"])
            contacts.append(map_contact(object_id, props))
            stored.append(stored_score(object_id, props, names))
        return contacts, stored

    def _map(
        self, object_type: str, record: Mapping[str, Any], contact_ids: list[str]
    ) -> list[Activity]:
        props = record.get("properties") or {}
        problem = None
        try:
            activities = map_engagement(
                object_type, str(record["id"]), props, contact_ids, self.settings.rules
            )
        except ValueError as exc:
            activities, problem = [], str(exc)
        if not activities and contact_ids and problem is None:
            problem = "no hs_timestamp"
        if problem is not None:  # reported in the run, never silently dropped
            where = f"hubspot {object_type} {record.get('id')}"
            log.warning("skipping %s: %s", where, problem)
            self.skipped_engagements += 1
            self._rejected.append(Rejection(where=where, error=problem))
        return activities

    def _take_rejected(self) -> list[Rejection]:
        taken, self._rejected = self._rejected, []
        return taken

    def _embedded_activities(
        self, object_type: str, results: Sequence[Mapping[str, Any]]
    ) -> list[Activity]:
        activities: list[Activity] = []
        more: list[Mapping[str, Any]] = []
        for record in results:
            block = ((record.get("associations") or {}).get("contacts")) or {}
            if (block.get("paging") or {}).get("next"):
                more.append(record)  # too many contacts to embed: ask the v4 API for all
                continue
            contact_ids = [str(a["id"]) for a in block.get("results") or []]
            activities.extend(self._map(object_type, record, contact_ids))
        if more:
            activities.extend(self._searched_activities(object_type, more))
        return activities

    def _searched_activities(
        self, object_type: str, records: Sequence[Mapping[str, Any]]
    ) -> list[Activity]:
        if not records:
            return []
        links = self._associations(object_type, [str(r["id"]) for r in records])
        activities: list[Activity] = []
        for record in records:
            activities.extend(self._map(object_type, record, links.get(str(record["id"]), [])))
        return activities

    def _associations(self, object_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """Engagement id -> contact ids through v4 batch reads, following per-id paging."""
        links: dict[str, list[str]] = {i: [] for i in ids}
        todo: list[tuple[str, str | None]] = [(i, None) for i in ids]
        size = self.settings.association_batch_size
        while todo:
            batch, todo = todo[:size], todo[size:]
            body = self.api.read_associations(object_type, "contacts", batch)
            for result in body.get("results") or []:
                from_id = str((result.get("from") or {}).get("id"))
                links.setdefault(from_id, []).extend(
                    str(t["toObjectId"]) for t in result.get("to") or []
                )
                after = ((result.get("paging") or {}).get("next") or {}).get("after")
                if after:
                    todo.append((from_id, str(after)))
            for error in body.get("errors") or []:
                if error.get("category") == "OBJECT_NOT_FOUND":
                    continue  # no associations (or the engagement was deleted): zero contacts
                raise HubSpotResponseError(
                    207,
                    f"HubSpot could not read {object_type} associations: "
                    f"{error.get('message')} ({error.get('category')})",
                    error,
                )
        return links
