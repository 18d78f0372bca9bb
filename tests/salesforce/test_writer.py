from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import attrs
import pytest
from mutuality_adapters.salesforce.fake import FakeSalesforce, seed_rows
from mutuality_adapters.salesforce.fields import FIELDS

from mutuality_core.errors import (
    AuthenticationError,
    ConfigError,
    CrmUnavailableError,
    QuotaExhaustedError,
)
from mutuality_core.model import Band, Contact, MutualityScore
from mutuality_core.ports import ScoreUpdate

from .conftest import contact_rows

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)


def with_fields(fake: FakeSalesforce) -> None:
    for spec in FIELDS:
        fake.org.add_custom_field(f"Contact.{spec.name}", spec.metadata, visible=True)


def update(contact_id: str, score: float = 42.0) -> ScoreUpdate:
    result = MutualityScore(
        contact_id=contact_id,
        score=score,
        lean=-0.25,
        strength=30.0,
        band=Band.YOU_INVEST_MORE,
        confidence=0.5,
        reasons=("you wrote 3 times", "they replied once"),
        components=(),
        algorithm="test",
        as_of=AS_OF,
    )
    return ScoreUpdate(Contact(id=contact_id), result, AS_OF)


def test_collections_write_every_field_and_report_unknown_ids(
    fake: FakeSalesforce, connect: Any
) -> None:
    with_fields(fake)
    ids = list(seed_rows(fake.org, contact_rows(250), []).values())
    writer = connect().writer
    missing = "003999999999999AAA"
    results = writer.write([update(i) for i in ids] + [update(missing)])
    assert sum(r.ok for r in results) == 250
    [bad] = [r for r in results if not r.ok]
    assert bad.contact_id == missing and "INVALID_CROSS_REFERENCE_KEY" in (bad.error or "")
    assert not bad.retryable and bad.gone  # retried next run until a read says
    assert missing not in fake.org.records["Contact"]  # never created
    record = fake.org.records["Contact"][ids[0]]
    assert record["Mutuality_Score__c"] == 42.0 and record["Mutuality_Band__c"] == "you_invest_more"
    assert record["Mutuality_Reasons__c"] == "you wrote 3 times; they replied once"
    assert record["Mutuality_Scored_At__c"] == "2026-11-01T00:00:00.000+0000"
    assert fake.org.calls["composite"] == 2  # 251 records -> 200 + 51


def test_lock_errors_are_retried_then_reported_retryable(
    fake: FakeSalesforce, connect: Any, sleeps: list[float]
) -> None:
    with_fields(fake)
    ids = list(seed_rows(fake.org, contact_rows(3), []).values())
    fake.org.lock_rows([ids[0]], times=2)
    fake.org.lock_rows([ids[1]], times=99)
    writer = connect(max_retries=3).writer
    results = {r.contact_id: r for r in writer.write([update(i) for i in ids])}
    assert results[ids[0]].ok and results[ids[2]].ok
    assert not results[ids[1]].ok and results[ids[1]].retryable
    assert "UNABLE_TO_LOCK_ROW" in (results[ids[1]].error or "")
    # three retries, each waiting the retry policy's backoff: full jitter under 1, 2, 4 s
    assert len(sleeps) == 3
    assert all(0 <= s <= c for s, c in zip(sleeps, [1.0, 2.0, 4.0], strict=True))
    assert fake.org.updates[ids[0]] == 1


def test_bulk_api_above_threshold_with_lock_retry(fake: FakeSalesforce, connect: Any) -> None:
    with_fields(fake)
    ids = list(seed_rows(fake.org, contact_rows(30), []).values())
    fake.org.lock_rows(ids[:2], times=1)
    writer = connect(bulk_threshold=10).writer
    results = writer.write([update(i, score=10.5) for i in ids] + [update("003999999999999AAA")])
    assert sum(r.ok for r in results) == 30
    assert writer.stats["bulk_jobs"] == 1 and writer.stats["lock_retries"] == 2
    # create, upload, close, two status polls (the fake answers InProgress once),
    # the failures CSV
    assert fake.org.calls["jobs"] == 6
    assert all(fake.org.records["Contact"][i]["Mutuality_Score__c"] == 10.5 for i in ids)
    assert all(fake.org.updates[i] == 1 for i in ids)


def test_5xx_is_retried_with_backoff(
    fake: FakeSalesforce, connect: Any, sleeps: list[float]
) -> None:
    with_fields(fake)
    ids = list(seed_rows(fake.org, contact_rows(2), []).values())
    fake.org.fail_next("server_error", times=2, path_contains="composite")
    results = connect().writer.write([update(i) for i in ids])
    assert all(r.ok for r in results)
    # full jitter: each wait drawn from 0 up to a ceiling that doubles from 1 s
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 1.0 and 0 <= sleeps[1] <= 2.0
    assert sleeps != [1.0, 2.0]


def test_5xx_beyond_retries_raises_unavailable(fake: FakeSalesforce, connect: Any) -> None:
    with_fields(fake)
    ids = list(seed_rows(fake.org, contact_rows(2), []).values())
    fake.org.fail_next("server_error", times=10)
    with pytest.raises(CrmUnavailableError, match="HTTP 503"):
        connect(max_retries=2).writer.write([update(i) for i in ids])


def test_expired_session_without_credentials_says_what_to_do(
    fake: FakeSalesforce, connect: Any
) -> None:
    with_fields(fake)
    ids = list(seed_rows(fake.org, contact_rows(1), []).values())
    writer = connect().writer
    fake.org.expire_sessions()
    with pytest.raises(AuthenticationError, match="SALESFORCE_SESSION_ID"):
        writer.write([update(ids[0])])


def test_daily_allowance_guards(fake: FakeSalesforce, connect: Any) -> None:
    with_fields(fake)
    ids = list(seed_rows(fake.org, contact_rows(1000), []).values())
    fake.org.daily_limit = 16  # 25 % of it: 4 requests per run; 1000 contacts need 1 + 5
    writer = connect().writer
    results = writer.write([update(i) for i in ids])
    assert fake.org.calls["sobjects"] == 1  # the describe that checks the fields
    assert fake.org.calls["composite"] == 3
    assert sum(r.ok for r in results) == 600
    assert all(r.retryable and "25%" in (r.error or "") for r in results if not r.ok)
    with pytest.raises(QuotaExhaustedError, match="25%"):
        writer.write([update(ids[0])])  # the run ends at its next write
    fake.org.daily_limit, fake.org.api_used = 1000, 799  # the next call would pass 80 %
    writer = connect().writer
    with pytest.raises(QuotaExhaustedError, match="80%"):
        writer.write([update(ids[0])])  # first call learns the usage: 800 of 1000
        writer.write([update(ids[1])])
    assert fake.org.api_used == 800
    fake.org.api_used = 0
    fake.org.fail_next("request_limit")
    with pytest.raises(QuotaExhaustedError, match="REQUEST_LIMIT_EXCEEDED"):
        connect().writer.write([update(ids[0])])


def relogging_writer(fake: FakeSalesforce, sleeps: list[float], **settings: Any) -> Any:
    """A writer whose client logs in again like the JWT/password flows (a new session)."""
    import simple_salesforce
    from mutuality_adapters.salesforce.client import SalesforceClient
    from mutuality_adapters.salesforce.settings import SalesforceSettings
    from mutuality_adapters.salesforce.transport import (
        ApiBudget,
        SalesforceSession,
        loopback_netloc,
    )
    from mutuality_adapters.salesforce.writer import SalesforceWriter

    settings = SalesforceSettings.from_mapping(
        {"bulk_threshold": 10, "bulk_poll_seconds": 0, **settings},
        {
            "SALESFORCE_USERNAME": "u",
            "SALESFORCE_CONSUMER_KEY": "k",
            "SALESFORCE_PRIVATE_KEY_FILE": "f",
        },
    )
    session = SalesforceSession(
        budget=ApiBudget(), loopback=loopback_netloc(fake.url), sleep=sleeps.append
    )
    logins: list[str] = []

    def login() -> Any:  # what a JWT login returns: a fresh session on the same instance
        logins.append(fake.org.session_id)
        return simple_salesforce.Salesforce(
            instance_url=fake.url, session_id=fake.org.session_id, session=session
        )

    client = SalesforceClient(settings, session=session, factory=login, sleep=sleeps.append)
    writer = SalesforceWriter(client)
    writer.logins = logins  # type: ignore[attr-defined]
    return writer


def test_expired_session_logs_in_again_when_credentials_allow(
    fake: FakeSalesforce, sleeps: list[float]
) -> None:
    with_fields(fake)
    ids = list(seed_rows(fake.org, contact_rows(30), []).values())
    writer = relogging_writer(fake, sleeps)
    fake.org.expire_sessions()  # the session the client holds is now invalid
    results = writer.write([update(i) for i in ids])  # bulk path: no built-in re-login there
    assert all(r.ok for r in results)
    logins = writer.logins
    assert len(logins) == 2 and logins[0] != logins[1]
    assert all(fake.org.updates[i] == 1 for i in ids)


def test_session_expiring_while_a_bulk_job_runs_does_not_run_it_again(
    fake: FakeSalesforce, sleeps: list[float]
) -> None:
    with_fields(fake)
    ids = list(seed_rows(fake.org, contact_rows(30), []).values())
    writer = relogging_writer(fake, sleeps)
    fake.org.fail_next("expired_session", method="GET", path_contains="jobs/ingest/")
    results = writer.write([update(i) for i in ids])
    assert all(r.ok for r in results) and len(writer.logins) == 2
    assert [r for r in fake.org.requests if r == ("POST", "jobs/ingest")] == [
        ("POST", "jobs/ingest")
    ]
    assert all(fake.org.updates[i] == 1 for i in ids)  # written once, not twice


def test_failure_part_way_keeps_what_was_written_and_raises_next(
    fake: FakeSalesforce, connect: Any
) -> None:
    with_fields(fake)
    ids = list(seed_rows(fake.org, contact_rows(450), []).values())
    fake.org.fail_next("server_error", times=10, path_contains="composite", skip=1)
    writer = connect(max_retries=1).writer
    results = writer.write([update(i) for i in ids])
    ok = [r for r in results if r.ok]
    assert len(ok) == 200 and all(fake.org.updates[r.contact_id] == 1 for r in ok)
    rest = [r for r in results if not r.ok]
    assert len(rest) == 250 and all(r.retryable and "HTTP 503" in (r.error or "") for r in rest)
    with pytest.raises(CrmUnavailableError):
        writer.write([update(ids[0])])


def test_an_error_kept_from_the_last_batch_is_raised_at_close(
    fake: FakeSalesforce, connect: Any
) -> None:
    with_fields(fake)
    ids = list(seed_rows(fake.org, contact_rows(450), []).values())
    fake.org.fail_next("server_error", times=10, path_contains="composite", skip=1)
    connection = connect(max_retries=1)
    results = connection.writer.write([update(i) for i in ids])  # the run's last batch
    assert sum(r.ok for r in results) == 200
    with pytest.raises(CrmUnavailableError, match="HTTP 503"):
        connection.close()


def test_missing_fields_stop_before_the_first_write_with_the_setup_hint(
    fake: FakeSalesforce, connect: Any
) -> None:
    """Without the fields a large first sync used to fail row by row, with no hint."""
    ids = list(seed_rows(fake.org, contact_rows(30), []).values())
    writer = connect(bulk_threshold=10).writer
    with pytest.raises(ConfigError, match="mutuality setup salesforce"):
        writer.write([update(i) for i in ids])
    assert fake.org.calls["jobs"] == 0 and fake.org.calls["composite"] == 0
    assert not fake.org.updates


def test_fields_the_user_cannot_edit_stop_the_write_too(fake: FakeSalesforce, connect: Any) -> None:
    with_fields(fake)
    ids = list(seed_rows(fake.org, contact_rows(2), []).values())
    for perm in fake.org.records["FieldPermissions"].values():
        if perm["Field"] == "Contact.Mutuality_Band__c":
            perm["PermissionsEdit"] = False
    with pytest.raises(ConfigError, match="Mutuality_Band__c"):
        connect().writer.write([update(i) for i in ids])


def test_bulk_polls_back_off_and_count(clock: Any, sleeps: list[float]) -> None:
    from mutuality_adapters.salesforce import plugin

    with FakeSalesforce(clock=clock, bulk_job_polls=5) as fake:
        with_fields(fake)
        ids = list(seed_rows(fake.org, contact_rows(12), []).values())
        writer = plugin.connect(
            {"bulk_threshold": 10, "bulk_poll_seconds": 2, "bulk_poll_max_seconds": 8},
            environ=fake.environ(),
            sleep=sleeps.append,
        ).writer
        assert all(r.ok for r in writer.write([update(i) for i in ids]))
        polls = [r for r in fake.org.requests if r[0] == "GET" and r[1].startswith("jobs/")]
        assert len(polls) == 6  # five answers InProgress, the sixth JobComplete
        assert sleeps == [2.0, 4.0, 8.0, 8.0, 8.0, 8.0]


def test_a_bulk_job_still_running_after_the_time_cap_is_reported(
    clock: Any, sleeps: list[float]
) -> None:
    from mutuality_adapters.salesforce import plugin

    with FakeSalesforce(clock=clock, bulk_job_polls=10_000) as fake:
        with_fields(fake)
        ids = list(seed_rows(fake.org, contact_rows(12), []).values())
        writer = plugin.connect(
            {
                "bulk_threshold": 10,
                "bulk_poll_seconds": 2,
                "bulk_poll_max_seconds": 30,
                "bulk_max_wait_seconds": 120,
            },
            environ=fake.environ(),
            sleep=sleeps.append,
        ).writer
        with pytest.raises(CrmUnavailableError, match="still running after 120 s"):
            writer.write([update(i) for i in ids])
        assert sleeps == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]  # capped at 120 s in all
        polls = [r for r in fake.org.requests if r[0] == "GET" and r[1].startswith("jobs/")]
        assert len(polls) == 7


def test_bulk_job_with_an_unknown_column_fails_as_a_whole_in_the_fake(
    fake: FakeSalesforce,
) -> None:
    """As in Salesforce: a header naming no field fails the job, not each row."""
    import json

    ids = list(seed_rows(fake.org, contact_rows(2), []).values())
    org = fake.org
    headers = {"Authorization": f"Bearer {org.session_id}"}
    base = f"/services/data/v{org.api_version}/jobs/ingest"
    job = json.loads(
        org.handle("POST", base, "", headers, b'{"object":"Contact","operation":"update"}').body
    )
    csv_text = "Id,Nope__c\n" + "".join(f"{i},1\n" for i in ids)
    assert (
        org.handle("PUT", f"{base}/{job['id']}/batches", "", headers, csv_text.encode()).status
        == 201
    )
    org.handle("PATCH", f"{base}/{job['id']}", "", headers, b'{"state":"UploadComplete"}')
    for _ in range(3):
        info = json.loads(org.handle("GET", f"{base}/{job['id']}", "", headers, b"").body)
    assert info["state"] == "Failed" and "Nope__c" in info["errorMessage"]
    assert not org.updates


def test_bulk_empty_cell_keeps_the_value_and_na_clears_it(
    fake: FakeSalesforce, connect: Any
) -> None:
    """Bulk API 2.0: an empty cell leaves a field alone; ``#N/A`` sets it to null."""
    with_fields(fake)
    ids = list(seed_rows(fake.org, contact_rows(12), []).values())
    for i in ids:
        fake.org.records["Contact"][i]["Mutuality_Reasons__c"] = "old reasons"
    no_reasons = [
        attrs.evolve(u, score=attrs.evolve(u.score, reasons=())) for u in map(update, ids)
    ]
    results = connect(bulk_threshold=10).writer.write(no_reasons)
    assert all(r.ok for r in results)
    assert all(fake.org.records["Contact"][i]["Mutuality_Reasons__c"] is None for i in ids)


def test_a_bulk_job_create_is_never_repeated_blindly(fake: FakeSalesforce, connect: Any) -> None:
    """A 5xx on a POST may come after Salesforce created the job: a retry would orphan one."""
    with_fields(fake)
    ids = list(seed_rows(fake.org, contact_rows(12), []).values())
    fake.org.fail_next("lost_answer", method="POST", path_contains="jobs/ingest")
    writer = connect(bulk_threshold=10).writer
    with pytest.raises(CrmUnavailableError, match="HTTP 503"):
        writer.write([update(i) for i in ids])
    assert [r for r in fake.org.requests if r[0] == "POST"] == [("POST", "jobs/ingest")]
    assert not fake.org.updates  # nothing written; the next run writes the batch
    assert all(r.ok for r in writer.write([update(i) for i in ids]))
