"""The HubSpot adapter on the shared retry policy: Retry-After in both forms, giving up,
the settings (fake portal over real HTTP, fake time, seeded jitter)."""

from __future__ import annotations

import logging
import random

import pytest
from mutuality_adapters.hubspot.api import HubSpotApi
from mutuality_adapters.hubspot.fake import Fault
from mutuality_adapters.retry import RetriesExhaustedError

from mutuality_core.errors import CrmUnavailableError

pytest.importorskip("hubspot")

SEARCH = {"filterGroups": [], "sorts": [], "properties": ["email"], "limit": 10}
# the wall clock's start in conftest.ManualMs: 2026-01-01T00:00:00Z (a Thursday)
TWELVE_SECONDS_IN = "Thu, 01 Jan 2026 00:00:12 GMT"


@pytest.fixture
def api_with(server, settings_for, fake_time, wall):
    def make(**settings) -> HubSpotApi:
        return HubSpotApi(
            settings_for(server.base_url, **settings),
            clock=fake_time.clock,
            sleep=fake_time.sleep,
            now_ms=wall,
            rng=random.Random(14),
        )

    return make


def test_retry_after_seconds_on_a_5xx_is_waited_exactly(api, server, fake_time):
    server.app.inject(Fault(status=503, times=2, path="/contacts", retry_after=7))
    api.list_page("contacts", properties=["email"])
    assert fake_time.sleeps == [7.0, 7.0] and api.requests_made == 3


def test_retry_after_as_an_http_date_is_counted_from_the_wall_clock(api, server, fake_time):
    server.app.inject(Fault(status=503, times=1, path="/contacts", retry_after=TWELVE_SECONDS_IN))
    api.list_page("contacts", properties=["email"])
    # the injected wall clock reads a few ms past midnight by then
    assert fake_time.sleeps == [pytest.approx(12.0, abs=0.05)]


def test_a_429_with_an_http_date_pauses_every_request_until_then(api, server, fake_time):
    server.app.inject(Fault(status=429, times=1, path="/search", retry_after=TWELVE_SECONDS_IN))
    api.search("contacts", SEARCH)
    assert api.rate_limited == 1
    assert sum(fake_time.sleeps) == pytest.approx(12.0, abs=0.05)
    assert api.search_limiter.waited == pytest.approx(12.0, abs=0.05)


def test_an_http_date_already_past_retries_at_once(api, server, fake_time):
    server.app.inject(
        Fault(status=503, times=1, path="/contacts", retry_after="Wed, 31 Dec 2025 23:59:00 GMT")
    )
    api.list_page("contacts", properties=["email"])
    assert fake_time.sleeps == [0.0] and api.requests_made == 2


def test_gives_up_after_max_retries_with_a_typed_error_saying_what_to_do(api_with, server):
    api = api_with(max_retries=2)
    server.app.inject(Fault(status=503, times=99, path="/contacts"))
    with pytest.raises(RetriesExhaustedError) as caught:
        api.list_page("contacts", properties=["email"])
    error = caught.value
    assert isinstance(error, CrmUnavailableError)  # exit 3: "run again later"
    assert (error.attempts, error.status) == (3, 503)
    assert api.requests_made == 3 and server.app.stats["status 503"] == 3
    message = str(error)
    assert "HubSpot kept answering HTTP 503 to listing contacts after 3 attempts" in message
    assert "run the sync again later" in message
    assert "raise max_retries or max_backoff_seconds in [adapters.hubspot]" in message


def test_a_retry_after_longer_than_allowed_stops_at_once(api_with, server, fake_time):
    api = api_with(max_retry_after_seconds=60)
    server.app.inject(Fault(status=503, times=1, path="/contacts", retry_after=3600))
    with pytest.raises(RetriesExhaustedError) as caught:
        api.list_page("contacts", properties=["email"])
    assert caught.value.retry_after == 3600.0 and api.requests_made == 1
    assert fake_time.sleeps == []
    message = str(caught.value)
    assert "asked to wait 3600 s (Retry-After) before retrying listing contacts" in message
    assert "run the sync again after 2026-01-01 01:00 UTC" in message
    assert "max_retry_after_seconds" in message


def test_max_backoff_seconds_caps_every_wait(api_with, server, fake_time):
    api = api_with(max_backoff_seconds=0.75, max_retries=6)
    server.app.inject(Fault(status=502, times=6, path="/contacts"))
    api.list_page("contacts", properties=["email"])
    assert len(fake_time.sleeps) == 6 and max(fake_time.sleeps) <= 0.75


def test_rate_limit_waits_run_out_with_advice_on_the_window(api, server):
    server.app.inject(Fault(status=429, times=99, path="/contacts", retry_after=0))
    with pytest.raises(RetriesExhaustedError) as caught:
        api.list_page("contacts", properties=["email"])
    assert api.requests_made == api.policy.max_rate_limit_waits + 1
    message = str(caught.value)
    assert "HTTP 429 TEN_SECONDLY_ROLLING" in message and "requests_per_window" in message


def test_the_same_seed_gives_the_same_waits(server, settings_for, fake_time, wall):
    waits = []
    for _ in range(2):
        fake_time.sleeps.clear()
        api = HubSpotApi(
            settings_for(server.base_url),
            clock=fake_time.clock,
            sleep=fake_time.sleep,
            now_ms=wall,
            rng=random.Random(3),
        )
        server.app.inject(Fault(status=503, times=3, path="/contacts"))
        api.list_page("contacts", properties=["email"])
        waits.append(list(fake_time.sleeps))
    assert waits[0] == waits[1] and len(waits[0]) == 3


def test_the_retry_settings_reach_the_policy(settings_for, caplog):
    settings = settings_for(
        "http://127.0.0.1:1",
        max_retries=7,
        timeout_seconds=12,
        max_backoff_seconds=4,
        max_retry_after_seconds=100,
    )
    policy = settings.retry_policy
    assert (policy.max_retries, policy.max_backoff_seconds) == (7, 4.0)
    assert policy.max_retry_after_seconds == 100.0 and settings.timeout_seconds == 12.0
    assert policy.base_seconds == 0.5  # HubSpot's first backoff, as before
    caplog.set_level(logging.WARNING)
    old = settings_for("http://127.0.0.1:1", retries=2, timeout=9)
    assert (old.max_retries, old.timeout_seconds) == (2, 9.0)
    assert "use max_retries" in caplog.text and "use timeout_seconds" in caplog.text


def test_defaults_are_what_they_were(settings_for):
    settings = settings_for("http://127.0.0.1:1")
    assert (settings.max_retries, settings.timeout_seconds) == (5, 30.0)
    assert settings.retry_policy.max_rate_limit_waits == 30
