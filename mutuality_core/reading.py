"""How the sync reads a source into histories: three strategies, one per kind of run.

* **Full snapshot** (:func:`read_snapshot`): a complete-history source (files) is read
  in full into memory and its histories handed out one by one, each freed as it goes.
* **Activity cache** (:func:`read_into_cache`): an incremental source (a CRM) is read
  from the saved cursor into the state store's cache, page by page, each page stored
  (and its cursor saved) before the next is read; the histories then come from the
  cache (``StateStore.iter_histories``).
* **Overlay** (:func:`histories_without_storing`): a run that must change nothing
  (dry runs, ``score``, ``explain``) reads from the saved cursor and lays the pages over
  the cache in memory; without a cursor it takes a full snapshot.

Every strategy reads through :func:`pages`, which hands each page to the caller's
``on_page`` (the run's counts) before it is used, and reports progress after.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence

import attrs

from mutuality_core.model import Activity, Contact
from mutuality_core.ports import (
    Cursor,
    DeduplicatingSource,
    Page,
    ProgressCallback,
    Source,
    StateStore,
)
from mutuality_core.scoring import _group_by_contact

__all__ = [
    "Overlay",
    "Snapshot",
    "histories_without_storing",
    "pages",
    "read_into_cache",
    "read_snapshot",
]

log = logging.getLogger(__name__)

#: Called with each page as it is read, before it is used (the run counts it).
PageObserver = Callable[[Page], None]


def pages(
    source: Source, cursor: Cursor | None, on_page: PageObserver, progress: ProgressCallback
) -> Iterator[Page]:
    """The source's pages, each observed; progress is reported once the caller has handled it.

    That order makes every "read" progress call a safe point to stop at (the CLI
    stops there on Ctrl-C): the page before it is stored, the next not yet read.
    ``progress`` is told how many activities were read so far.
    """
    activities = 0
    for page in source.read(cursor):
        on_page(page)
        activities += len(page.activities)
        yield page
        progress("read", activities, None)


def _dedupe(activities: list[Activity]) -> list[Activity]:
    """One activity per id (the last delivered wins, as in the cache's upsert)."""
    ids = {a.id for a in activities}
    if len(ids) == len(activities):
        return activities
    return list({a.id: a for a in activities}.values())


@attrs.define
class Snapshot:
    """A complete read held in memory: contacts in source order, activities grouped.

    ``unique``: the source promised never to repeat an activity in one read
    (:class:`~mutuality_core.ports.DeduplicatingSource`), so none are looked for.
    """

    contacts: dict[str, Contact] = attrs.field(factory=dict)
    activities: dict[str, list[Activity]] = attrs.field(factory=dict)
    cursor: Cursor | None = None
    unique: bool = False

    def add(self, page: Page) -> None:
        for contact in page.contacts:
            self.contacts[contact.id] = contact
        groups = self.activities
        _group_by_contact(groups, page.activities)
        if page.deleted_activity_ids:
            gone = set(page.deleted_activity_ids)
            for contact_id, group in groups.items():
                groups[contact_id] = [a for a in group if a.id not in gone]
        for contact_id in page.deleted_contact_ids:
            self.contacts.pop(contact_id, None)
            groups.pop(contact_id, None)
        if page.cursor is not None:
            self.cursor = page.cursor

    def histories(self) -> Iterator[tuple[Contact, list[Activity]]]:
        """Every contact with its activities, freeing each history once handed out.

        Each list is the snapshot's own, handed over for good (it is grouped by
        contact, so the scorer may sort it in place).
        """
        orphans = len(set(self.activities) - set(self.contacts))
        if orphans:
            log.warning(
                "ignored activities of %d contact id(s) the source has no contact for", orphans
            )
        unique = self.unique
        for contact_id in list(self.contacts):
            contact = self.contacts.pop(contact_id)
            activities = self.activities.pop(contact_id, [])
            yield contact, activities if unique else _dedupe(activities)
        self.activities.clear()


def read_snapshot(source: Source, on_page: PageObserver, progress: ProgressCallback) -> Snapshot:
    """One full read of ``source``, held in memory (see :class:`Snapshot`)."""
    unique = isinstance(source, DeduplicatingSource) and source.unique_activities
    snapshot = Snapshot(unique=unique)
    for page in pages(source, None, on_page, progress):
        snapshot.add(page)
    return snapshot


@attrs.define
class Overlay:
    """Pages read but not stored (dry runs, ``score``), laid over the state store's cache."""

    contacts: dict[str, Contact] = attrs.field(factory=dict)
    activities: dict[str, dict[str, Activity]] = attrs.field(factory=dict)
    deleted_activity_ids: set[str] = attrs.field(factory=set)
    deleted_contact_ids: set[str] = attrs.field(factory=set)

    def add(self, page: Page) -> None:
        for contact in page.contacts:
            self.contacts[contact.id] = contact
            self.deleted_contact_ids.discard(contact.id)
        for activity in page.activities:
            self.activities.setdefault(activity.contact_id, {})[activity.id] = activity
        if page.deleted_activity_ids:
            gone = set(page.deleted_activity_ids)
            self.deleted_activity_ids |= gone
            for group in self.activities.values():
                for activity_id in gone & group.keys():
                    del group[activity_id]
        for contact_id in page.deleted_contact_ids:
            self.deleted_contact_ids.add(contact_id)
            self.contacts.pop(contact_id, None)
            self.activities.pop(contact_id, None)

    def merge(
        self, cached: Iterable[tuple[Contact, list[Activity]]]
    ) -> Iterator[tuple[Contact, list[Activity]]]:
        deleted = self.deleted_activity_ids
        for contact, activities in cached:
            if contact.id in self.deleted_contact_ids:
                continue
            contact = self.contacts.pop(contact.id, contact)
            fresh = self.activities.pop(contact.id, {})
            kept = [a for a in activities if a.id not in deleted and a.id not in fresh]
            yield contact, kept + list(fresh.values())
        for contact in self.contacts.values():
            yield contact, list(self.activities.pop(contact.id, {}).values())


def read_into_cache(
    source: Source,
    state: StateStore,
    target: str,
    *,
    full: bool,
    on_page: PageObserver,
    progress: ProgressCallback,
) -> Sequence[str]:
    """Store every page in the cache as it arrives; the cursor moves with each page.

    Returns the contacts a completed full read no longer has (their state is dropped).
    """
    cursor = None if full else state.get_cursor(target)
    resuming_full_read = cursor is not None and state.full_read_pending(target)
    if cursor is None:
        log.info("%s: full read", target)
        state.begin_full_read(target)
    elif resuming_full_read:
        log.info("%s: resuming an interrupted full read", target)
    seen: set[str] = set()
    for page in pages(source, cursor, on_page, progress):
        state.apply_page(target, page)
        seen.update(c.id for c in page.contacts)
    if cursor is None or resuming_full_read:
        return state.finish_full_read(target, seen)
    return ()


def histories_without_storing(
    source: Source,
    state: StateStore | None,
    target: str | None,
    *,
    full: bool,
    on_page: PageObserver,
    progress: ProgressCallback,
) -> Iterator[tuple[Contact, list[Activity]]]:
    """Current histories while changing nothing in the state store."""
    cursor = None
    if state is not None and target is not None and not source.complete_history and not full:
        cursor = state.get_cursor(target)
    if cursor is None:
        return read_snapshot(source, on_page, progress).histories()
    assert state is not None and target is not None
    overlay = Overlay()
    for page in pages(source, cursor, on_page, progress):
        overlay.add(page)
    return overlay.merge(state.iter_histories(target))
