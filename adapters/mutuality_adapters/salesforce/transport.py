"""The one HTTP session every Salesforce request goes through.

simple-salesforce sets no timeouts, retries nothing but a re-login, forces
``https://`` and reads ``Sforce-Limit-Info`` only on some code paths (not Bulk
2.0). Doing all of that in a ``requests.Session`` it is handed means no request
escapes the allowance guard or the shared
:class:`~mutuality_adapters.retry.RetryPolicy` (``Retry-After`` honoured, backoff
with full jitter), whichever client method made it.

Imported only from :func:`mutuality_adapters.salesforce.client.open_client`, after
simple-salesforce (and so requests) is known to be installed.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import math
import random
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import attrs
import requests

from mutuality_adapters.retry import (
    Attempts,
    GiveUp,
    RetriesExhaustedError,
    Retry,
    RetryPolicy,
    retries_exhausted,
    retry_after_seconds,
)
from mutuality_adapters.salesforce.errors import limit_exceeded_message
from mutuality_adapters.salesforce.settings import SalesforceSettings
from mutuality_core.errors import CrmUnavailableError, QuotaExhaustedError

__all__ = ["ApiBudget", "SalesforceSession", "loopback_netloc"]

logger = logging.getLogger(__name__)

_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
#: Requests that may be sent twice: reads, and our PATCHes (they set fixed values).
#: A POST creates something (a Bulk job, a field, a permission set) and a PUT uploads
#: a job's data: when the answer is lost, whether it happened is unknown, so the
#: caller checks the state instead of the transport repeating it blindly.
_REPEATABLE = frozenset({"GET", "HEAD", "OPTIONS", "PATCH", "DELETE"})
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def loopback_netloc(instance_url: str) -> str | None:
    """``host:port`` when ``instance_url`` is plain http on this machine (the fake), else None."""
    parts = urlsplit(instance_url)
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return parts.netloc
    return None


@attrs.define
class ApiBudget:
    """The share of the org's daily API allowance this run may use.

    ``used``/``limit`` come from the last ``Sforce-Limit-Info`` header (the org-wide
    rolling 24-hour count, every integration included); ``calls`` counts this run's
    own requests. Before each request the guard checks that one more call stays
    within ``max_share_per_run`` of the limit for this run and ``max_share_total``
    for the org, and raises :class:`QuotaExhaustedError` otherwise, so a run stops
    cleanly with its state saved instead of starving the org's other integrations.
    """

    max_share_per_run: float = 0.25
    max_share_total: float = 0.80
    max_requests: int | None = None
    used: int | None = None
    limit: int | None = None
    calls: int = 0

    def check(self) -> None:
        if self.max_requests is not None and self.calls + 1 > self.max_requests:
            raise QuotaExhaustedError(
                f"stopped after {self.calls} Salesforce API calls (max_requests="
                f"{self.max_requests}); state is saved, rerun to continue"
            )
        if self.limit is None or self.used is None:
            return
        per_run = math.floor(self.limit * self.max_share_per_run)
        if self.calls + 1 > per_run:
            raise QuotaExhaustedError(
                f"stopped before using more than {self.max_share_per_run:.0%} of the daily "
                f"API allowance in one run ({self.calls} of {self.limit} calls); state is "
                "saved, rerun later or raise max_share_per_run"
            )
        total = math.floor(self.limit * self.max_share_total)
        if self.used + 1 > total:
            raise QuotaExhaustedError(
                f"the org has used {self.used} of its {self.limit} daily API calls; stopped "
                f"before passing {self.max_share_total:.0%} (max_share_total). State is "
                "saved; rerun when the rolling 24-hour usage has dropped"
            )

    def observe(self, header: str | None) -> None:
        if not header:
            return
        match = _LIMIT_INFO.search(header)
        if match:
            self.used, self.limit = int(match.group(1)), int(match.group(2))

    def summary(self) -> str:
        """One line on this run's API usage, for the log."""
        if not self.limit:
            return f"{self.calls} Salesforce API calls"
        return (
            f"{self.calls} Salesforce API calls ({self.calls / self.limit:.2%} of the daily "
            f"allowance of {self.limit}); the org has used {self.used} in the last 24 hours"
        )


class SalesforceSession(requests.Session):
    """Timeouts, the shared retry policy, the allowance guard and the loopback rewrite.

    ``loopback`` (``"127.0.0.1:PORT"``) is set only when the configured instance URL
    is plain http on this machine: then, and only then, the ``https://`` URLs that
    simple-salesforce builds for that exact host and port are sent as ``http://``.
    Every other host keeps https.

    ``sleep``, ``now`` (dates an HTTP-date ``Retry-After``) and ``rng`` (the backoff's
    jitter) are injected so that tests run without waiting and are exact.
    """

    def __init__(
        self,
        *,
        budget: ApiBudget,
        timeout_seconds: float = 60.0,
        policy: RetryPolicy | None = None,
        loopback: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__()
        self.budget = budget
        self.timeout_seconds = timeout_seconds
        self.policy = policy or SalesforceSettings().retry_policy
        self.sleep = sleep
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.rng = rng or random.Random()
        self._https_prefix = f"https://{loopback}" if loopback else None
        self._http_prefix = f"http://{loopback}" if loopback else None
        self.server_time: datetime | None = None
        self.retried = 0

    def backoff(self, number: int) -> float:
        """The policy's wait before retry ``number`` (from 1), for retries above this
        layer (a record locked by another write)."""
        return self.policy.backoff(number, self.rng)

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        url = self._local(url)
        if kwargs.get("timeout") is None:  # missing or None: simple-salesforce sets none
            kwargs["timeout"] = self.timeout_seconds
        counted = isinstance(url, str) and ("/services/data/" in url or "/services/async/" in url)
        repeatable = method.upper() in _REPEATABLE
        attempts = Attempts()
        while True:
            if counted:
                self.budget.check()
                self.budget.calls += 1
            try:
                response = super().request(method, url, *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as error:
                retry = self._classify_failure(error, attempts, method, url, repeatable)
                self._wait(retry, f"{type(error).__name__} on {method} {_path(url)}")
                continue
            self._observe(response)
            answer = self._classify(response, attempts, method, url, repeatable)
            if answer is None:
                return response
            self._wait(answer, f"HTTP {response.status_code} on {method} {_path(url)}")

    def _local(self, url: Any) -> Any:
        """The fake's URL as plain http (see the class); every other URL as it is."""
        if (
            self._https_prefix
            and self._http_prefix
            and isinstance(url, str)
            and url.startswith(self._https_prefix)
        ):
            return self._http_prefix + url[len(self._https_prefix) :]
        return url

    def _classify(
        self,
        response: requests.Response,
        attempts: Attempts,
        method: str,
        url: Any,
        repeatable: bool,
    ) -> Retry | None:
        """An answer -> None (hand it to simple-salesforce) or when to send it again.

        Raises :class:`QuotaExhaustedError` for REQUEST_LIMIT_EXCEEDED and
        :class:`RetriesExhaustedError` when the policy gives up. A request that is not
        repeatable gets its failed answer back: simple-salesforce raises, and the
        caller checks what happened instead of the transport repeating it blindly.
        """
        status = response.status_code
        if status == 403 and b"REQUEST_LIMIT_EXCEEDED" in response.content:
            raise QuotaExhaustedError(limit_exceeded_message(response.content))
        if not (repeatable and self.policy.retries(status)):
            return None
        now = self.now()
        decision = self.policy.decide(
            attempts,
            status,
            rng=self.rng,
            retry_after=retry_after_seconds(response.headers.get("Retry-After"), now=now),
        )
        if isinstance(decision, Retry):
            return decision
        raise retries_exhausted(
            decision,
            crm="Salesforce",
            request=f"{method} {_path(url)}",
            answer=f"HTTP {status}",
            status=status,
            policy=self.policy,
            table="salesforce",
            now=now,
        )

    def _classify_failure(
        self,
        error: requests.RequestException,
        attempts: Attempts,
        method: str,
        url: Any,
        repeatable: bool,
    ) -> Retry:
        """No answer -> when to send the request again; or raise :class:`CrmUnavailableError`.

        A connect timeout never reached the server: safe to repeat any request. Any
        other failure may have reached it, so only a repeatable request is sent again.
        """
        sent = not isinstance(error, requests.ConnectTimeout)
        decision = (
            self.policy.decide(attempts, 0, rng=self.rng)
            if repeatable or not sent
            else GiveUp("not_repeatable", attempts.sent + 1)
        )
        if isinstance(decision, Retry):
            return decision
        not_repeated = "" if repeatable else " (not repeated: it may have taken effect)"
        message = (
            f"cannot reach Salesforce ({type(error).__name__}) after {decision.attempts} "
            f"attempts: {method} {_path(url)}{not_repeated}; check the network and the "
            "instance URL, then rerun (state is saved)"
        )
        if decision.reason == "not_repeatable":
            raise CrmUnavailableError(message) from None
        raise RetriesExhaustedError(message, attempts=decision.attempts, status=0) from None

    def _wait(self, retry: Retry, why: str) -> None:
        self.retried += 1
        logger.warning("Salesforce: %s; retry %d in %.1f s", why, retry.number, retry.wait)
        self.sleep(retry.wait)

    def _observe(self, response: requests.Response) -> None:
        self.budget.observe(response.headers.get("Sforce-Limit-Info"))
        date = response.headers.get("Date")
        if date:
            with contextlib.suppress(TypeError, ValueError):
                self.server_time = email.utils.parsedate_to_datetime(date)


def _path(url: Any) -> str:
    return urlsplit(str(url)).path
