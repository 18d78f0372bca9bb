"""The engine against an incremental source (the in-memory CRM): cache, cursor, resume, quota."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import attrs
import pytest
from mutuality_adapters.sqlite_state import SQLiteStateStore
from mutuality_testkit.memory import MemoryCrm, WriterCrashed

from mutuality_core.errors import LockHeldError
from mutuality_core.model import Activity
from mutuality_core.scoring import score_contact
from mutuality_core.sync import (
    SyncOptions,
    explain_contact,
    is_material_change,
    run_sync,
    score_connection,
)

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def clock():
    moments = iter(AS_OF + timedelta(seconds=i) for i in range(10_000))
    return lambda: next(moments)


def seeded_crm(contacts: int = 7, **kw) -> MemoryCrm:
    """Contacts c0..cN with different, deterministic histories."""
    crm = MemoryCrm(**kw)
    for i in range(contacts):
        crm.add_contact(f"c{i}", email=f"c{i}@x.com")
        for j in range(i + 1):
            sent = AS_OF - (40 - 3 * j) * DAY
            crm.add_activity(
                Activity(f"o{i}-{j}", f"c{i}", sent, "email", "outbound", thread_id=f"t{i}{j}")
            )
            if (i + j) % 2 == 0:
                crm.add_activity(
                    Activity(
                        f"i{i}-{j}", f"c{i}", sent + DAY, "email", "inbound", thread_id=f"t{i}{j}"
                    )
                )
    return crm


@pytest.fixture
def state(tmp_path):
    store = SQLiteStateStore(tmp_path / "state.db")
    yield store
    store.close()


def sync(crm: MemoryCrm, state, *, as_of=AS_OF, **options):
    return run_sync(
        crm.connection(), state, as_of=as_of, now=clock(), options=SyncOptions(**options)
    )


def expected_scores(crm: MemoryCrm, as_of=AS_OF) -> dict:
    return {
        cid: score_contact(
            [a for (c, _), a in crm.activities.items() if c == cid], as_of=as_of, contact_id=cid
        )
        for cid in crm.contacts
    }


def test_first_sync_reads_everything_and_writes_every_contact_once(state):
    crm = seeded_crm()
    report = sync(crm, state)
    assert report.full and report.status == "ok"
    assert report.contacts_read == 7 and report.activities_read == len(crm.activities)
    assert report.contacts_scored == 7 and report.changed == report.written == 7
    assert dict(crm.write_counts) == {f"c{i}": 1 for i in range(7)}
    assert crm.write_calls == 3  # batches of 3, 3, 1
    expected = expected_scores(crm)
    assert {cid: s["score"] for cid, s in crm.scores.items()} == {
        cid: round(s.score) for cid, s in expected.items()
    }
    assert sum(report.band_counts.values()) == 7
    assert state.get_cursor("memory:crm") is not None
    assert not state.full_read_pending("memory:crm")


def test_our_own_writes_come_back_as_changes_but_are_not_rewritten(state):
    crm = seeded_crm()
    sync(crm, state)
    pages_before = crm.pages_served
    report = sync(crm, state)
    # the CRM bumped every contact's last-modified stamp when we wrote its score,
    # so the incremental read returns all 7 contacts again ...
    assert not report.full and report.contacts_read == 7 and report.activities_read == 0
    assert crm.pages_served - pages_before == 4  # 7 changes in pages of 2
    # ... and the diff finds nothing to write
    assert report.changed == report.written == 0 and report.unchanged == 7
    assert crm.write_calls == 3
    assert sync(crm, state).contacts_read == 0  # quiet now


def test_a_new_activity_rewrites_only_that_contact_when_its_score_moved(state):
    crm = seeded_crm()
    sync(crm, state)
    before = state.written("memory:crm")["c1"]
    for k in range(4):
        crm.add_activity(Activity(f"new{k}", "c1", AS_OF - (5 - k) * DAY, "meeting", "mutual"))
    after = expected_scores(crm)["c1"]
    assert is_material_change(after, before)  # the scenario really moves c1
    report = sync(crm, state)
    assert report.activities_read == 4 and report.written == 1
    assert crm.write_counts["c1"] == 2 and sum(crm.write_counts.values()) == 8
    assert state.written("memory:crm")["c1"].score == after.score


def test_time_passing_rewrites_only_material_changes(state):
    crm = seeded_crm()
    sync(crm, state)
    later = AS_OF + 200 * DAY
    old = state.written("memory:crm")
    expected = {
        cid for cid, s in expected_scores(crm, later).items() if is_material_change(s, old[cid])
    }
    report = sync(crm, state, as_of=later)
    assert report.written == len(expected) and report.unchanged == 7 - len(expected)
    assert {cid for cid, n in crm.write_counts.items() if n == 2} == expected
    assert expected  # 200 days of silence does move some scores (dormant)


def test_deleted_activities_and_contacts_leave_the_cache(state):
    crm = seeded_crm()
    sync(crm, state)
    crm.delete_activity("o3-0")
    crm.delete_contact("c6")
    sync(crm, state)
    cached = {c.id: {a.id for a in acts} for c, acts in state.iter_histories("memory:crm")}
    assert "c6" not in cached and "o3-0" not in cached["c3"] and "o3-1" in cached["c3"]


def test_full_read_drops_contacts_deleted_without_a_change_event(state):
    crm = seeded_crm()
    sync(crm, state)
    crm.delete_contact("c5", log=False)
    sync(crm, state)
    assert "c5" in {c.id for c, _ in state.iter_histories("memory:crm")}  # incremental can't know
    report = sync(crm, state, full=True)
    assert report.full and report.contacts_read == 6
    assert "c5" not in {c.id for c, _ in state.iter_histories("memory:crm")}


def test_crash_mid_write_then_rerun_writes_every_score_exactly_once(state):
    crm = seeded_crm()
    crm.crash_after_batches = 1
    with pytest.raises(WriterCrashed):
        sync(crm, state)
    assert len(state.written("memory:crm")) == 3  # the first batch was recorded
    (run,) = state.runs("memory:crm")
    assert run["status"] == "error" and "WriterCrashed" in run["report"]["error"]
    assert run["report"]["written"] == 3
    # the crashed batch (fate unknown) is remembered, so the next run says it retries it
    assert sorted(state.failed("memory:crm")) == ["c3", "c4", "c5"]
    assert "WriterCrashed" in state.failed("memory:crm")["c3"].error
    crm.crash_after_batches = None
    report = sync(crm, state)
    assert report.written == 4 and report.retried == 3 and report.changed == 1
    assert state.failed("memory:crm") == {}
    assert dict(crm.write_counts) == {f"c{i}": 1 for i in range(7)}
    assert set(state.written("memory:crm")) == set(crm.contacts)
    assert sync(crm, state).written == 0


def test_quota_on_write_stops_cleanly_and_the_next_run_finishes(state):
    crm = seeded_crm()
    crm.quota_after_batches = 1
    report = sync(crm, state)  # no exception
    assert report.stopped_reason == "quota" and report.status == "stopped"
    assert report.written == 3 and "quota" in report.error
    assert state.runs("memory:crm")[0]["status"] == "stopped"
    crm.quota_after_batches = None
    report = sync(crm, state)
    assert report.written == 4 and report.stopped_reason is None
    assert dict(crm.write_counts) == {f"c{i}": 1 for i in range(7)}


def test_quota_while_reading_saves_the_pages_read_and_resumes(state):
    crm = seeded_crm()
    total_records = len(crm.contacts) + len(crm.activities)
    crm.quota_after_pages = 3
    report = sync(crm, state)
    assert report.stopped_reason == "quota" and report.written == 0
    assert report.contacts_read + report.activities_read == 6  # 3 pages of 2
    assert state.full_read_pending("memory:crm")
    assert json.loads(state.get_cursor("memory:crm"))["offset"] == 6
    crm.quota_after_pages = None
    report = sync(crm, state)
    assert report.contacts_read + report.activities_read == total_records - 6  # resumed
    assert not state.full_read_pending("memory:crm")
    assert report.written == 7 and dict(crm.write_counts) == {f"c{i}": 1 for i in range(7)}


def test_failed_records_are_reported_and_retried_next_run(state):
    crm = seeded_crm()
    crm.refuse = {"c2": True, "c4": False}
    report = sync(crm, state)
    assert report.status == "partial" and report.failed == 2 and report.written == 5
    assert {(f.contact_id, f.retryable) for f in report.failures} == {("c2", True), ("c4", False)}
    assert "c2" not in state.written("memory:crm")
    assert report.to_dict()["failures"][0]["error"] == "refused by the CRM"
    crm.refuse = {}
    report = sync(crm, state)
    assert report.written == 2 and report.failed == 0
    assert dict(crm.write_counts) == {f"c{i}": 1 for i in range(7)}


def test_a_writer_that_forgets_a_result_gets_a_retryable_failure(state):
    crm = seeded_crm(contacts=2)
    conn = crm.connection()
    real = conn.writer

    class Forgetful:
        batch_size = 3

        def write(self, updates):
            return real.write(updates)[:-1]

        def close(self):
            pass

    conn = attrs.evolve(conn, writer=Forgetful())
    report = run_sync(conn, state, as_of=AS_OF, now=clock())
    assert report.written == 1 and report.failed == 1 and report.failures[0].retryable


def test_dry_run_writes_nothing_and_moves_nothing(state):
    crm = seeded_crm()
    sync(crm, state)
    cursor = state.get_cursor("memory:crm")
    cached = state.cached_counts("memory:crm")
    for k in range(4):
        crm.add_activity(Activity(f"new{k}", "c1", AS_OF - (5 - k) * DAY, "meeting", "mutual"))
    writes = crm.write_calls
    report = sync(crm, state, dry_run=True)
    assert report.dry_run and report.changed == 1 and report.written == 0  # sees the new activities
    assert crm.write_calls == writes
    assert state.get_cursor("memory:crm") == cursor and state.cached_counts("memory:crm") == cached
    assert state.runs("memory:crm")[0]["options"]["dry_run"] is True
    assert sync(crm, state).written == 1  # the real run still has it to do


def test_dry_run_on_a_fresh_state_reads_in_full_without_caching(state):
    crm = seeded_crm()
    report = sync(crm, state, dry_run=True)
    assert report.changed == 7 and report.written == 0 and crm.write_calls == 0
    assert state.get_cursor("memory:crm") is None
    assert state.cached_counts("memory:crm") == {"contacts": 0, "activities": 0}


def test_score_and_explain_read_without_changing_state(state):
    crm = seeded_crm()
    sync(crm, state)
    crm.add_activity(Activity("late", "c0", AS_OF - DAY, "call", "inbound"))
    cursor = state.get_cursor("memory:crm")
    scored = dict((c.id, s) for c, s in score_connection(crm.connection(), state, as_of=AS_OF))
    expected = expected_scores(crm)
    assert scored == expected  # includes the new activity, via the overlay on the cache
    contact, result = explain_contact(crm.connection(), state, "c0", as_of=AS_OF)
    assert contact.email == "c0@x.com" and result == expected["c0"]
    assert state.get_cursor("memory:crm") == cursor


def test_lock_held_by_another_run(state):
    crm = seeded_crm()
    with state.lock("memory:crm", owner="nightly"), pytest.raises(LockHeldError, match="nightly"):
        sync(crm, state)
    assert state.runs("memory:crm") == []


def test_progress_is_reported_per_stage_not_per_record(state):
    crm = seeded_crm()
    calls = []
    run_sync(crm.connection(), state, as_of=AS_OF, now=clock(), progress=lambda *a: calls.append(a))
    stages = [c[0] for c in calls]
    assert stages.count("read") == crm.pages_served
    assert calls[-1] == ("write", 7, 7) and ("score", 7, 7) in calls
    assert stages.count("write") <= 4


def test_run_history_and_report_are_json_ready(state):
    crm = seeded_crm()
    report = sync(crm, state, batch_size=2)
    as_dict = report.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["written"] == 7 and as_dict["status"] == "ok"
    assert crm.write_calls == 4  # min(writer's 3, options' 2)
    (run,) = state.runs("memory:crm")
    assert run["report"] == as_dict and run["options"]["batch_size"] == 2


class _HoldsBackAnError:
    """A writer that, like the Salesforce one, keeps an error from its last batch for finish()."""

    def __init__(self, inner, error: Exception) -> None:
        self.inner, self.error, self.finished = inner, error, 0
        self.batch_size = inner.batch_size

    def write(self, updates):
        return self.inner.write(updates)

    def finish(self) -> None:
        self.finished += 1
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def close(self) -> None:
        self.inner.close()


def test_an_error_a_writer_holds_back_until_close_is_recorded_in_the_run(state):
    from mutuality_core.errors import CrmUnavailableError, QuotaExhaustedError

    crm = seeded_crm()
    connection = crm.connection()
    writer = _HoldsBackAnError(connection.writer, QuotaExhaustedError("daily allowance reached"))
    connection = attrs.evolve(connection, writer=writer)
    report = run_sync(connection, state, as_of=AS_OF, now=clock())
    assert writer.finished == 1
    assert report.stopped_reason == "quota" and "daily allowance" in report.error
    assert state.runs("memory:crm")[0]["status"] == "stopped"

    crm.add_activity(Activity("late", "c0", AS_OF - DAY, "email", "inbound", thread_id="t00"))
    writer = _HoldsBackAnError(crm.connection().writer, CrmUnavailableError("503 after retries"))
    connection = attrs.evolve(crm.connection(), writer=writer)
    with pytest.raises(CrmUnavailableError):
        run_sync(connection, state, as_of=AS_OF, now=clock())
    assert state.runs("memory:crm")[0]["status"] == "error"

    dry = _HoldsBackAnError(crm.connection().writer, CrmUnavailableError("never raised"))
    run_sync(
        attrs.evolve(crm.connection(), writer=dry),
        state,
        as_of=AS_OF,
        now=clock(),
        options=SyncOptions(dry_run=True),
    )
    assert dry.finished == 0  # a dry run writes nothing, so it has nothing to finish


def test_a_contact_the_crm_no_longer_has_is_retried_until_a_full_read_forgets_it(state):
    crm = seeded_crm()
    crm.refuse["c3"] = True  # retryable: the next run tries again
    assert sync(crm, state).failed == 1
    crm.delete_contact("c3", log=False)  # deleted where an incremental read cannot see it
    second = sync(crm, state)
    assert [(f.contact_id, f.gone) for f in second.failures] == [("c3", True)]
    assert second.retried == 1 and second.forgotten == ()
    # not proof of a deletion (the CRM may have missed it for a moment): kept and retried
    assert "c3" in {c.id for c, _ in state.iter_histories("memory:crm")}
    third = sync(crm, state, full=True)  # a complete read decides
    assert third.forgotten == ("c3",) and third.failed == 0
    assert "c3" not in {c.id for c, _ in state.iter_histories("memory:crm")}
    assert state.failed("memory:crm") == {}
    fourth = sync(crm, state, as_of=AS_OF + 30 * DAY)  # time moves every score
    assert fourth.failed == 0 and fourth.contacts_scored == 6 and fourth.written >= 1
