"""The happy path through the real hubspot-api-client, replayed from vcrpy cassettes.

The cassettes were recorded against the fake HubSpot server (the only HTTP there
is here), which follows HubSpot's documented shapes; they are not recordings of
the live API. Re-record by deleting the cassette and running
``MUTUALITY_RECORD_CASSETTES=1 pytest tests/hubspot/test_hubspot_cassettes.py``
(vcrpy's "all" mode appends to an existing cassette).
Replays match method, path, query and body (POST bodies included), never the
host or port, and the Authorization header is filtered out before saving.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from mutuality_adapters.hubspot.connection import open_connection
from mutuality_adapters.hubspot.fake import Portal, engagement_for, running_fake_hubspot
from mutuality_adapters.hubspot.properties import setup_properties
from mutuality_adapters.hubspot.settings import HubSpotSettings
from mutuality_adapters.sqlite_state import SQLiteStateStore

from mutuality_core.sync import run_sync

vcr = pytest.importorskip("vcr")
pytest.importorskip("hubspot")

CASSETTES = Path(__file__).parent / "cassettes"
RECORD = os.environ.get("MUTUALITY_RECORD_CASSETTES") == "1"
TOKEN = "pat-na1-11111111-cassette-secret"


class Clock:
    """The adapter's wall clock: deterministic, so replayed request bodies match the recording.

    The fake portal keeps its own clock: its readings must not shift the adapter's.
    """

    def __init__(self, start: int = 1_767_225_600_000) -> None:
        self.ms = start

    def __call__(self) -> int:
        self.ms += 1
        return self.ms


def seeded_portal() -> Portal:
    portal = Portal(clock_ms=Clock(1_767_225_000_000))
    rows = [
        ("email", "outbound", "completed"),
        ("email", "inbound", "completed"),
        ("call", "outbound", "no_answer"),
        ("meeting", "mutual", "completed"),
        ("note", "unknown", "completed"),
    ]
    ids = [
        portal.add_contact({"email": f"c{i}@example.com", "firstname": f"C{i}"}) for i in range(4)
    ]
    for n, (channel, direction, outcome) in enumerate(rows * 2):
        object_type, props = engagement_for(
            {"occurred_at": f"2025-12-{n + 1:02d}T10:00:00Z", "channel": channel,
             "direction": direction, "outcome": outcome}
        )  # fmt: skip
        portal.add_engagement(object_type, props, [ids[n % 4]] + ([ids[0]] if n == 3 else []))
    return portal


def recorder() -> vcr.VCR:
    return vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode="all" if RECORD else "none",
        match_on=["method", "path", "query", "body"],
        filter_headers=["authorization"],
        decode_compressed_response=True,
    )


def run_happy_path(base_url: str, tmp_path: Path, clock: Clock, between=lambda: None) -> list:
    settings = HubSpotSettings.from_mapping(
        {"base_url": base_url, "search_lag_seconds": 0}, environ={"HUBSPOT_ACCESS_TOKEN": TOKEN}
    )
    connection = open_connection(settings, now_ms=clock, sleep=lambda s: None)
    actions = setup_properties(connection.source.api, settings)
    state = SQLiteStateStore(tmp_path / "state.sqlite")
    reports = []
    for run in range(2):
        if run:
            between()
        clock.ms += 60_000
        as_of = datetime.fromtimestamp(clock.ms / 1000, tz=timezone.utc)
        reports.append(run_sync(connection, state, as_of=as_of, now=lambda at=as_of: at))
    state.close()
    return [actions, *reports]


def test_happy_path_replays_through_the_real_client(tmp_path):
    clock = Clock()
    name = "happy_path.yaml"
    if RECORD:
        portal = seeded_portal()

        def new_reply() -> None:  # only while recording: the replay has it in the cassette
            object_type, props = engagement_for(
                {"occurred_at": "2025-12-20T10:00:00Z", "channel": "email",
                 "direction": "inbound", "outcome": "completed"}
            )  # fmt: skip
            clock.ms += 5_000  # a reply logged a little after the first run
            portal.add_engagement(object_type, props, [1001, 1002], modified_ms=clock.ms)

        with running_fake_hubspot(portal=portal) as server, recorder().use_cassette(name):
            actions, first, second = run_happy_path(server.base_url, tmp_path, clock, new_reply)
    else:

        def time_passes() -> None:  # as when recording; the reply itself is in the cassette
            clock.ms += 5_000

        with recorder().use_cassette(name) as cassette:
            actions, first, second = run_happy_path(
                "http://127.0.0.1:9", tmp_path, clock, time_passes
            )
            assert cassette.all_played
    assert len(actions) == 9  # the group and 8 properties
    assert first.full and first.contacts_read == 4 and first.activities_read == 11
    assert first.written == 4 and first.failed == 0
    assert not second.full and second.activities_read == 2  # one email, two contacts
    # the reply is to two contacts (1001 and 1002); exactly two scores change and are written
    assert second.contacts_read == 0 and second.written == second.changed == 2


def test_cassettes_hold_no_token():
    files = list(CASSETTES.glob("*.yaml"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert TOKEN not in text
        assert "Bearer" not in text
        assert "authorization" not in text.lower()
        assert "body:" in text and "/crm/v3/objects/contacts/batch/update" in text
