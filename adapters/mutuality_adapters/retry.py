"""When to send a failed CRM request again, and after how long: one policy for every adapter.

Both CRM adapters (HubSpot, Salesforce) decide the same way; what differs is only
which answers mean "retry" beyond the common ones (a HubSpot ``DAILY`` 429 means
stop) and the words of their errors. This module is pure logic: no clock is read,
nothing sleeps. The caller passes the time (``now``), a random source (``rng``)
and does the waiting, so tests are exact.

The rules, in the order :meth:`RetryPolicy.decide` applies them:

* retried are: no answer at all (connection error, timeout: status ``0``) and the
  statuses in :data:`RETRIED_STATUSES` (the union of what the two adapters retried
  before this policy was shared); anything else is for the adapter to report;
* a rate-limit answer (429) counts against ``max_rate_limit_waits``, every other
  retried failure against ``max_retries``; one over the count gives up;
* the wait is the server's ``Retry-After`` when it sends one, either form
  (delta-seconds or an HTTP-date, see :func:`retry_after_seconds`); else the
  adapter's own hint (HubSpot's rate-limit window); else "full jitter" backoff
  (AWS Architecture Blog, "Exponential Backoff And Jitter"):
  ``uniform(0, min(max_backoff_seconds, base_seconds * 2 ** (n - 1)))`` for the
  n-th retry, so clients that failed together do not come back together;
* a ``Retry-After`` longer than ``max_retry_after_seconds`` gives up at once: a
  scheduled run would rather stop with "run again after ..." than sleep for hours.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

import attrs

from mutuality_core.errors import ConfigError, CrmUnavailableError

__all__ = [
    "RATE_LIMIT_STATUSES",
    "RENAMED_SETTINGS",
    "RETRIED_STATUSES",
    "RETRY_SETTINGS",
    "Attempts",
    "GiveUp",
    "RetriesExhaustedError",
    "Retry",
    "RetryPolicy",
    "RetrySettings",
    "capped_exponential",
    "give_up_advice",
    "parse_retry_settings",
    "retries_exhausted",
    "retry_after_seconds",
]

log = logging.getLogger(__name__)

#: 423 locked (HubSpot: locks last 2 s), 429 rate limited, 477 migration in progress,
#: 5xx and Cloudflare's 521/523/524 (the server or the path to it is down for a moment).
RETRIED_STATUSES = frozenset({423, 429, 477, 500, 502, 503, 504, 521, 523, 524})
RATE_LIMIT_STATUSES = frozenset({429})

#: Old setting names still accepted (with a warning), and the name that replaced each.
RENAMED_SETTINGS = {"retries": "max_retries", "timeout": "timeout_seconds"}


def capped_exponential(base: float, step: int, cap: float) -> float:
    """``base * 2 ** step``, at most ``cap``: the ceiling of the ``step``-th wait (from 0)."""
    if base <= 0:
        return 0.0
    # 2 ** step overflows a float for a step past ~1000; the cap is long reached by then.
    if step >= 64:
        return cap
    return min(cap, base * 2**step)


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """The seconds a ``Retry-After`` header asks for; None when absent or unreadable.

    Both forms of RFC 9110 section 10.2.3: delta-seconds (``120``; a fraction such as
    ``0.5`` is accepted too) and an HTTP-date (``Wed, 21 Oct 2026 07:28:00 GMT``),
    which is counted from ``now`` (timezone-aware; naive means UTC). A date already
    past, or a negative number, means "now": 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, (_aware(when) - _aware(now)).total_seconds())


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


class RetrySettings(Protocol):
    """The retry settings an adapter's settings object carries, under these names."""

    @property
    def max_retries(self) -> int: ...
    @property
    def max_backoff_seconds(self) -> float: ...
    @property
    def max_retry_after_seconds(self) -> float: ...


@attrs.define
class Attempts:
    """One request's failed answers so far, as :meth:`RetryPolicy.decide` counted them."""

    failures: int = 0
    rate_limit_waits: int = 0

    @property
    def sent(self) -> int:
        """How many times the request was sent and failed in a way the policy retries."""
        return self.failures + self.rate_limit_waits


@attrs.frozen
class Retry:
    """Send the request again after ``wait`` seconds; it is retry number ``number``."""

    wait: float
    number: int
    #: a rate-limit answer: every request should hold back, not only this one
    rate_limited: bool = False


@attrs.frozen
class GiveUp:
    """Stop retrying: ``"attempts"`` ran out, or the server asked for a wait too long."""

    reason: str
    attempts: int
    #: the wait the server asked for, when ``reason`` is ``"retry_after"``
    retry_after: float | None = None
    #: the last answer was a rate limit (429)
    rate_limited: bool = False


@attrs.frozen
class RetryPolicy:
    """Which failures are retried, how often, and how long to wait before each retry."""

    #: retries of a failure other than a rate limit (5xx, 423, 477, timeouts)
    max_retries: int = 5
    #: 429s waited out for one request before giving up
    max_rate_limit_waits: int = 30
    #: the ceiling of the first backoff; it doubles with each retry
    base_seconds: float = 0.5
    #: the longest backoff between two attempts (not a server's Retry-After)
    max_backoff_seconds: float = 30.0
    #: the longest Retry-After honoured; a longer one gives up at once
    max_retry_after_seconds: float = 900.0
    statuses: frozenset[int] = RETRIED_STATUSES
    rate_limit_statuses: frozenset[int] = RATE_LIMIT_STATUSES
    #: False waits the backoff's ceiling every time (no randomness)
    jitter: bool = True

    @classmethod
    def from_settings(cls, settings: RetrySettings, *, base_seconds: float) -> RetryPolicy:
        """The policy an adapter's settings ask for; ``base_seconds`` is the adapter's own."""
        return cls(
            max_retries=settings.max_retries,
            base_seconds=base_seconds,
            max_backoff_seconds=settings.max_backoff_seconds,
            max_retry_after_seconds=settings.max_retry_after_seconds,
        )

    def retries(self, status: int) -> bool:
        """Whether an answer with this status (0: none came) is worth sending again."""
        return status == 0 or status in self.statuses

    def backoff(self, number: int, rng: random.Random) -> float:
        """The wait before retry ``number`` (from 1) when the server named none."""
        ceiling = capped_exponential(self.base_seconds, number - 1, self.max_backoff_seconds)
        return rng.uniform(0.0, ceiling) if self.jitter else ceiling

    def decide(
        self,
        attempts: Attempts,
        status: int,
        *,
        rng: random.Random,
        retry_after: float | None = None,
        hint: float | None = None,
        floor: float = 0.0,
    ) -> Retry | GiveUp:
        """Count one more retried failure in ``attempts``; retry after how long, or give up.

        ``status`` must be one :meth:`retries` accepts. ``retry_after`` is the
        server's header already read (:func:`retry_after_seconds`); ``hint`` is the
        adapter's own idea of the wait when the server named none (HubSpot's
        rate-limit interval); ``floor`` is the least wait the status needs (2 s for
        HubSpot's 423).
        """
        rate_limited = status in self.rate_limit_statuses
        if rate_limited:
            attempts.rate_limit_waits += 1
            number, limit = attempts.rate_limit_waits, self.max_rate_limit_waits
        else:
            attempts.failures += 1
            number, limit = attempts.failures, self.max_retries
        if number > limit:
            return GiveUp("attempts", attempts.sent, rate_limited=rate_limited)
        if retry_after is not None:
            if retry_after > self.max_retry_after_seconds:
                return GiveUp("retry_after", attempts.sent, retry_after, rate_limited)
            wait = retry_after
        elif hint is not None:
            wait = hint
        else:
            wait = self.backoff(number, rng)
        return Retry(max(wait, floor), number, rate_limited)


class RetriesExhaustedError(CrmUnavailableError):
    """The CRM kept failing a request the policy retried, or asked for too long a wait.

    A :class:`~mutuality_core.errors.CrmUnavailableError` (exit 3, "run again
    later"); ``attempts`` is how often the request was sent, ``status`` the last
    answer's (0: none came), ``retry_after`` the wait the CRM asked for, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        status: int,
        retry_after: float | None = None,
    ) -> None:
        self.attempts = attempts
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


def give_up_advice(give_up: GiveUp, *, table: str, now: datetime) -> str:
    """What to do next, for the end of a :class:`RetriesExhaustedError`'s message."""
    if give_up.reason == "retry_after" and give_up.retry_after is not None:
        after = _aware(now).astimezone(timezone.utc) + timedelta(seconds=give_up.retry_after)
        return (
            f"nothing was lost: run the sync again after {after:%Y-%m-%d %H:%M} UTC, or raise "
            f"max_retry_after_seconds in [adapters.{table}] to wait that long within the run"
        )
    if give_up.rate_limited:
        return (
            "nothing was lost: run the sync again later, when fewer requests compete for "
            "the CRM's rate limit"
        )
    return (
        "nothing was lost: run the sync again later; if this happens often, raise "
        f"max_retries or max_backoff_seconds in [adapters.{table}]"
    )


def retries_exhausted(
    give_up: GiveUp,
    *,
    crm: str,
    request: str,
    answer: str,
    status: int,
    policy: RetryPolicy,
    table: str,
    now: datetime,
    rate_limit_advice: str = "",
) -> RetriesExhaustedError:
    """The error that ends a request the policy gave up on, saying what to do next.

    ``crm`` names the CRM, ``request`` the request ("listing contacts", "GET /path"),
    ``answer`` its last answer ("HTTP 503", or why none came when ``status`` is 0);
    ``rate_limit_advice`` is the adapter's own advice for a rate limit that lasted.
    """
    if give_up.reason == "retry_after":
        head = (
            f"{crm} asked to wait {give_up.retry_after or 0:.0f} s (Retry-After) before "
            f"retrying {request} ({answer}), longer than max_retry_after_seconds = "
            f"{policy.max_retry_after_seconds:g}"
        )
    elif status == 0:
        head = f"{crm} did not answer {request} ({answer}) after {give_up.attempts} attempts"
    else:
        head = f"{crm} kept answering {answer} to {request} after {give_up.attempts} attempts"
    if give_up.rate_limited and rate_limit_advice:
        head = f"{head}; {rate_limit_advice}"
    return RetriesExhaustedError(
        f"{head}; {give_up_advice(give_up, table=table, now=now)}",
        attempts=give_up.attempts,
        status=status,
        retry_after=give_up.retry_after,
    )


#: The retry settings every CRM adapter reads, as (type, lowest allowed value).
RETRY_SETTINGS: Mapping[str, tuple[type, float]] = {
    "max_retries": (int, 0),
    "timeout_seconds": (float, 0.1),
    "max_backoff_seconds": (float, 0.0),
    "max_retry_after_seconds": (float, 0.0),
}


def parse_retry_settings(settings: Mapping[str, Any], *, adapter: str) -> dict[str, Any]:
    """The retry settings given in ``settings``, checked; old names mapped to new ones.

    Returns only the keys present (the adapter's own defaults fill the rest). An old
    name (:data:`RENAMED_SETTINGS`) is accepted with a warning naming its
    replacement; when both are given, the new name wins.
    """
    values = dict(settings)
    for old, new in RENAMED_SETTINGS.items():
        if old not in values:
            continue
        old_value = values.pop(old)
        if new in values:
            log.warning(
                "the %s setting %s is deprecated and ignored here: %s is set too; "
                "remove %s from the configuration",
                adapter,
                old,
                new,
                old,
            )
        else:
            log.warning(
                "the %s setting %s is deprecated; use %s instead (same meaning)",
                adapter,
                old,
                new,
            )
            values[new] = old_value
    parsed: dict[str, Any] = {}
    for key, (kind, lowest) in RETRY_SETTINGS.items():
        if key not in values or values[key] is None:
            continue
        raw = values[key]
        try:
            number = kind(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{adapter} setting {key} must be a number; got {raw!r}") from None
        if isinstance(raw, bool) or not math.isfinite(number) or number < lowest:
            raise ConfigError(f"{adapter} setting {key} must be a number >= {lowest}; got {raw!r}")
        parsed[key] = number
    return parsed
