"""The one HTTP session every Salesforce request goes through.

simple-salesforce sets no timeouts, retries nothing but a re-login, forces
``https://`` and reads ``Sforce-Limit-Info`` only on some code paths (not Bulk
2.0). Doing all of that in a ``requests.Session`` it is handed means no request
escapes the allowance guard, whichever client method made it.

Imported only from :func:`mutuality_adapters.salesforce.client.open_client`, after
simple-salesforce (and so requests) is known to be installed.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import math
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import attrs
import requests

from mutuality_adapters.salesforce.client import limit_exceeded_message
from mutuality_core.errors import CrmUnavailableError, QuotaExhaustedError

__all__ = ["ApiBudget", "SalesforceSession", "loopback_netloc"]

logger = logging.getLogger(__name__)

_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
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
    """Timeouts, retries with backoff, the allowance guard and the loopback rewrite.

    ``loopback`` (``"127.0.0.1:PORT"``) is set only when the configured instance URL
    is plain http on this machine: then, and only then, the ``https://`` URLs that
    simple-salesforce builds for that exact host and port are sent as ``http://``.
    Every other host keeps https.
    """

    def __init__(
        self,
        *,
        budget: ApiBudget,
        timeout: float = 60.0,
        retries: int = 4,
        backoff: float = 1.0,
        loopback: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.budget = budget
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self._https_prefix = f"https://{loopback}" if loopback else None
        self._http_prefix = f"http://{loopback}" if loopback else None
        self.server_time: datetime | None = None
        self.retried = 0

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if self._https_prefix and isinstance(url, str) and url.startswith(self._https_prefix):
            url = self._http_prefix + url[len(self._https_prefix) :]  # type: ignore[operator]
        if kwargs.get("timeout") is None:  # missing or None: simple-salesforce sets none
            kwargs["timeout"] = self.timeout
        counted = isinstance(url, str) and ("/services/data/" in url or "/services/async/" in url)
        repeatable = method.upper() in _REPEATABLE
        attempt = 0
        while True:
            if counted:
                self.budget.check()
                self.budget.calls += 1
            try:
                response = super().request(method, url, *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as error:
                # A connect timeout never reached the server: safe to repeat any request.
                sent = not isinstance(error, requests.ConnectTimeout)
                if attempt >= self.retries or (sent and not repeatable):
                    not_repeated = "" if repeatable else " (not repeated: it may have taken effect)"
                    raise CrmUnavailableError(
                        f"cannot reach Salesforce ({type(error).__name__}) after "
                        f"{attempt + 1} attempts: {method} {_path(url)}{not_repeated}; check "
                        "the network and the instance URL, then rerun (state is saved)"
                    ) from None
                self._pause(attempt, f"{type(error).__name__} on {method} {_path(url)}")
                attempt += 1
                continue
            self._observe(response)
            if response.status_code in _RETRY_STATUSES and repeatable and attempt < self.retries:
                self._pause(attempt, f"HTTP {response.status_code} on {method} {_path(url)}")
                attempt += 1
                continue
            if response.status_code == 403 and b"REQUEST_LIMIT_EXCEEDED" in response.content:
                raise QuotaExhaustedError(limit_exceeded_message(response.content))
            return response

    def _observe(self, response: requests.Response) -> None:
        self.budget.observe(response.headers.get("Sforce-Limit-Info"))
        date = response.headers.get("Date")
        if date:
            with contextlib.suppress(TypeError, ValueError):
                self.server_time = email.utils.parsedate_to_datetime(date)

    def _pause(self, attempt: int, why: str) -> None:
        delay = self.backoff * (2**attempt)
        self.retried += 1
        logger.warning("Salesforce: %s; retrying in %.1f s", why, delay)
        self.sleep(delay)


def _path(url: Any) -> str:
    return urlsplit(str(url)).path
