"""Retries, waits, budgets and error messages of the HubSpot API layer (fake time, real HTTP)."""

from __future__ import annotations

import logging

import pytest
from mutuality_adapters.hubspot.api import HubSpotApi
from mutuality_adapters.hubspot.fake import Fault, RateLimits
from mutuality_adapters.hubspot.limiter import SlidingWindowLimiter

from mutuality_core.errors import (
    AuthenticationError,
    ConfigError,
    CrmUnavailableError,
    QuotaExhaustedError,
)

pytest.importorskip("hubspot")

SEARCH = {"filterGroups": [], "sorts": [], "properties": ["email"], "limit": 10}


def test_429_on_post_is_retried_honouring_retry_after(api, server, fake_time):
    server.app.inject(Fault(status=429, times=2, path="/search", retry_after=3))
    body = api.search("contacts", SEARCH)
    assert body["total"] == 0
    assert api.requests_made == 3 and api.rate_limited == 2
    assert sum(fake_time.sleeps) >= 6
    assert server.app.stats["search contacts"] == 3


def test_ten_secondly_429_without_retry_after_waits_a_window(api, server, fake_time):
    server.app.inject(Fault(status=429, times=1, path="/crm/v3/objects/contacts$"))
    api.list_page("contacts", properties=["email"])
    assert fake_time.sleeps == [10.0]


def test_secondly_search_429_without_retry_after_waits_a_second(api, server, fake_time):
    server.app.inject(Fault(status=429, times=1, path="/search", policy="SECONDLY"))
    api.search("contacts", SEARCH)
    assert fake_time.sleeps == [1.0]


def test_423_waits_at_least_two_seconds(api, server, fake_time):
    server.app.inject(Fault(status=423, times=1, path="/batch/update"))
    cid = server.portal.add_contact()
    body = api.update_contacts([(str(cid), {"firstname": "x"})])
    assert body["results"][0]["id"] == str(cid)
    assert fake_time.sleeps and fake_time.sleeps[0] >= 2.0


@pytest.mark.parametrize("status", [502, 503, 504, 500])
def test_5xx_backs_off_and_retries(api, server, fake_time, status):
    server.app.inject(Fault(status=status, times=3, path="/contacts"))
    api.list_page("contacts", properties=["email"])
    assert api.requests_made == 4
    # full jitter: each wait is drawn from 0 up to a ceiling that doubles from 0.5 s
    ceilings = [0.5, 1.0, 2.0]
    assert len(fake_time.sleeps) == 3
    assert all(0 <= s <= c for s, c in zip(fake_time.sleeps, ceilings, strict=True))
    assert fake_time.sleeps != ceilings


def test_5xx_that_persists_raises_crm_unavailable(api, server):
    server.app.inject(Fault(status=503, times=99, path="/contacts"))
    with pytest.raises(CrmUnavailableError, match="run the sync again later"):
        api.list_page("contacts", properties=["email"])
    assert api.requests_made == api.settings.max_retries + 1


def test_timeouts_are_retried(server, settings_for, fake_time):
    api = HubSpotApi(
        settings_for(server.base_url, timeout_seconds=0.5),
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    )
    server.app.inject(Fault(status=0, delay=1.5, times=1, path="/contacts"))
    body = api.list_page("contacts", properties=["email"])
    assert body["results"] == []
    assert api.requests_made == 2


def test_daily_limit_stops_without_retrying(api, server, fake_time):
    server.app.inject(Fault(status=429, times=1, policy="DAILY"))
    with pytest.raises(QuotaExhaustedError, match="daily API limit"):
        api.search("contacts", SEARCH)
    assert api.requests_made == 1 and fake_time.sleeps == []


def test_request_budget_stops_before_going_over(server, settings_for, fake_time):
    api = HubSpotApi(
        settings_for(server.base_url, max_requests=3), clock=fake_time.clock, sleep=fake_time.sleep
    )
    for _ in range(3):
        api.list_page("contacts", properties=["email"])
    with pytest.raises(QuotaExhaustedError, match="request budget of 3"):
        api.list_page("contacts", properties=["email"])
    assert server.app.stats["total"] == 3


def test_retries_count_against_the_budget(server, settings_for, fake_time):
    api = HubSpotApi(
        settings_for(server.base_url, max_requests=2), clock=fake_time.clock, sleep=fake_time.sleep
    )
    server.app.inject(Fault(status=503, times=5))
    with pytest.raises(QuotaExhaustedError):
        api.list_page("contacts", properties=["email"])
    assert server.app.stats["total"] == 2


def test_401_and_403_are_one_line_and_name_the_scope(server, settings_for, fake_time):
    server.app.token = "the-right-token"
    api = HubSpotApi(settings_for(server.base_url), clock=fake_time.clock, sleep=fake_time.sleep)
    with pytest.raises(AuthenticationError) as info:
        api.list_page("contacts", properties=["email"])
    assert "HUBSPOT_ACCESS_TOKEN" in str(info.value) and "\n" not in str(info.value)
    server.app.token = None
    server.app.scopes = {"crm.objects.contacts.read"}
    with pytest.raises(AuthenticationError) as info:
        api.update_contacts([("1", {"firstname": "x"})])
    message = str(info.value)
    assert "crm.objects.contacts.write" in message and "\n" not in message
    with pytest.raises(AuthenticationError, match=r"crm\.schemas\.contacts\.read"):
        api.get_property("contacts", "email")


def test_token_is_never_logged(api, server, caplog, token):
    caplog.set_level(logging.DEBUG)
    server.app.inject(Fault(status=429, times=1, retry_after=0))
    api.list_page("contacts", properties=["email"])
    api.search("contacts", SEARCH)
    assert token not in caplog.text
    assert token not in repr(api.settings)


def test_client_side_limiter_keeps_under_the_server_window(server, settings_for, fake_time):
    """With the server's window on the same clock, the limiter paces requests: no 429 at all."""
    server.app.limits = RateLimits(per_window=5, window_seconds=10)
    server.app.monotonic = fake_time.clock
    api = HubSpotApi(
        settings_for(server.base_url, requests_per_window=5),
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    )
    for _ in range(12):
        api.list_page("contacts", properties=["email"])
    assert api.rate_limited == 0 and server.app.stats["status 429"] == 0
    assert sum(fake_time.sleeps) == pytest.approx(20)  # 12 requests at 5 per 10 s


def test_sliding_window_limiter_paces_exactly(fake_time):
    limiter = SlidingWindowLimiter(3, 1.0, clock=fake_time.clock, sleep=fake_time.sleep)
    starts = []
    for _ in range(7):
        limiter.acquire()
        starts.append(fake_time.now - 1000.0)
    assert starts == [0, 0, 0, 1, 1, 1, 2]
    limiter.pause(5)
    limiter.acquire()
    assert fake_time.now - 1000.0 == pytest.approx(7)


def test_a_refused_request_is_a_settings_error_not_an_outage(api, server):
    """A 400/404 will not pass on a retry: exit 2 (ConfigError), not 3 ("retry later")."""
    bad = {**SEARCH, "limit": 500}  # over HubSpot's 200
    with pytest.raises(ConfigError, match="mutuality setup hubspot") as info:
        api.search("contacts", bad)
    assert not isinstance(info.value, CrmUnavailableError)
    assert info.value.status == 400 and "between 1 and 200" in str(info.value)
    assert api.requests_made == 1


def test_the_portal_id_comes_from_the_account_details(api, server):
    assert api.portal_id() == str(server.portal.portal_id)
    server.app.inject(Fault(status=403, times=1, path="account-info"))
    with pytest.raises(
        AuthenticationError, match=r"missing the scope oauth.*target = \"hubspot:portal-"
    ):
        api.portal_id()
