"""End to end: run_sync + SQLite state + the adapter + the fake org over HTTP."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from mutuality_adapters.salesforce import plugin
from mutuality_adapters.salesforce.fake import FakeSalesforce, seed_rows
from mutuality_adapters.salesforce.fields import FIELDS
from mutuality_adapters.sqlite_state import SQLiteStateStore

from mutuality_core.errors import AuthenticationError, CrmUnavailableError
from mutuality_core.sync import SyncOptions, run_sync

from .conftest import Clock, activity, contact_rows

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)
CHANNELS = ("email", "email", "call", "meeting", "message")


def crm(n: int, seed: int = 7) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    rng = random.Random(seed)
    contacts = contact_rows(n)
    acts = []
    for i in range(n):
        for j in range(rng.randint(1, 8)):
            when = AS_OF - timedelta(days=rng.uniform(1, 500))
            acts.append(
                activity(
                    f"a{i}-{j}",
                    f"c{i}",
                    when=when.isoformat(),
                    channel=rng.choice(CHANNELS),
                    direction=rng.choice(("inbound", "outbound")),
                    duration_seconds=str(rng.randint(0, 900)),
                )
            )
    acts.append(activity("shared", "c0", channel="meeting", direction="mutual"))
    acts.append(activity("shared", "c1", channel="meeting", direction="mutual"))
    return contacts, acts


@pytest.fixture
def org(fake: FakeSalesforce) -> dict[str, str]:
    for spec in FIELDS:
        fake.org.add_custom_field(f"Contact.{spec.name}", spec.metadata, visible=True)
    contacts, acts = crm(60)
    return seed_rows(fake.org, contacts, acts)


@pytest.fixture
def state(tmp_path: Path) -> Any:
    store = SQLiteStateStore(tmp_path / "state.db")
    yield store
    store.close()


def sync(
    fake: FakeSalesforce,
    state: Any,
    clock: Clock,
    sleeps: list[float],
    *,
    options: SyncOptions | None = None,
    progress: Any = None,
    **settings: Any,
) -> Any:
    settings.setdefault("bulk_poll_seconds", 0)
    connection = plugin.connect(settings, environ=fake.environ(), sleep=sleeps.append, clock=clock)
    try:
        return run_sync(
            connection, state, as_of=AS_OF, now=clock, options=options, progress=progress
        )
    finally:
        connection.close()
        clock.tick(60)


def assert_each_written_once(fake: FakeSalesforce, ids: dict[str, str]) -> None:
    assert {fake.org.updates[i] for i in ids.values()} == {1}


def test_full_then_no_change_then_new_activity(
    fake: FakeSalesforce, org: dict[str, str], state: Any, clock: Clock, sleeps: list[float]
) -> None:
    first = sync(fake, state, clock, sleeps)
    assert first.stopped_reason is None and first.written == 60 and first.failed == 0
    assert_each_written_once(fake, org)
    target = f"salesforce:127.0.0.1:{fake.port}"
    histories = {c.id: acts for c, acts in state.iter_histories(target)}
    # shared meeting credited to both contacts; every (activity, contact) once
    shared = fake.org.records["Event"]
    shared_id = next(i for i, r in shared.items() if r["Subject"] == "shared")
    assert {a.contact_id for h in histories.values() for a in h if a.id == shared_id} == {
        org["c0"],
        org["c1"],
    }
    for acts in histories.values():
        assert max(Counter(a.id for a in acts).values()) == 1

    calls_before = fake.org.api_used
    second = sync(fake, state, clock, sleeps)
    assert second.written == 0 and second.changed == 0
    assert fake.org.api_used - calls_before <= 12  # describes are cached: queries only

    for k in range(6):
        fake.org.insert(
            "Task",
            {
                "WhoId": org["c5"],
                "TaskSubtype": "Call",
                "CallType": "Inbound",
                "IsClosed": True,
                "CallDurationInSeconds": 600,
                "CompletedDateTime": (AS_OF - timedelta(days=k + 1)).strftime(
                    "%Y-%m-%dT%H:%M:%S.000+0000"
                ),
            },
        )
    third = sync(fake, state, clock, sleeps)
    assert third.written == 1
    assert fake.org.updates[org["c5"]] == 2
    assert sum(fake.org.updates.values()) == 61


def test_logged_email_counts_once(
    fake: FakeSalesforce, state: Any, clock: Clock, sleeps: list[float]
) -> None:
    for spec in FIELDS:
        fake.org.add_custom_field(f"Contact.{spec.name}", spec.metadata, visible=True)
    ids = seed_rows(fake.org, contact_rows(1), [activity("e", "c0", direction="inbound")])
    assert len(fake.org.records["Task"]) == 1 and len(fake.org.records["EmailMessage"]) == 1
    sync(fake, state, clock, sleeps)
    [(contact, acts)] = list(state.iter_histories(f"salesforce:127.0.0.1:{fake.port}"))
    assert contact.id == ids["c0"] and len(acts) == 1 and acts[0].direction.value == "inbound"


def test_lock_errors_then_next_run(
    fake: FakeSalesforce, org: dict[str, str], state: Any, clock: Clock, sleeps: list[float]
) -> None:
    locked = [org["c3"], org["c4"]]
    fake.org.lock_rows(locked, times=10)
    first = sync(fake, state, clock, sleeps, max_retries=2)
    assert first.failed == 2 and all(f.retryable for f in first.failures)
    fake.org.clear_faults()
    second = sync(fake, state, clock, sleeps)
    assert second.written == 2
    assert_each_written_once(fake, org)


def test_server_errors_then_next_run(
    fake: FakeSalesforce, org: dict[str, str], state: Any, clock: Clock, sleeps: list[float]
) -> None:
    fake.org.fail_next("server_error", times=5, path_contains="composite")
    with pytest.raises(CrmUnavailableError):
        sync(fake, state, clock, sleeps, max_retries=2, options=SyncOptions(batch_size=20))
    fake.org.clear_faults()
    sync(fake, state, clock, sleeps)
    assert_each_written_once(fake, org)


def test_expired_session_then_next_run(
    fake: FakeSalesforce, org: dict[str, str], state: Any, clock: Clock, sleeps: list[float]
) -> None:
    fake.org.fail_next("expired_session", path_contains="composite", skip=1)
    with pytest.raises(AuthenticationError):
        sync(fake, state, clock, sleeps, options=SyncOptions(batch_size=20))
    assert sum(fake.org.updates.values()) == 20
    sync(fake, state, clock, sleeps)
    assert_each_written_once(fake, org)


def test_allowance_guard_then_next_runs(
    fake: FakeSalesforce, org: dict[str, str], state: Any, clock: Clock, sleeps: list[float]
) -> None:
    fake.org.daily_limit = 60  # 25 % = 15 calls a run
    reports = []
    for _ in range(6):
        fake.org.api_used = 0  # the rolling 24 h window moves on
        reports.append(sync(fake, state, clock, sleeps, options=SyncOptions(batch_size=10)))
        if reports[-1].stopped_reason is None:
            break
    assert reports[0].stopped_reason == "quota"
    assert reports[-1].stopped_reason is None
    assert_each_written_once(fake, org)


def test_crash_mid_run_then_next_run(
    fake: FakeSalesforce, org: dict[str, str], state: Any, clock: Clock, sleeps: list[float]
) -> None:
    class Crash(Exception):
        pass

    def progress(stage: str, done: int, total: int | None) -> None:
        if stage == "write" and done >= 20:
            raise Crash

    with pytest.raises(Crash):
        sync(fake, state, clock, sleeps, options=SyncOptions(batch_size=10), progress=progress)
    assert 0 < sum(fake.org.updates.values()) < 60
    sync(fake, state, clock, sleeps)
    assert_each_written_once(fake, org)


def test_crash_mid_read_resumes(
    fake: FakeSalesforce, org: dict[str, str], state: Any, clock: Clock, sleeps: list[float]
) -> None:
    fake.org.fail_next("server_error", times=10, path_contains="query", skip=3)
    with pytest.raises(CrmUnavailableError):
        sync(fake, state, clock, sleeps, max_retries=1, page_size=200)
    fake.org.clear_faults()
    report = sync(fake, state, clock, sleeps)
    assert report.written == 60
    assert_each_written_once(fake, org)


def test_five_thousand_tasks_on_one_stamp_read_once_across_a_crash(
    fake: FakeSalesforce, state: Any, clock: Clock, sleeps: list[float]
) -> None:
    for spec in FIELDS:
        fake.org.add_custom_field(f"Contact.{spec.name}", spec.metadata, visible=True)
    ids = list(seed_rows(fake.org, contact_rows(50), []).values())
    stamp = fake.org.now_stamp()
    for k in range(5000):
        fake.org.insert(
            "Task",
            {"WhoId": ids[k % 50], "TaskSubtype": "Call", "CallType": "Outbound", "IsClosed": True,
             "CallDurationInSeconds": 60, "CompletedDateTime": "2026-10-01T10:00:00.000+0000"},
            stamp=stamp,
        )  # fmt: skip
    # the 5th page of Tasks (200 a page) fails for good: the run stops mid-read
    fake.org.fail_next("server_error", times=10, path_contains="query/", skip=3)
    with pytest.raises(CrmUnavailableError):
        sync(fake, state, clock, sleeps, max_retries=1, page_size=200)
    fake.org.clear_faults()
    first_target = f"salesforce:127.0.0.1:{fake.port}"
    cached_before = sum(len(a) for _c, a in state.iter_histories(first_target))
    assert 0 < cached_before < 5000
    report = sync(fake, state, clock, sleeps, page_size=200)
    assert report.stopped_reason is None and report.written == 50
    histories = list(state.iter_histories(first_target))
    assert sum(len(a) for _c, a in histories) == 5000
    assert report.activities_read == 5000 - cached_before  # the rest, nothing twice
    assert {fake.org.updates[i] for i in ids} == {1}


def test_server_errors_part_way_through_a_batch(
    fake: FakeSalesforce, state: Any, clock: Clock, sleeps: list[float]
) -> None:
    for spec in FIELDS:
        fake.org.add_custom_field(f"Contact.{spec.name}", spec.metadata, visible=True)
    ids = seed_rows(fake.org, contact_rows(450), [activity(f"a{i}", f"c{i}") for i in range(450)])
    fake.org.fail_next("server_error", times=10, path_contains="composite", skip=1)
    connection = plugin.connect(
        {"max_retries": 1, "bulk_poll_seconds": 0},
        environ=fake.environ(),
        sleep=sleeps.append,
        clock=clock,
    )
    # one batch, three requests; the error that cut its last write short is not lost:
    # the run raises it and records it, with the 200 contacts written before it
    with pytest.raises(CrmUnavailableError, match="HTTP 503"):
        run_sync(connection, state, as_of=AS_OF, now=clock)
    (first,) = state.runs(connection.target, limit=1)
    assert first["status"] == "error" and "HTTP 503" in first["report"]["error"]
    assert (first["report"]["written"], first["report"]["failed"]) == (200, 250)
    connection.close()  # already raised once: closing is quiet
    clock.tick(60)
    fake.org.clear_faults()
    second = sync(fake, state, clock, sleeps)
    assert second.written == 250
    assert_each_written_once(fake, ids)
