"""An in-memory CRM that behaves like the real ones where it matters to the sync engine.

It has a change log, so reads are incremental from a cursor; it bumps a contact's
last-modified stamp when a score is written onto it (as HubSpot and Salesforce
do); and it can be told to fail: crash after N write batches, run out of quota
after N pages or batches, or refuse some records. Use it to test code built on
:func:`mutuality_core.sync.run_sync`, and as a reference adapter: it passes the
:class:`mutuality_testkit.AdapterContract` suite.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from mutuality_core.errors import InvalidInputError, QuotaExhaustedError
from mutuality_core.model import Activity, Contact
from mutuality_core.ports import Connection, Cursor, Page, ScoreUpdate, WriteResult

__all__ = ["MemoryCrm", "MemorySource", "MemoryWriter", "WriterCrashed"]

_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


class WriterCrashed(RuntimeError):
    """What :class:`MemoryWriter` raises to simulate a crash (network drop, kill) mid-run."""


class MemoryCrm:
    """Contacts, activities and written scores, plus a change log numbered by ``seq``.

    ``page_size`` is how many changed records one page holds. Written scores land in
    ``scores[contact_id]``; ``write_counts`` counts how often each contact was written.
    """

    def __init__(self, *, page_size: int = 2, batch_size: int = 3) -> None:
        self.page_size = page_size
        self.batch_size = batch_size
        self.contacts: dict[str, Contact] = {}
        self.activities: dict[tuple[str, str], Activity] = {}
        self.scores: dict[str, dict[str, Any]] = {}
        self.write_counts: Counter[str] = Counter()
        self.write_calls = 0
        self.pages_served = 0
        self.seq = 0
        # change log: seq -> ("contact", id) | ("activity", (contact_id, id)) | deletions
        self.log: list[tuple[int, str, Any]] = []
        # failure switches
        self.crash_after_batches: int | None = None
        self.quota_after_batches: int | None = None
        self.quota_after_pages: int | None = None
        self.refuse: dict[str, bool] = {}  # contact id -> retryable

    # -- changing the CRM ------------------------------------------------------------

    def _change(self, kind: str, key: Any) -> None:
        self.seq += 1
        self.log.append((self.seq, kind, key))

    def _stamp(self) -> datetime:
        return _EPOCH + timedelta(seconds=self.seq)

    def add_contact(self, contact_id: str, **fields: Any) -> Contact:
        contact = Contact(contact_id, modified_at=self._stamp(), **fields)
        self.contacts[contact_id] = contact
        self._change("contact", contact_id)
        return contact

    def add_activity(self, activity: Activity) -> None:
        if activity.contact_id not in self.contacts:
            raise KeyError(f"no contact {activity.contact_id!r}")
        self.activities[(activity.contact_id, activity.id)] = activity
        self._change("activity", (activity.contact_id, activity.id))

    def delete_activity(self, activity_id: str) -> None:
        for key in [k for k in self.activities if k[1] == activity_id]:
            del self.activities[key]
        self._change("deleted_activity", activity_id)

    def delete_contact(self, contact_id: str, *, log: bool = True) -> None:
        """Delete a contact; with ``log=False`` only a full read notices it is gone."""
        self.contacts.pop(contact_id, None)
        for key in [k for k in self.activities if k[0] == contact_id]:
            del self.activities[key]
        if log:
            self._change("deleted_contact", contact_id)

    def connection(self, target: str = "memory:crm") -> Connection:
        return Connection(target=target, source=MemorySource(self), writer=MemoryWriter(self))

    # -- serving reads -----------------------------------------------------------------

    def _serve_page(self) -> None:
        if self.quota_after_pages is not None and self.pages_served >= self.quota_after_pages:
            raise QuotaExhaustedError(f"page quota of {self.quota_after_pages} used up")
        self.pages_served += 1


@attrs.define
class MemorySource:
    """Incremental reads from the change log. Cursors are JSON.

    A full read pages through a snapshot (``{"full": seq, "offset": n}``) and can be
    resumed from any of its page cursors; it then continues with the changes made
    since the snapshot.
    """

    crm: MemoryCrm
    complete_history: bool = False

    def read(self, cursor: Cursor | None) -> Iterator[Page]:
        return self._read(cursor)

    def _read(self, cursor: Cursor | None) -> Iterator[Page]:
        crm = self.crm
        state = {"full": crm.seq, "offset": 0} if cursor is None else _parse_cursor(cursor)
        if "full" in state:
            snapshot_seq, offset = state["full"], state["offset"]
            records: list[Contact | Activity] = sorted(
                crm.contacts.values(), key=lambda c: c.id
            ) + sorted(crm.activities.values(), key=lambda a: (a.contact_id, a.id))
            while offset < len(records):
                chunk = records[offset : offset + crm.page_size]
                crm._serve_page()
                offset += len(chunk)
                done = offset >= len(records)  # then carry on from the change log
                yield Page(
                    contacts=[r for r in chunk if isinstance(r, Contact)],
                    activities=[r for r in chunk if isinstance(r, Activity)],
                    cursor=json.dumps(
                        {"seq": snapshot_seq} if done else {"full": snapshot_seq, "offset": offset}
                    ),
                )
            since = snapshot_seq
        else:
            since = state["seq"]
        changes = [c for c in crm.log if c[0] > since]
        for start in range(0, len(changes), crm.page_size):
            entries = changes[start : start + crm.page_size]
            crm._serve_page()
            contacts: list[Contact] = []
            activities: list[Activity] = []
            gone_activities: list[str] = []
            gone_contacts: list[str] = []
            for _, kind, key in entries:
                if kind == "contact" and key in crm.contacts:
                    contacts.append(crm.contacts[key])
                elif kind == "activity" and key in crm.activities:
                    activities.append(crm.activities[key])
                elif kind == "deleted_activity":
                    gone_activities.append(key)
                elif kind == "deleted_contact":
                    gone_contacts.append(key)
            yield Page(
                contacts=contacts,
                activities=activities,
                deleted_activity_ids=gone_activities,
                deleted_contact_ids=gone_contacts,
                cursor=json.dumps({"seq": entries[-1][0]}),
            )


def _parse_cursor(cursor: Cursor) -> dict[str, int]:
    try:
        state = json.loads(cursor)
        if not isinstance(state, dict):
            raise ValueError
        if not ("seq" in state or {"full", "offset"} <= state.keys()):
            raise ValueError
        return state
    except ValueError:
        raise InvalidInputError(f"not a memory CRM cursor: {cursor!r}") from None


@attrs.define
class MemoryWriter:
    """Writes scores onto existing contacts and bumps their last-modified stamp."""

    crm: MemoryCrm

    @property
    def batch_size(self) -> int:
        return self.crm.batch_size

    def write(self, updates: Sequence[ScoreUpdate]) -> Sequence[WriteResult]:
        crm = self.crm
        if len(updates) > crm.batch_size:
            raise ValueError(f"batch of {len(updates)} is over batch_size {crm.batch_size}")
        if crm.crash_after_batches is not None and crm.write_calls >= crm.crash_after_batches:
            raise WriterCrashed(f"connection dropped after {crm.write_calls} batches")
        if crm.quota_after_batches is not None and crm.write_calls >= crm.quota_after_batches:
            raise QuotaExhaustedError(f"write quota of {crm.quota_after_batches} batches used up")
        crm.write_calls += 1
        results = []
        for update in updates:
            contact_id = update.contact.id
            if contact_id not in crm.contacts:
                results.append(WriteResult(contact_id, False, "no such contact", gone=True))
                continue
            if contact_id in crm.refuse:
                results.append(
                    WriteResult(
                        contact_id, False, "refused by the CRM", retryable=crm.refuse[contact_id]
                    )
                )
                continue
            crm.scores[contact_id] = {
                "score": round(update.score.score),
                "band": update.score.band.value,
                "scored_at": update.scored_at,
            }
            crm.write_counts[contact_id] += 1
            # like a CRM: writing a property bumps the record's last-modified stamp
            crm.seq += 1
            crm.contacts[contact_id] = attrs.evolve(
                crm.contacts[contact_id], modified_at=crm._stamp()
            )
            crm.log.append((crm.seq, "contact", contact_id))
            results.append(WriteResult(contact_id, True))
        return results

    def close(self) -> None:
        return None
