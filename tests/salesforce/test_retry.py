"""The Salesforce adapter on the shared retry policy: Retry-After in both forms, giving up,
the settings and their old names (fake org over real HTTP, fake clock, seeded jitter)."""

from __future__ import annotations

import email.utils
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from mutuality_adapters.retry import RetriesExhaustedError
from mutuality_adapters.salesforce.fake import FakeSalesforce, seed_rows
from mutuality_adapters.salesforce.settings import SalesforceSettings

from mutuality_core.errors import CrmUnavailableError

from .conftest import Clock, activity, contact_rows, read_all


@pytest.fixture
def seeded(fake: FakeSalesforce) -> FakeSalesforce:
    seed_rows(fake.org, contact_rows(3), [activity("a1", "c0"), activity("a2", "c1")])
    return fake


def queries(fake: FakeSalesforce) -> int:
    return sum(1 for _method, resource in fake.org.requests if resource.startswith("query"))


def test_retry_after_seconds_is_waited_exactly(
    seeded: FakeSalesforce, connect: Any, sleeps: list[float]
) -> None:
    seeded.org.fail_next("server_error", times=2, path_contains="query", retry_after=7)
    pages, _cursor = read_all(connect().source, None)
    assert sum(len(p.contacts) for p in pages) == 3
    assert sleeps == [7.0, 7.0]


def test_retry_after_as_an_http_date_is_counted_from_the_clock(
    seeded: FakeSalesforce, connect: Any, sleeps: list[float], clock: Clock
) -> None:
    when = email.utils.format_datetime(clock() + timedelta(seconds=30), usegmt=True)
    seeded.org.fail_next("server_error", path_contains="query", retry_after=when)
    read_all(connect().source, None)
    assert sleeps == [30.0]


def test_an_http_date_already_past_retries_at_once(
    seeded: FakeSalesforce, connect: Any, sleeps: list[float], clock: Clock
) -> None:
    when = email.utils.format_datetime(clock() - timedelta(minutes=5), usegmt=True)
    seeded.org.fail_next("server_error", path_contains="query", retry_after=when)
    read_all(connect().source, None)
    assert sleeps == [0.0]


def test_gives_up_after_max_retries_with_a_typed_error_saying_what_to_do(
    seeded: FakeSalesforce, connect: Any, sleeps: list[float]
) -> None:
    seeded.org.fail_next("server_error", times=99, path_contains="query")
    before = queries(seeded)
    with pytest.raises(RetriesExhaustedError) as caught:
        read_all(connect(max_retries=2).source, None)
    error = caught.value
    assert isinstance(error, CrmUnavailableError)  # exit 3: "run again later"
    assert (error.attempts, error.status) == (3, 503)
    assert queries(seeded) - before == 3 and len(sleeps) == 2
    message = str(error)
    assert "Salesforce kept answering HTTP 503 to GET /services/data/v59.0/query" in message
    assert "after 3 attempts" in message and "run the sync again later" in message
    assert "raise max_retries or max_backoff_seconds in [adapters.salesforce]" in message


def test_a_retry_after_longer_than_allowed_stops_at_once(
    seeded: FakeSalesforce, connect: Any, sleeps: list[float]
) -> None:
    seeded.org.fail_next("server_error", path_contains="query", retry_after=7200)
    with pytest.raises(RetriesExhaustedError) as caught:
        read_all(connect(max_retry_after_seconds=600).source, None)
    assert caught.value.retry_after == 7200.0 and sleeps == []
    message = str(caught.value)
    assert "asked to wait 7200 s (Retry-After)" in message
    # the fake clock is 2026-11-01 12:00 UTC
    assert "run the sync again after 2026-11-01 14:00 UTC" in message


def test_a_create_is_not_repeated_even_when_told_when_to_retry(
    seeded: FakeSalesforce, connect: Any, sleeps: list[float]
) -> None:
    """A POST's 503 may hide a done create (a Bulk job): the caller checks, no blind repeat."""
    connection = connect()
    seeded.org.fail_next("server_error", path_contains="jobs", method="POST", retry_after=1)
    with pytest.raises(CrmUnavailableError, match="HTTP 503"):
        connection.source.client.call(
            lambda sf: sf.restful("jobs/ingest", method="POST", json={}), what="creating a job"
        )
    assert sleeps == []


def test_max_backoff_seconds_caps_every_wait(
    seeded: FakeSalesforce, connect: Any, sleeps: list[float]
) -> None:
    seeded.org.fail_next("server_error", times=6, path_contains="query")
    read_all(connect(max_retries=6, max_backoff_seconds=0.5).source, None)
    assert len(sleeps) == 6 and max(sleeps) <= 0.5


def test_old_setting_names_still_work_with_a_deprecation_warning(
    seeded: FakeSalesforce, connect: Any, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    seeded.org.fail_next("server_error", times=99, path_contains="query")
    with pytest.raises(RetriesExhaustedError, match="after 2 attempts"):
        read_all(connect(retries=1, timeout=5).source, None)
    assert "salesforce setting retries is deprecated; use max_retries" in caplog.text
    assert "salesforce setting timeout is deprecated; use timeout_seconds" in caplog.text


def test_settings_defaults_and_names() -> None:
    env = {"SALESFORCE_INSTANCE_URL": "https://x.my.salesforce.com", "SALESFORCE_SESSION_ID": "s"}
    default = SalesforceSettings.from_mapping({}, env)
    assert (default.max_retries, default.timeout_seconds) == (4, 60.0)  # as before
    assert default.retry_policy.base_seconds == 1.0  # 1 s, 2 s, 4 s ... as before
    custom = SalesforceSettings.from_mapping(
        {"max_retries": "6", "timeout_seconds": 20, "max_backoff_seconds": 8}, env
    )
    assert (custom.max_retries, custom.timeout_seconds) == (6, 20.0)
    assert custom.retry_policy.max_backoff_seconds == 8.0
    old = SalesforceSettings.from_mapping({"retries": 2, "timeout": 15}, env)
    assert (old.max_retries, old.timeout_seconds) == (2, 15.0)
    assert "retries" not in old.redacted() and old.redacted()["max_retries"] == 2


def test_config_show_lists_old_names_as_given(tmp_path: Path, monkeypatch: Any) -> None:
    from click.testing import CliRunner
    from mutuality_cli.main import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mutuality.toml").write_text("[adapters.salesforce]\nretries = 3\ntimeout = 20\n")
    result = CliRunner().invoke(cli, ["config", "show", "--adapter", "salesforce"])
    assert result.exit_code == 0, result.output
    assert "retries = 3" in result.output and "timeout = 20" in result.output
