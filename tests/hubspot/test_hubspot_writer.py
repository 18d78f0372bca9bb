"""Writing scores back: batch update only, per-record results from 207s, one retry, no creates."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from mutuality_adapters.hubspot.api import HubSpotApi, HubSpotApiError
from mutuality_adapters.hubspot.mapping import parse_hubspot_time, to_epoch_ms
from mutuality_adapters.hubspot.properties import setup_properties
from mutuality_adapters.hubspot.writer import HubSpotScoreWriter

from mutuality_core.errors import ConfigError, CrmUnavailableError, QuotaExhaustedError
from mutuality_core.model import Band, Contact, MutualityScore
from mutuality_core.ports import ScoreUpdate

pytest.importorskip("hubspot")

AS_OF = datetime(2026, 3, 1, tzinfo=timezone.utc)


def update(contact_id: str, score: float = 61.0) -> ScoreUpdate:
    return ScoreUpdate(
        contact=Contact(id=contact_id),
        score=MutualityScore(
            contact_id=contact_id,
            score=score,
            lean=0.1,
            strength=30.0,
            band=Band.MUTUAL,
            confidence=0.8,
            reasons=("Replies to most of your emails",),
            components=(),
            algorithm="test",
            as_of=AS_OF,
        ),
        scored_at=AS_OF,
    )


@pytest.fixture
def writer(server, settings_for, fake_time, wall):
    settings = settings_for(server.base_url)
    api = HubSpotApi(settings, clock=fake_time.clock, sleep=fake_time.sleep)
    setup_properties(api, settings)
    server.app.reset_stats()
    return HubSpotScoreWriter(api, settings, now_ms=wall)


def test_writes_all_properties_in_one_request(writer, server, portal):
    ids = [str(portal.add_contact()) for _ in range(100)]
    results = writer.write([update(i) for i in ids])
    assert [r.contact_id for r in results] == ids and all(r.ok for r in results)
    assert server.app.stats["batch/update contacts"] == 1
    props = portal.get("contacts", ids[0]).properties
    assert props["mutuality_score"] == "61"
    assert props["mutuality_band"] == "mutual"
    assert props["mutuality_reasons"] == "Replies to most of your emails"
    # scored_at is the as_of the score describes, as in scores.csv and Salesforce
    assert parse_hubspot_time(props["mutuality_scored_at"]) == AS_OF
    # written_at is when it was written (what tells our writes from real edits)
    written = parse_hubspot_time(props["mutuality_written_at"])
    assert written != AS_OF
    assert 0 <= portal.get("contacts", ids[0]).updated_ms - to_epoch_ms(written) < 10
    assert writer.batch_size == 100
    with pytest.raises(ValueError):
        writer.write([update(str(i)) for i in range(101)])


def test_207_failures_are_retried_once_on_their_own(writer, server, portal):
    ids = [str(portal.add_contact()) for _ in range(10)]
    server.app.fail_updates(ids[:3], times=1)
    results = writer.write([update(i) for i in ids])
    assert all(r.ok for r in results)
    assert server.app.stats["batch/update contacts"] == 2
    assert server.app.writes_by_contact == {i: 1 for i in ids}


def test_records_failing_twice_are_reported_not_lost(writer, server, portal):
    ids = [str(portal.add_contact()) for _ in range(5)]
    server.app.fail_updates(ids[:2], times=2, category="INTERNAL_ERROR", message="try later")
    results = {r.contact_id: r for r in writer.write([update(i) for i in ids])}
    assert [i for i, r in results.items() if not r.ok] == ids[:2]
    assert "try later" in results[ids[0]].error and results[ids[0]].retryable
    assert server.app.stats["batch/update contacts"] == 2
    assert set(server.app.writes_by_contact) == set(ids[2:])


def test_permanent_failures_are_reported_without_a_retry(writer, server, portal):
    ids = [str(portal.add_contact()) for _ in range(5)]
    server.app.fail_updates(ids[:2], times=1, category="VALIDATION_ERROR", message="bad value")
    results = {r.contact_id: r for r in writer.write([update(i) for i in ids])}
    assert [i for i, r in results.items() if not r.ok] == ids[:2]
    assert "bad value" in results[ids[0]].error and not results[ids[0]].retryable
    assert server.app.stats["batch/update contacts"] == 1
    assert set(server.app.writes_by_contact) == set(ids[2:])


def test_unknown_contacts_fail_per_record_and_are_never_created(writer, server, portal):
    known = str(portal.add_contact())
    before = portal.counts()["contacts"]
    results = {r.contact_id: r for r in writer.write([update(known), update("999999")])}
    assert results[known].ok
    assert not results["999999"].ok and not results["999999"].retryable
    assert "OBJECT_NOT_FOUND" in results["999999"].error
    assert results["999999"].gone and not results[known].gone  # retried next run until a read says
    assert server.app.stats["batch/update contacts"] == 1  # a deleted contact is not retried
    assert portal.counts()["contacts"] == before and portal.get("contacts", 999999) is None


def test_missing_properties_tell_the_user_to_run_setup(server, portal, settings_for, fake_time):
    settings = settings_for(server.base_url)
    api = HubSpotApi(settings, clock=fake_time.clock, sleep=fake_time.sleep)
    writer = HubSpotScoreWriter(api, settings)
    with pytest.raises(ConfigError, match="mutuality setup hubspot") as info:
        writer.write([update(str(portal.add_contact()))])
    assert isinstance(info.value, HubSpotApiError) and info.value.status == 400
    assert not isinstance(info.value, CrmUnavailableError)  # exit 2, not 3 ("retry later")
    assert "check the [adapters.hubspot] settings" not in str(info.value)  # the precise hint only


def test_a_retry_over_budget_returns_the_successes_and_stops_the_next_write(
    server, portal, settings_for, fake_time
):
    settings = settings_for(server.base_url, max_requests=3)
    setup_properties(
        HubSpotApi(settings_for(server.base_url), clock=fake_time.clock, sleep=fake_time.sleep),
        settings,
    )
    api = HubSpotApi(settings, clock=fake_time.clock, sleep=fake_time.sleep)
    writer = HubSpotScoreWriter(api, settings)
    ids = [str(portal.add_contact()) for _ in range(6)]
    server.app.fail_updates(ids[:2], times=1, category="INTERNAL_ERROR")
    first = writer.write([update(i) for i in ids[:4]])  # the write and its retry: 2 of the 3
    assert [r.ok for r in first] == [True, True, True, True]
    server.app.fail_updates(ids[4:5], times=1, category="INTERNAL_ERROR")
    second = {r.contact_id: r for r in writer.write([update(i) for i in ids[4:]])}
    assert second[ids[5]].ok and not second[ids[4]].ok and second[ids[4]].retryable
    assert "max-requests" in second[ids[4]].error
    server.app.reset_stats()
    with pytest.raises(QuotaExhaustedError, match="max-requests"):
        writer.write([update(ids[4])])
    assert server.app.stats["total"] == 0
