"""End to end through run_sync: the fake portal, the real client, the SQLite state store.

Each scenario ends with every score written exactly once (the fake counts writes per contact).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from mutuality_adapters.hubspot.connection import open_connection
from mutuality_adapters.hubspot.fake import Fault, RateLimits, engagement_for
from mutuality_adapters.hubspot.properties import setup_properties
from mutuality_adapters.sqlite_state import SQLiteStateStore

from mutuality_core.errors import CrmUnavailableError
from mutuality_core.sync import run_sync

pytest.importorskip("hubspot")

START = datetime(2025, 6, 1, tzinfo=timezone.utc)


def seed(portal, contacts: int, *, seed: int = 3) -> list[int]:
    rng = random.Random(seed)
    ids = []
    for n in range(contacts):
        cid = portal.add_contact({"email": f"p{n}@example.com", "firstname": f"P{n}"})
        ids.append(cid)
        for _ in range(rng.randint(1, 8)):
            when = START + timedelta(days=rng.randint(0, 200), minutes=rng.randint(0, 900))
            row = {
                "occurred_at": when.isoformat(),
                "channel": rng.choice(["email", "email", "call", "meeting", "note"]),
                "direction": rng.choice(["outbound", "outbound", "inbound"]),
                "outcome": rng.choice(["completed", "completed", "no_answer"]),
            }
            object_type, props = engagement_for(row)
            others = [cid] + ([ids[rng.randrange(len(ids))]] if rng.random() < 0.1 else [])
            portal.add_engagement(object_type, props, others)
    return ids


class Harness:
    """One portal, one state file; ``sync()`` runs like the nightly job would."""

    def __init__(self, server, portal, wall, fake_time, settings_for, tmp_path, **overrides):
        self.server, self.portal, self.wall = server, portal, wall
        self.settings = settings_for(server.base_url, **overrides)
        self.fake_time = fake_time
        self.state = SQLiteStateStore(tmp_path / "state.sqlite")
        self.connections = []

    def connection(self, **overrides):
        settings = (
            self.settings
            if not overrides
            else type(self.settings).from_mapping(
                {"base_url": self.server.base_url, "search_lag_seconds": 0, **overrides},
                environ={"HUBSPOT_ACCESS_TOKEN": self.settings.access_token},
            )
        )
        connection = open_connection(
            settings, clock=self.fake_time.clock, sleep=self.fake_time.sleep, now_ms=self.wall
        )
        self.connections.append(connection)
        return connection

    def sync(self, connection=None, **options):
        from mutuality_core.sync import SyncOptions

        self.wall.advance(60)
        as_of = datetime.fromtimestamp(self.wall.ms / 1000, tz=timezone.utc)
        connection = connection or self.connection()
        report = run_sync(
            connection,
            self.state,
            as_of=as_of,
            now=lambda: as_of,
            options=SyncOptions(**options),
        )
        self.wall.advance(5)
        return report

    @property
    def writes(self):
        return self.server.app.writes_by_contact


@pytest.fixture
def harness(server, portal, wall, fake_time, settings_for, tmp_path):
    h = Harness(server, portal, wall, fake_time, settings_for, tmp_path)
    setup_properties(h.connection().source.api, h.settings)
    server.app.reset_stats()
    yield h
    h.state.close()


def test_full_sync_writes_each_contact_once_and_a_rerun_writes_nothing(harness, portal, server):
    ids = seed(portal, 230)
    report = harness.sync()
    assert report.full and report.written == 230 and report.failed == 0
    assert harness.writes == {str(i): 1 for i in ids}
    props = portal.get("contacts", ids[0]).properties
    assert props["mutuality_band"] in {"mutual", "you_invest_more", "they_invest_more",
                                       "dormant", "insufficient_data"}  # fmt: skip
    assert float(props["mutuality_score"]) >= 0 and props["mutuality_reasons"]
    server.app.reset_stats()
    again = harness.sync()
    assert again.written == 0 and not again.full
    assert again.contacts_read == 0  # contacts changed only by our own write are not "changed"
    assert server.app.stats["batch/update contacts"] == 0
    # The portal id (the state key) costs 1 request; reading back our own 230 writes
    # costs 2 contact searches; the other types 1 each.
    assert server.app.stats["account details"] == 1
    assert server.app.stats["total"] == 1 + 2 + 5
    server.app.reset_stats()
    third = harness.sync()
    assert third.written == 0 and server.app.stats["total"] == 1 + 6


def test_new_engagements_rescore_only_their_contacts(harness, portal):
    ids = seed(portal, 120)
    harness.sync()
    before = dict(harness.writes)
    touched = ids[:5]
    for cid in touched:
        for day in range(12):
            when = START + timedelta(days=210 + day)
            for direction in ("inbound", "outbound"):
                object_type, props = engagement_for(
                    {"occurred_at": when.isoformat(), "channel": "email",
                     "direction": direction, "outcome": "completed"}
                )  # fmt: skip
                portal.add_engagement(object_type, props, [cid])
    report = harness.sync()
    assert report.activities_read == 5 * 24
    rewritten = {c for c, n in harness.writes.items() if n > before.get(c, 0)}
    assert rewritten and rewritten <= {str(c) for c in touched}
    assert report.written == len(rewritten)


def test_ten_thousand_new_contacts_on_one_timestamp_are_written_once(harness, portal, server):
    seed(portal, 20)
    harness.sync()
    stamp = harness.wall.ms + 1000
    new = [
        portal.add_contact({"email": f"bulk{i}@x.com"}, modified_ms=stamp) for i in range(10_050)
    ]
    harness.wall.ms = stamp + 2000
    server.app.reset_stats()
    report = harness.sync()
    assert report.contacts_read == 10_050 and report.written == 10_050
    assert all(harness.writes[str(c)] == 1 for c in new)
    assert server.app.stats["search contacts"] == 51
    assert server.app.stats["status 400"] == 0


def test_partial_failures_are_reported_then_written_by_the_next_run(harness, portal, server):
    ids = seed(portal, 150)
    stubborn = [str(i) for i in ids[10:14]]
    server.app.fail_updates(stubborn, times=2)  # fails the write and its one retry
    report = harness.sync()
    assert report.failed == 4 and {f.contact_id for f in report.failures} == set(stubborn)
    assert report.written == 146
    again = harness.sync()
    assert again.written == 4 and again.failed == 0
    assert harness.writes == {str(i): 1 for i in ids}


def test_429_bursts_are_waited_out(harness, portal, server):
    ids = seed(portal, 250)
    server.app.inject(Fault(status=429, times=4, path="batch/update", retry_after=2))
    server.app.inject(Fault(status=429, times=3, path="/crm/v3/objects/emails$"))
    report = harness.sync()
    assert report.written == 250 and report.stopped_reason is None
    assert harness.writes == {str(i): 1 for i in ids}
    assert server.app.stats["429 TEN_SECONDLY_ROLLING"] == 7
    assert sum(harness.fake_time.sleeps) >= 4 * 2 + 3 * 10


def read_cost(harness, server) -> int:
    """Requests a full read costs here: a dry run reads everything and saves nothing."""
    harness.sync(dry_run=True)
    cost = server.app.stats["total"]
    server.app.reset_stats()
    return cost


def test_a_daily_limit_stop_in_the_read_saves_state_and_the_next_day_finishes(
    harness, portal, server
):
    ids = seed(portal, 350)
    server.app.limits = RateLimits(per_day=4)  # the portal id and 3 pages of contacts
    server.app.new_day()
    report = harness.sync()
    assert report.stopped_reason == "quota" and report.written == 0
    assert server.app.stats["429 DAILY"] == 1 and server.app.stats["total"] == 5
    server.app.reset_stats()
    server.app.new_day()
    server.app.limits = RateLimits(per_day=100)
    second = harness.sync()
    assert second.stopped_reason is None and second.written == 350
    assert server.app.stats["list contacts"] == 1  # resumed after the 3 pages read the day before
    assert harness.writes == {str(i): 1 for i in ids}


def test_a_daily_limit_stop_in_the_write_saves_state_and_the_next_day_finishes(
    harness, portal, server
):
    ids = seed(portal, 350)
    reads = read_cost(harness, server)
    server.app.limits = RateLimits(per_day=reads + 2)  # the read and 2 of the 4 batches
    server.app.new_day()
    first = harness.sync()
    assert first.stopped_reason == "quota" and first.written == 200
    assert server.app.stats["429 DAILY"] == 1
    server.app.new_day()
    second = harness.sync()
    assert second.stopped_reason is None and second.written == 150
    assert harness.writes == {str(i): 1 for i in ids}


def test_a_request_budget_stops_cleanly_in_the_read(harness, portal, server):
    ids = seed(portal, 250)
    first = harness.sync(connection=harness.connection(max_requests=9))
    assert first.stopped_reason == "quota" and first.written == 0
    assert server.app.stats["total"] == 9
    second = harness.sync()
    assert second.stopped_reason is None and second.written == 250
    assert harness.writes == {str(i): 1 for i in ids}


def test_a_request_budget_stops_cleanly_in_the_write(harness, portal, server):
    ids = seed(portal, 250)
    reads = read_cost(harness, server)
    first = harness.sync(connection=harness.connection(max_requests=reads + 1))
    assert first.stopped_reason == "quota" and first.written == 100
    assert server.app.stats["batch/update contacts"] == 1
    second = harness.sync()
    assert second.stopped_reason is None and second.written == 150
    assert harness.writes == {str(i): 1 for i in ids}


class _CrashingWriter:
    def __init__(self, inner, after_batches):
        self.inner, self.left = inner, after_batches
        self.batch_size = inner.batch_size

    def write(self, updates):
        if self.left == 0:
            raise RuntimeError("power cut")
        self.left -= 1
        return self.inner.write(updates)

    def close(self):
        self.inner.close()


def test_a_crash_mid_write_loses_nothing(harness, portal):
    import attrs

    ids = seed(portal, 420)
    connection = harness.connection()
    crashing = attrs.evolve(connection, writer=_CrashingWriter(connection.writer, 2))
    with pytest.raises(RuntimeError, match="power cut"):
        harness.sync(connection=crashing)
    assert sum(harness.writes.values()) == 200
    report = harness.sync()
    assert report.written == 220
    assert harness.writes == {str(i): 1 for i in ids}


def test_a_crash_mid_read_resumes_the_full_read(harness, portal, server):
    ids = seed(portal, 260)
    server.app.inject(Fault(status=503, times=99, path="/crm/v3/objects/calls$"))
    with pytest.raises(CrmUnavailableError):
        harness.sync()
    assert sum(harness.writes.values()) == 0
    server.app.faults.clear()
    server.app.reset_stats()
    report = harness.sync()
    assert server.app.stats["list contacts"] == 0  # resumed after the contacts already stored
    assert report.written == 260
    assert harness.writes == {str(i): 1 for i in ids}


@pytest.mark.parametrize("limit", ["daily", "budget"])
def test_a_retry_stopped_by_the_limit_keeps_the_batch_successes(harness, portal, server, limit):
    """The first batch's successes are recorded even when its retry of 3 records is refused."""
    ids = seed(portal, 150)
    harness.sync(dry_run=True)  # counts the requests a full read costs (a dry run saves nothing)
    reads = server.app.stats["total"]
    server.app.reset_stats()
    server.app.fail_updates([str(i) for i in ids[:3]], times=1, category="INTERNAL_ERROR")
    if limit == "daily":  # the read and the first batch update fit in the day; the retry not
        server.app.limits = RateLimits(per_day=reads + 1)
        server.app.new_day()
        connection = harness.connection()
    else:
        connection = harness.connection(max_requests=reads + 1)
    first = harness.sync(connection=connection)
    assert first.stopped_reason == "quota"
    assert server.app.stats["batch/update contacts"] == 1 + (limit == "daily")
    assert first.written == 97 and first.failed == 3
    assert all(f.retryable for f in first.failures)
    assert sum(harness.writes.values()) == 97
    server.app.limits = RateLimits()
    second = harness.sync()
    assert second.stopped_reason is None and second.written == 53
    assert harness.writes == {str(i): 1 for i in ids}


def test_our_own_writes_are_recognised_with_a_backdated_as_of(harness, portal, server):
    """``--as-of`` in the past (the README demo): our writes are still ours, not changes."""
    from mutuality_core.sync import SyncOptions

    ids = seed(portal, 40)
    as_of = START + timedelta(days=210)  # months before the wall clock
    for _ in range(2):
        harness.wall.advance(60)
        report = run_sync(
            harness.connection(), harness.state, as_of=as_of, now=lambda: as_of,
            options=SyncOptions(),
        )  # fmt: skip
    assert report.contacts_read == 0  # the first run's 40 writes are not re-read as changes
    assert harness.writes == {str(i): 1 for i in ids}


class _SlowWriter:
    """Writes after the run has been going for ``seconds`` (a long read before the write)."""

    def __init__(self, inner, wall, seconds):
        self.inner, self.wall, self.seconds = inner, wall, seconds
        self.batch_size = inner.batch_size

    def write(self, updates):
        self.wall.advance(self.seconds)
        self.seconds = 0
        return self.inner.write(updates)

    def close(self):
        self.inner.close()


def test_our_own_writes_are_recognised_after_a_run_longer_than_the_window(harness, portal):
    import attrs

    ids = seed(portal, 30)
    connection = harness.connection()
    slow = _SlowWriter(connection.writer, harness.wall, 3600)
    harness.sync(connection=attrs.evolve(connection, writer=slow))
    assert harness.writes == {str(i): 1 for i in ids}
    again = harness.sync()
    assert again.contacts_read == 0 and again.written == 0


def test_two_portals_behind_one_url_keep_separate_state(wall, fake_time, settings_for, tmp_path):
    """One state file, two portals at the same base URL (as api.hubapi.com serves every
    portal): each portal has its own cursor and cache, so the second is read in full."""
    from mutuality_adapters.hubspot.fake import Portal, running_fake_hubspot

    first, second = Portal(clock_ms=wall, portal_id=111), Portal(clock_ms=wall, portal_id=222)
    seed(first, 30, seed=1)
    ids = seed(second, 20, seed=2)
    state = SQLiteStateStore(tmp_path / "state.sqlite")
    reports = []
    port = 0
    try:
        for portal in (first, second):
            with running_fake_hubspot(portal=portal, port=port) as server:
                port = server.port
                settings = settings_for(server.base_url)
                connection = open_connection(
                    settings, clock=fake_time.clock, sleep=fake_time.sleep, now_ms=wall
                )
                setup_properties(connection.source.api, settings)
                server.app.reset_stats()
                wall.advance(60)
                as_of = datetime.fromtimestamp(wall.ms / 1000, tz=timezone.utc)
                reports.append(run_sync(connection, state, as_of=as_of, now=lambda t=as_of: t))
                writes = dict(server.app.writes_by_contact)
    finally:
        state.close()
    assert [r.target for r in reports] == ["hubspot:portal-111", "hubspot:portal-222"]
    assert reports[1].full and reports[1].written == 20
    assert writes == {str(i): 1 for i in ids}


def test_engagements_of_two_types_sharing_an_id_are_two_activities(harness, portal):
    """HubSpot does not document one id space across engagement types (communications
    are not legacy engagements): an email and a call with one id must both count."""
    cid = portal.add_contact({"email": "same@example.com"})
    for object_type, channel in (("emails", "email"), ("calls", "call")):
        _, props = engagement_for(
            {"occurred_at": "2025-09-01T10:00:00Z", "channel": channel,
             "direction": "inbound", "outcome": "completed"}
        )  # fmt: skip
        portal.add_engagement(object_type, props, [cid], id=7000)
    connection = harness.connection()
    harness.sync(connection=connection)
    ((contact, activities),) = list(harness.state.iter_histories(connection.target))
    assert contact.id == str(cid)
    assert sorted(a.id for a in activities) == ["calls:7000", "emails:7000"]
    assert sorted(a.channel.value for a in activities) == ["call", "email"]


def test_records_read_without_the_optional_properties_stay_so_until_a_full_run(
    harness, portal, server
):
    """What docs/hubspot.md says of a refused search: the weaker mapping is cached, a later
    incremental run does not re-read the record, and a ``--full`` run maps it fully."""
    cid = portal.add_contact({"email": "a@x.com"})
    connection = harness.connection()
    harness.sync(connection=connection)
    row = {"occurred_at": "2025-09-01T10:00:00Z", "channel": "email", "direction": "outbound",
           "outcome": "completed", "automated": "true"}  # fmt: skip
    object_type, props = engagement_for(row)
    assert "noreply" in props["hs_email_headers"]  # the sender the heuristic needs
    portal.add_engagement(object_type, props, [cid])

    def cached_automated() -> list[bool]:
        return [a.automated for _, acts in harness.state.iter_histories(connection.target)
                for a in acts]  # fmt: skip

    server.app.inject(Fault(status=400, times=1, path="emails/search", method="POST"))
    harness.sync()
    assert cached_automated() == [False]  # read without hs_email_from_email
    harness.sync()
    assert cached_automated() == [False]  # not re-read by the next incremental run
    harness.sync(full=True)
    assert cached_automated() == [True]


def test_a_limit_that_stops_the_last_batchs_retry_still_ends_the_run_as_stopped(
    harness, portal, server
):
    """With one batch only, the held-back stop is raised by ``finish()``: "quota", not silence."""
    ids = seed(portal, 60)
    harness.sync(dry_run=True)
    reads = server.app.stats["total"]
    server.app.reset_stats()
    server.app.fail_updates([str(i) for i in ids[:3]], times=1, category="INTERNAL_ERROR")
    first = harness.sync(connection=harness.connection(max_requests=reads + 1))
    assert first.stopped_reason == "quota"
    assert (first.written, first.failed) == (57, 3)
    second = harness.sync()
    assert second.stopped_reason is None and second.written == 3
    assert harness.writes == {str(i): 1 for i in ids}
