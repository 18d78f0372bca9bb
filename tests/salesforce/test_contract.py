"""The adapter test kit, run against the Salesforce adapter and the fake org."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
from mutuality_adapters.salesforce import plugin
from mutuality_adapters.salesforce.fake import FakeSalesforce, seed_rows
from mutuality_adapters.salesforce.fake.seed import BOOKING_USER_ID
from mutuality_adapters.salesforce.fields import FIELDS
from mutuality_testkit import AdapterContract
from mutuality_testkit.dataset import Dataset

from mutuality_core.model import Activity, Direction, Outcome
from mutuality_core.ports import Connection


def _rows(activities: list[Activity]) -> list[dict[str, str]]:
    return [
        {
            "id": a.id,
            "contact_id": a.contact_id,
            "occurred_at": a.occurred_at.isoformat(),
            "channel": a.channel.value,
            "direction": a.direction.value,
            "outcome": a.outcome.value,
            "thread_id": a.thread_id or "",
            "duration_seconds": "" if a.duration_seconds is None else str(a.duration_seconds),
            "automated": "1" if a.automated else "",
            "tags": ";".join(sorted(a.tags)),
        }
        for a in activities
    ]


class TestSalesforceAdapter(AdapterContract):
    plugin = plugin
    activity_fields: ClassVar[tuple[str, ...]] = (
        "occurred_at",
        "channel",
        "direction",
        "outcome",
        "tags",
    )

    #: Running fakes by connection target (the target names the fake's port).
    fakes: ClassVar[dict[str, FakeSalesforce]] = {}

    def dataset(self) -> Dataset:
        # An Event that was not held keeps who set it up (Events are created by a
        # user, or by a booking tool for the contact): a "mutual" canceled meeting
        # has no Salesforce form, so the kit's one is the user's (outbound).
        base = super().dataset()
        return Dataset(
            base.contacts,
            [
                attrs.evolve(a, direction=Direction.OUTBOUND)
                if a.channel.value == "meeting"
                and a.outcome is not Outcome.COMPLETED
                and a.direction is Direction.MUTUAL
                else a
                for a in base.activities
            ],
        )

    def seed(self, dataset: Dataset, tmp_path: Path) -> Connection:
        fake = FakeSalesforce().start()
        for spec in FIELDS:
            fake.org.add_custom_field(f"Contact.{spec.name}", spec.metadata, visible=True)
        contacts = [
            {"id": c.id, "email": c.email or "", "first_name": c.first_name or "",
             "last_name": c.last_name or "", "company": c.company or ""}
            for c in dataset.contacts
        ]  # fmt: skip
        seed_rows(fake.org, contacts, _rows(list(dataset.activities)))
        connection = plugin.connect(
            {"bulk_poll_seconds": 0, "booking_user_ids": BOOKING_USER_ID},
            environ=fake.environ(),
            sleep=lambda s: None,
        )
        self.fakes[connection.target] = fake

        def close() -> None:
            connection.close()
            fake.stop()

        return Connection(connection.target, connection.source, connection.writer, close)

    def add_activity(self, connection: Connection, activity: Activity) -> None:
        seed_rows(self.fakes[connection.target].org, [], _rows([activity]))

    def broken_connection(self, tmp_path: Path) -> Connection:
        fake = FakeSalesforce().start()
        environ = {**fake.environ(), "SALESFORCE_SESSION_ID": "not-a-valid-session"}
        connection = plugin.connect({}, environ=environ, sleep=lambda s: None)

        def close() -> None:
            connection.close()
            fake.stop()

        return Connection(connection.target, connection.source, connection.writer, close)

    def source_contact_id(self, connection: Connection, dataset_id: str) -> str:
        return self.fakes[connection.target].org.seed_contact_ids[dataset_id]

    def source_activity_id(self, connection: Connection, dataset_id: str) -> str:
        return self.fakes[connection.target].org.seed_activity_ids[dataset_id]

    def written_values(self, connection: Connection) -> Mapping[str, Mapping[str, Any]] | None:
        records = self.fakes[connection.target].org.records["Contact"]
        return {
            contact_id: {"score": r.get("Mutuality_Score__c"), "band": r.get("Mutuality_Band__c")}
            for contact_id, r in records.items()
            if r.get("Mutuality_Score__c") is not None
        }
