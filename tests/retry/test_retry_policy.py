"""The shared retry policy as pure logic: statuses, attempts, cap, jitter, Retry-After."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta, timezone

import pytest
from mutuality_adapters.retry import (
    RETRIED_STATUSES,
    Attempts,
    GiveUp,
    Retry,
    RetryPolicy,
    capped_exponential,
    give_up_advice,
    parse_retry_settings,
    retry_after_seconds,
)

from mutuality_core.errors import ConfigError

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def rng() -> random.Random:
    return random.Random(14)


# -- which answers are retried -------------------------------------------------------------


def test_the_retried_statuses_are_the_union_both_adapters_retried() -> None:
    hubspot_before = {423, 429, 477, 500, 502, 503, 504, 521, 523, 524}
    salesforce_before = {500, 502, 503, 504}
    assert hubspot_before | salesforce_before == RETRIED_STATUSES


@pytest.mark.parametrize("status", [0, 423, 429, 477, 500, 502, 503, 504, 521, 523, 524])
def test_no_answer_and_transient_statuses_are_retried(status: int) -> None:
    assert RetryPolicy().retries(status)


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 409, 414, 501])
def test_refusals_are_not_retried(status: int) -> None:
    assert not RetryPolicy().retries(status)


# -- how many times ------------------------------------------------------------------------


def test_gives_up_after_max_retries() -> None:
    policy = RetryPolicy(max_retries=2)
    attempts = Attempts()
    first = policy.decide(attempts, 503, rng=rng())
    second = policy.decide(attempts, 0, rng=rng())
    third = policy.decide(attempts, 502, rng=rng())
    assert isinstance(first, Retry) and first.number == 1
    assert isinstance(second, Retry) and second.number == 2
    assert third == GiveUp("attempts", 3)


def test_zero_retries_gives_up_at_the_first_failure() -> None:
    assert RetryPolicy(max_retries=0).decide(Attempts(), 503, rng=rng()) == GiveUp("attempts", 1)


def test_rate_limits_have_their_own_count() -> None:
    policy = RetryPolicy(max_retries=1, max_rate_limit_waits=3)
    attempts = Attempts()
    for _ in range(3):
        decision = policy.decide(attempts, 429, rng=rng())
        assert isinstance(decision, Retry) and decision.rate_limited
    assert isinstance(policy.decide(attempts, 503, rng=rng()), Retry)  # 1 failure allowed
    assert policy.decide(attempts, 429, rng=rng()) == GiveUp("attempts", 5, rate_limited=True)
    assert attempts == Attempts(failures=1, rate_limit_waits=4)


# -- how long: backoff, cap, jitter --------------------------------------------------------


def test_without_jitter_the_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(base_seconds=0.5, max_backoff_seconds=3.0, jitter=False)
    assert [policy.backoff(n, rng()) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_the_cap_holds_for_any_retry_number() -> None:
    assert capped_exponential(1.0, 10_000, 30.0) == 30.0
    assert capped_exponential(0.0, 5, 30.0) == 0.0
    policy = RetryPolicy(base_seconds=1.0, max_backoff_seconds=30.0)
    assert all(policy.backoff(n, rng()) <= 30.0 for n in (50, 500, 5000))


def test_full_jitter_stays_between_zero_and_the_ceiling() -> None:
    policy = RetryPolicy(base_seconds=0.5, max_backoff_seconds=30.0)
    source = rng()
    for number in range(1, 12):
        ceiling = min(30.0, 0.5 * 2 ** (number - 1))
        draws = [policy.backoff(number, source) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in draws)
        # spread over the whole range, not bunched at the ceiling (what plain backoff does)
        assert min(draws) < 0.1 * ceiling and max(draws) > 0.9 * ceiling
        assert sum(draws) / len(draws) == pytest.approx(ceiling / 2, rel=0.15)


def test_a_seeded_source_gives_the_same_waits() -> None:
    policy = RetryPolicy()
    one, two = random.Random(7), random.Random(7)
    assert [policy.backoff(n, one) for n in range(1, 6)] == [
        policy.backoff(n, two) for n in range(1, 6)
    ]


def test_retry_after_wins_over_hint_and_backoff() -> None:
    policy = RetryPolicy()
    decision = policy.decide(Attempts(), 503, rng=rng(), retry_after=7.0, hint=1.0)
    assert decision == Retry(7.0, 1)
    assert policy.decide(Attempts(), 429, rng=rng(), hint=10.0) == Retry(10.0, 1, True)


def test_retry_after_is_not_capped_by_max_backoff_but_by_max_retry_after() -> None:
    policy = RetryPolicy(max_backoff_seconds=5.0, max_retry_after_seconds=120.0)
    assert policy.decide(Attempts(), 503, rng=rng(), retry_after=60.0) == Retry(60.0, 1)
    assert policy.decide(Attempts(), 503, rng=rng(), retry_after=121.0) == GiveUp(
        "retry_after", 1, 121.0
    )


def test_a_floor_lengthens_a_short_wait() -> None:
    policy = RetryPolicy(base_seconds=0.5)
    decision = policy.decide(Attempts(), 423, rng=rng(), floor=2.0)
    assert isinstance(decision, Retry) and decision.wait == 2.0


# -- Retry-After, both forms ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), (" 3 ", 3.0), ("0.5", 0.5), ("0", 0.0), ("-4", 0.0)],
)
def test_retry_after_in_seconds(header: str, seconds: float) -> None:
    assert retry_after_seconds(header, now=NOW) == seconds


def test_retry_after_as_an_http_date() -> None:
    assert retry_after_seconds("Sun, 01 Nov 2026 12:00:30 GMT", now=NOW) == 30.0
    # another zone says the same moment
    assert retry_after_seconds("Sun, 01 Nov 2026 13:01:00 +0100", now=NOW) == 60.0


def test_an_http_date_in_the_past_means_now() -> None:
    assert retry_after_seconds("Sun, 01 Nov 2026 11:59:00 GMT", now=NOW) == 0.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=NOW) == 0.0


def test_naive_times_are_utc() -> None:
    naive_now = NOW.replace(tzinfo=None)
    assert retry_after_seconds("Sun, 01 Nov 2026 12:00:30 GMT", now=naive_now) == 30.0
    assert retry_after_seconds("Sun, 01 Nov 2026 12:00:30 -0000", now=NOW) == 30.0


@pytest.mark.parametrize("header", [None, "", "soon", "nan", "inf", "Sun, 99 Nov 2026"])
def test_an_unreadable_retry_after_is_ignored(header: str | None) -> None:
    assert retry_after_seconds(header, now=NOW) is None


# -- what to do next -----------------------------------------------------------------------


def test_advice_names_the_settings_and_the_time_to_come_back() -> None:
    spent = give_up_advice(GiveUp("attempts", 6), table="hubspot", now=NOW)
    assert "run the sync again later" in spent and "max_retries" in spent
    assert "[adapters.hubspot]" in spent
    later = give_up_advice(GiveUp("retry_after", 1, 3600.0), table="salesforce", now=NOW)
    assert "after 2026-11-01 13:00 UTC" in later and "max_retry_after_seconds" in later
    local = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert "after 2026-11-01 13:00 UTC" in give_up_advice(
        GiveUp("retry_after", 1, 3600.0), table="salesforce", now=local
    )
    limited = give_up_advice(GiveUp("attempts", 31, rate_limited=True), table="x", now=NOW)
    assert "rate limit" in limited and "max_retries" not in limited


# -- settings ------------------------------------------------------------------------------


def test_settings_are_checked_and_only_given_keys_returned() -> None:
    parsed = parse_retry_settings(
        {"max_retries": "3", "max_backoff_seconds": 12, "other": 1}, adapter="hubspot"
    )
    assert parsed == {"max_retries": 3, "max_backoff_seconds": 12.0}
    assert parse_retry_settings({}, adapter="hubspot") == {}


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("max_retries", -1, ">= 0"),
        ("max_retries", "many", "must be a number"),
        ("max_retries", True, "must be a number"),
        ("timeout_seconds", 0, ">= 0.1"),
        ("max_backoff_seconds", "nan", "must be a number"),
        ("max_retry_after_seconds", -5, ">= 0.0"),
    ],
)
def test_bad_settings_name_the_adapter_key_and_rule(key: str, value: object, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"salesforce setting {key} .*{problem}"):
        parse_retry_settings({key: value}, adapter="salesforce")


def test_old_names_are_accepted_with_a_deprecation_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    parsed = parse_retry_settings({"retries": 2, "timeout": "15"}, adapter="salesforce")
    assert parsed == {"max_retries": 2, "timeout_seconds": 15.0}
    assert "retries is deprecated; use max_retries" in caplog.text
    assert "timeout is deprecated; use timeout_seconds" in caplog.text


def test_the_new_name_wins_over_the_old_one(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    parsed = parse_retry_settings({"retries": 2, "max_retries": 6}, adapter="salesforce")
    assert parsed == {"max_retries": 6}
    assert "retries is deprecated and ignored here" in caplog.text


def test_the_error_on_giving_up_names_request_answer_attempts_and_setting() -> None:
    from mutuality_adapters.retry import RetriesExhaustedError, retries_exhausted

    from mutuality_core.errors import CrmUnavailableError

    policy = RetryPolicy(max_retry_after_seconds=60)
    spent = retries_exhausted(
        GiveUp("attempts", 6),
        crm="HubSpot",
        request="listing contacts",
        answer="HTTP 503",
        status=503,
        policy=policy,
        table="hubspot",
        now=NOW,
    )
    assert isinstance(spent, RetriesExhaustedError) and isinstance(spent, CrmUnavailableError)
    assert (spent.attempts, spent.status, spent.retry_after) == (6, 503, None)
    assert str(spent).startswith(
        "HubSpot kept answering HTTP 503 to listing contacts after 6 attempts; "
        "nothing was lost: run the sync again later"
    )
    silent = retries_exhausted(
        GiveUp("attempts", 3),
        crm="Salesforce",
        request="GET /services/data/v59.0/query",
        answer="ReadTimeout: read timed out",
        status=0,
        policy=policy,
        table="salesforce",
        now=NOW,
    )
    assert "did not answer GET /services/data/v59.0/query (ReadTimeout" in str(silent)
    too_long = retries_exhausted(
        GiveUp("retry_after", 1, 90.0, rate_limited=True),
        crm="HubSpot",
        request="searching contacts",
        answer="HTTP 429",
        status=429,
        policy=policy,
        table="hubspot",
        now=NOW,
        rate_limit_advice="lower requests_per_window",
    )
    assert "asked to wait 90 s (Retry-After)" in str(too_long)
    assert "max_retry_after_seconds = 60" in str(too_long)
    assert "lower requests_per_window" in str(too_long) and too_long.retry_after == 90.0
