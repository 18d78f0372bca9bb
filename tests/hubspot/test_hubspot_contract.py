"""The adapter test kit (mutuality_testkit.AdapterContract) against the HubSpot adapter + fake."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
from mutuality_adapters.hubspot import plugin
from mutuality_adapters.hubspot.connection import open_connection
from mutuality_adapters.hubspot.fake import FakeHubSpotServer, Portal, engagement_for
from mutuality_adapters.hubspot.fake.app import FakeHubSpotApp
from mutuality_adapters.hubspot.mapping import activity_id_for
from mutuality_adapters.hubspot.properties import setup_properties
from mutuality_adapters.hubspot.settings import HubSpotSettings
from mutuality_testkit import AdapterContract, Dataset, default_dataset

from mutuality_core.model import Activity, Direction, Outcome
from mutuality_core.ports import Connection

pytest.importorskip("hubspot")

TOKEN = "pat-na1-contract-token"


class Tick:
    """Shared by portal and adapter: every reading is 1 ms later (time passes)."""

    def __init__(self) -> None:
        self.ms = 1_767_225_600_000

    def __call__(self) -> int:
        self.ms += 1
        return self.ms


@attrs.define
class _Portal:
    server: FakeHubSpotServer
    clock: Tick
    contact_ids: dict[str, int] = attrs.field(factory=dict)
    activity_ids: dict[str, str] = attrs.field(factory=dict)  # dataset id -> "emails:123"


def _row(activity: Activity) -> dict[str, str]:
    return {
        "occurred_at": activity.occurred_at.isoformat(),
        "channel": activity.channel.value,
        "direction": activity.direction.value,
        "outcome": activity.outcome.value,
        "thread_id": activity.thread_id or "",
        "duration_seconds": ""
        if activity.duration_seconds is None
        else str(activity.duration_seconds),
        "tags": ";".join(sorted(activity.tags)),
    }


class TestHubSpotContract(AdapterContract):
    plugin = plugin
    activity_fields: ClassVar[tuple[str, ...]] = ("occurred_at", "channel", "direction", "outcome")
    contact_fields: ClassVar[tuple[str, ...]] = ("email", "first_name", "last_name", "company")
    portals: ClassVar[dict[str, _Portal]] = {}

    def dataset(self) -> Dataset:
        """The kit's dataset, with the one activity HubSpot cannot express as seeded: a
        canceled meeting carries no direction in HubSpot (only a held one is mutual)."""
        base = default_dataset()
        activities = [
            attrs.evolve(a, direction=Direction.UNKNOWN)
            if a.channel.value == "meeting" and a.outcome is not Outcome.COMPLETED
            else a
            for a in base.activities
        ]
        return attrs.evolve(base, activities=activities)

    def seed(self, dataset: Dataset, tmp_path: Path) -> Connection:
        clock = Tick()
        portal = Portal(clock_ms=clock)
        server = FakeHubSpotServer(FakeHubSpotApp(portal, token=TOKEN)).start()
        state = _Portal(server, clock)
        for contact in dataset.contacts:
            props = {
                "email": contact.email,
                "firstname": contact.first_name,
                "lastname": contact.last_name,
                "company": contact.company,
            }
            state.contact_ids[contact.id] = portal.add_contact(
                {k: v for k, v in props.items() if v}
            )
        for activity in dataset.activities:
            self._add(state, activity)
        settings = HubSpotSettings.from_mapping(
            {"base_url": server.base_url, "search_lag_seconds": 0},
            environ={"HUBSPOT_ACCESS_TOKEN": TOKEN},
        )
        connection = open_connection(settings, now_ms=clock, sleep=lambda s: None)
        setup_properties(connection.source.api, settings)
        self.portals[connection.target] = state

        def close() -> None:
            connection.writer.close()
            server.stop()
            self.portals.pop(connection.target, None)

        return attrs.evolve(connection, close=close)

    def _add(self, state: _Portal, activity: Activity) -> None:
        portal = state.server.portal
        contact = state.contact_ids[activity.contact_id]
        if activity.id in state.activity_ids:  # a shared engagement: one more contact
            object_type, _ = engagement_for(_row(activity))
            engagement = int(state.activity_ids[activity.id].split(":")[1])
            portal.associate(object_type, engagement, "contacts", contact)
            return
        object_type, props = engagement_for(_row(activity))
        engagement = portal.add_engagement(object_type, props, [contact])
        state.activity_ids[activity.id] = activity_id_for(object_type, engagement)

    def add_activity(self, connection: Connection, activity: Activity) -> None:
        state = self.portals[connection.target]
        state.clock.ms += 1000  # logged a moment after the last read
        self._add(state, activity)

    def broken_connection(self, tmp_path: Path) -> Connection:
        server = FakeHubSpotServer(FakeHubSpotApp(Portal(), token="the-real-token")).start()
        settings = HubSpotSettings.from_mapping(
            {"base_url": server.base_url}, environ={"HUBSPOT_ACCESS_TOKEN": "a-revoked-token"}
        )
        connection = open_connection(settings, sleep=lambda s: None)
        return attrs.evolve(connection, close=server.stop)

    def source_contact_id(self, connection: Connection, dataset_id: str) -> str:
        return str(self.portals[connection.target].contact_ids[dataset_id])

    def source_activity_id(self, connection: Connection, dataset_id: str) -> str:
        state = self.portals[connection.target]
        return state.activity_ids[dataset_id]

    def written_values(self, connection: Connection) -> Mapping[str, Mapping[str, Any]] | None:
        portal = self.portals[connection.target].server.portal
        names = connection.writer.settings.properties
        return {
            str(record.id): {
                "score": record.properties.get(names.score),
                "band": record.properties.get(names.band),
            }
            for record in portal.iter_records("contacts")
            if record.properties.get(names.score) is not None
        }
