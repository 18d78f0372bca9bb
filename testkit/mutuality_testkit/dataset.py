"""The known dataset every adapter is seeded with by the contract suite."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import attrs

from mutuality_core.model import Activity, Contact

__all__ = ["Dataset", "default_dataset"]

#: The moment the dataset's histories lead up to; pass it as ``as_of`` when scoring.
AS_OF = datetime(2026, 3, 1, tzinfo=timezone.utc)


@attrs.frozen
class Dataset:
    """Contacts and activities to seed a source with. Ids are the dataset's own."""

    contacts: Sequence[Contact]
    activities: Sequence[Activity]
    as_of: datetime = AS_OF

    def contact(self, contact_id: str) -> Contact:
        return next(c for c in self.contacts if c.id == contact_id)


def default_dataset() -> Dataset:
    """Five contacts and fifteen activities that exercise every field a source maps.

    ``kit-4`` has no activities; meeting ``m-1`` involves two contacts (the same
    activity id once per contact); timestamps have whole seconds in UTC so that
    CRMs that store seconds or milliseconds round-trip them exactly.
    """
    day = timedelta(days=1)
    contacts = [
        Contact("kit-0", email="ada@example.com", first_name="Ada", last_name="Lovelace",
                company="Analytical"),
        Contact("kit-1", email="grace@example.com", first_name="Grace", last_name="Hopper",
                company="Navy"),
        Contact("kit-2", email="alan@example.com", first_name="Alan", last_name="Turing"),
        Contact("kit-3", email="edsger@example.com", first_name="Edsger"),
        Contact("kit-4", email="quiet@example.com"),
    ]  # fmt: skip
    t0 = AS_OF - 60 * day

    def at(days: float) -> datetime:
        return t0 + timedelta(days=days)

    activities = [
        Activity("e-1", "kit-0", at(1), "email", "outbound", thread_id="th-1"),
        Activity("e-2", "kit-0", at(1.25), "email", "inbound", thread_id="th-1"),
        Activity("e-3", "kit-0", at(10), "email", "inbound", thread_id="th-2", tags="ask"),
        Activity("e-4", "kit-0", at(11), "email", "outbound", thread_id="th-2", tags="give"),
        Activity("c-1", "kit-1", at(3), "call", "outbound", outcome="no_answer"),
        Activity("c-2", "kit-1", at(4), "call", "outbound", duration_seconds=600.0),
        Activity("e-5", "kit-1", at(20), "email", "outbound", thread_id="th-3"),
        Activity("e-6", "kit-1", at(30), "email", "outbound", automated=True),
        Activity("m-1", "kit-1", at(40), "meeting", "mutual", duration_seconds=1800.0),
        Activity("m-1", "kit-2", at(40), "meeting", "mutual", duration_seconds=1800.0),
        Activity("e-7", "kit-2", at(41), "email", "inbound", thread_id="th-4"),
        Activity("e-8", "kit-2", at(42), "email", "outbound", thread_id="th-4"),
        Activity("n-1", "kit-3", at(5), "note", "unknown"),
        Activity("m-2", "kit-3", at(6), "meeting", "mutual", outcome="canceled"),
        Activity("e-9", "kit-3", at(50), "email", "inbound", thread_id="th-5"),
    ]
    return Dataset(contacts, activities)
