"""The org is the truth (issue 12): drifted scores are repaired, failed writes retried,
deleted contacts forgotten, and ``verify`` counts what differs. Against the fake org."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from mutuality_adapters.salesforce import plugin
from mutuality_adapters.salesforce.fake import FakeSalesforce, seed_rows
from mutuality_adapters.salesforce.fields import FIELD_NAMES, FIELDS
from mutuality_adapters.sqlite_state import SQLiteStateStore
from mutuality_cli.main import cli

from mutuality_core.reconcile import verify_connection
from mutuality_core.sync import SyncOptions, run_sync

from .test_sync_e2e import AS_OF, crm, sync

USER_EDIT = {"LastModifiedById": "005USER000000001AAA"}  # a person, not the integration user


@pytest.fixture
def org(fake: FakeSalesforce) -> dict[str, str]:
    """60 contacts with activities, the Mutuality fields set up (seed id -> Salesforce id)."""
    for spec in FIELDS:
        fake.org.add_custom_field(f"Contact.{spec.name}", spec.metadata, visible=True)
    return seed_rows(fake.org, *crm(60))


@pytest.fixture
def state(tmp_path):
    store = SQLiteStateStore(tmp_path / "state.db")
    yield store
    store.close()


def run(fake, state, clock, sleeps, **options: Any):
    return sync(fake, state, clock, sleeps, options=SyncOptions(**options))


def band_of(fake: FakeSalesforce, contact_id: str) -> str:
    return fake.org.records["Contact"][contact_id]["Mutuality_Band__c"]


def other_band(band: str) -> str:
    return "dormant" if band != "dormant" else "mutual"


def verify(fake, state, clock, sleeps):
    connection = plugin.connect({}, environ=fake.environ(), sleep=sleeps.append, clock=clock)
    try:
        return verify_connection(connection, state)
    finally:
        connection.close()


def test_cleared_fields_are_rewritten_by_a_full_sync_and_an_incremental_then_writes_nothing(
    fake, org, state, clock, sleeps
):
    assert run(fake, state, clock, sleeps).written == 60
    for contact_id in org.values():
        fake.org.modify("Contact", contact_id, {**dict.fromkeys(FIELD_NAMES), **USER_EDIT})
    clock.tick(60)
    full = run(fake, state, clock, sleeps, full=True)
    assert full.repaired == 60 and full.repaired_by_reason == {"missing": 60}
    assert full.changed == 0 and full.written == 60 and full.failed == 0
    assert {fake.org.updates[i] for i in org.values()} == {2}
    assert all(band_of(fake, i) for i in org.values())
    calls = fake.org.api_used
    again = run(fake, state, clock, sleeps)
    assert not again.full and again.written == 0 and again.repaired == 0
    assert fake.org.api_used - calls == 7  # one query per object, as before


def test_a_band_edited_by_a_person_is_rewritten_by_the_next_incremental_sync_alone(
    fake, org, state, clock, sleeps
):
    run(fake, state, clock, sleeps)
    edited = org["c7"]
    band = band_of(fake, edited)
    fake.org.modify("Contact", edited, {"Mutuality_Band__c": other_band(band), **USER_EDIT})
    clock.tick(60)
    before = dict(fake.org.updates)
    report = run(fake, state, clock, sleeps)
    assert not report.full
    assert report.repairs == ((edited, "edited"),) and report.written == 1
    changed = {i for i, n in fake.org.updates.items() if n != before.get(i)}
    assert changed == {edited}
    assert band_of(fake, edited) == band


def test_three_locked_contacts_are_written_by_the_next_run_and_shown_retried(
    fake, org, state, clock, sleeps
):
    locked = [org["c3"], org["c4"], org["c5"]]
    fake.org.lock_rows(locked, times=5)  # the first write and its 4 retries in the run
    first = run(fake, state, clock, sleeps)
    assert first.written == 57 and first.failed == 3
    assert sorted(f.contact_id for f in first.failures) == sorted(locked)
    assert all("UNABLE_TO_LOCK_ROW" in f.error for f in first.failures)
    before = dict(fake.org.updates)
    second = run(fake, state, clock, sleeps)  # no activity changed
    assert second.written == 3 and second.retried == 3 and second.failed == 0
    assert {i for i, n in fake.org.updates.items() if n != before.get(i)} == set(locked)
    runs = state.runs(limit=2)
    assert runs[1]["report"]["failed"] == 3 and runs[0]["report"]["retried"] == 3
    assert run(fake, state, clock, sleeps).written == 0


def test_a_deleted_contact_is_forgotten_and_never_written_again(fake, org, state, clock, sleeps):
    run(fake, state, clock, sleeps)
    purged, binned = org["c4"], org["c9"]
    with fake.org._lock:  # emptied from the recycle bin: no read shows the deletion
        del fake.org.records["Contact"][purged]
    fake.org.delete("Contact", binned)  # in the recycle bin: queryAll shows it deleted
    clock.tick(60)
    incremental = run(fake, state, clock, sleeps)
    assert incremental.forgotten == (binned,)
    full = run(fake, state, clock, sleeps, full=True)
    assert full.forgotten == (purged,) and full.to_dict()["forgotten_ids"] == [purged]
    before = dict(fake.org.updates)
    connection = plugin.connect({}, environ=fake.environ(), sleep=sleeps.append, clock=clock)
    try:  # three months on: every score moves, so every remaining contact is written
        later = run_sync(connection, state, as_of=AS_OF + timedelta(days=90), now=clock)
    finally:
        connection.close()
    assert later.failed == 0 and later.written > 0
    for contact_id in (purged, binned):
        assert fake.org.updates.get(contact_id, 0) == before.get(contact_id, 0)


def test_verify_counts_a_clean_a_cleared_and_an_edited_org(fake, org, state, clock, sleeps):
    run(fake, state, clock, sleeps)
    clean = verify(fake, state, clock, sleeps)
    assert (clean.in_sync, clean.missing, clean.edited, clean.differs) == (60, 0, 0, False)

    edited = org["c1"]
    fake.org.modify("Contact", edited, {"Mutuality_Score__c": 3.0, **USER_EDIT})
    result = verify(fake, state, clock, sleeps)
    assert (result.in_sync, result.edited, result.examples["edited"]) == (59, 1, (edited,))

    runner = CliRunner()
    args = ["verify", "--adapter", "salesforce", "--state", state.path, "--format", "json"]
    out = runner.invoke(cli, args, env=fake.environ())
    assert out.exit_code == 1, out.output
    assert json.loads(out.stdout)["edited"] == 1

    for contact_id in org.values():
        fake.org.modify("Contact", contact_id, {**dict.fromkeys(FIELD_NAMES), **USER_EDIT})
    cleared = verify(fake, state, clock, sleeps)
    assert (cleared.in_sync, cleared.missing, cleared.edited) == (0, 60, 0)
    clock.tick(60)
    run(fake, state, clock, sleeps, full=True)
    out = runner.invoke(cli, args, env=fake.environ())
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["in_sync"] == 60


def test_scored_at_is_the_as_of_in_the_org(fake, org, state, clock, sleeps):
    clock.tick(3600)
    run(fake, state, clock, sleeps)
    stamp = fake.org.records["Contact"][org["c0"]]["Mutuality_Scored_At__c"]
    assert stamp.startswith(AS_OF.strftime("%Y-%m-%dT%H:%M:%S"))
    assert clock.now - AS_OF > timedelta(minutes=30)  # written well after the as_of
