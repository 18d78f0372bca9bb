"""Opening simple-salesforce on our own session, and turning its errors into ours.

The only module (with :mod:`.transport`) that imports simple-salesforce; it is
imported lazily by :func:`mutuality_adapters.salesforce.plugin.connect` so that the
package imports without the ``salesforce`` extra.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from mutuality_adapters.salesforce.settings import SalesforceSettings
from mutuality_core.errors import (
    AuthenticationError,
    ConfigError,
    CrmUnavailableError,
    MissingDependencyError,
    QuotaExhaustedError,
)

__all__ = ["SalesforceClient", "import_simple_salesforce", "limit_exceeded_message", "open_client"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


def import_simple_salesforce() -> Any:
    try:
        import simple_salesforce
    except ImportError:
        raise MissingDependencyError("simple-salesforce", "salesforce") from None
    return simple_salesforce


class SalesforceClient:
    """A logged-in simple-salesforce client plus what the adapter needs around it.

    ``call`` runs one client operation and maps failures to typed errors. An expired
    session is renewed by logging in again when the credentials allow it (password
    or JWT); a bare session id cannot be renewed, so that case says what to do.
    """

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        session: Any,
        factory: Callable[[], Any],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.session = session
        self._factory = factory
        self.sleep = sleep
        self.sf = self._login()

    @property
    def budget(self) -> Any:
        return self.session.budget

    def _login(self) -> Any:
        sfmod = import_simple_salesforce()
        try:
            return self._factory()
        except sfmod.SalesforceAuthenticationFailed as error:
            raise AuthenticationError(
                f"Salesforce login failed ({error.code}): check SALESFORCE_USERNAME, "
                "SALESFORCE_PASSWORD and SALESFORCE_SECURITY_TOKEN (a new token is emailed "
                "after a password reset), or the JWT connected app and its pre-authorization"
            ) from None

    def can_relogin(self) -> bool:
        return self.settings.auth_mode != "session"

    def call(self, operation: Callable[[Any], T], *, what: str, relogin: bool = True) -> T:
        """Run ``operation(sf)``; ``relogin=False`` for steps that cannot be repeated
        on a new client (the next page of a running query)."""
        sfmod = import_simple_salesforce()
        relogged = False
        while True:
            try:
                return operation(self.sf)
            except sfmod.SalesforceExpiredSession:
                if not relogin:
                    raise AuthenticationError(
                        f"the Salesforce session expired while {what}; a running query "
                        "cannot continue on a new session. State is saved up to the last "
                        "page: rerun to continue"
                        + (
                            ""
                            if self.can_relogin()
                            else " with a fresh SALESFORCE_SESSION_ID (or configure "
                            "username/password/security token or the JWT flow)"
                        )
                    ) from None
                if relogged and self.can_relogin():
                    raise AuthenticationError(
                        f"the Salesforce session expired while {what} and logging in again "
                        "did not help (INVALID_SESSION_ID); check the integration user and "
                        "rerun (state is saved)"
                    ) from None
                if not self.can_relogin():
                    raise AuthenticationError(
                        "the Salesforce session expired or is invalid (INVALID_SESSION_ID) "
                        f"while {what}; set a fresh SALESFORCE_SESSION_ID, or configure "
                        "username/password/security token or the JWT flow so mutuality can "
                        "log in again by itself. State is saved; rerun after that"
                    ) from None
                logger.info("Salesforce session expired; logging in again")
                self.sf = self._login()
                relogged = True
            except sfmod.SalesforceRefusedRequest as error:
                codes = _codes(error.content)
                if "REQUEST_LIMIT_EXCEEDED" in codes:
                    raise QuotaExhaustedError(
                        limit_exceeded_message(_messages(error.content))
                    ) from None
                raise AuthenticationError(
                    f"Salesforce refused {what} ({', '.join(codes) or 'HTTP 403'}): the "
                    "integration user needs API Enabled and read access to Contact, Task, "
                    "Event and EmailMessage; see docs/salesforce.md"
                ) from None
            except sfmod.SalesforceMalformedRequest as error:
                codes = _codes(error.content)
                if "INVALID_FIELD" in codes and "Mutuality" in str(error.content):
                    raise ConfigError(
                        "the Mutuality fields are missing on Contact or not visible to the "
                        "integration user; run `mutuality setup salesforce` (see "
                        f"--grant-permission-set). Salesforce said: {_messages(error.content)}"
                    ) from None
                raise CrmUnavailableError(
                    f"Salesforce rejected {what}: {_messages(error.content)}. " + _next_step(codes)
                ) from None
            except sfmod.SalesforceError as error:
                if error.status in (414, 431):
                    raise CrmUnavailableError(
                        f"Salesforce refused {what} as too long (HTTP {error.status}): "
                        f"{_messages(error.content)}. Rerunning will not help: this is a "
                        "bug in how mutuality splits its queries, please report it with "
                        "this message (state is saved)"
                    ) from None
                raise CrmUnavailableError(
                    f"Salesforce failed while {what} (HTTP {error.status}): "
                    f"{_messages(error.content)}; state is saved, rerun later"
                ) from None


def limit_exceeded_message(content: Any) -> str:
    """REQUEST_LIMIT_EXCEEDED is two different limits; say which one was hit.

    ``TotalRequests Limit exceeded`` is the rolling 24-hour allowance; other
    messages (``ConcurrentPerOrgLongTxn Limit exceeded``) mean too many requests of
    20 s or more are running at once in the org, which clears within minutes.
    """
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    if "TotalRequests" in text:
        return (
            "Salesforce refused the request: the org's daily API allowance is exhausted "
            "(REQUEST_LIMIT_EXCEEDED: TotalRequests). State is saved; rerun when the rolling "
            "24-hour usage has dropped (Setup > Company Information shows it)"
        )
    return (
        "Salesforce refused the request: too many concurrent long-running requests in the "
        f"org (REQUEST_LIMIT_EXCEEDED: {text[:200]}). State is saved; rerun in a few "
        "minutes, or at a time when other integrations are quieter"
    )


def _next_step(codes: list[str]) -> str:
    """What to do about a 400 answer, by its error code."""
    if "QUERY_TIMEOUT" in codes:
        return (
            "The query ran too long on Salesforce's side; state is saved, so rerun "
            "(ideally off-peak). If it recurs, lower page_size (e.g. 500) so each request "
            "does less work"
        )
    if "INVALID_FIELD" in codes:
        return (
            "The integration user cannot see a field mutuality reads (field-level "
            "security): grant it Read on that field (Setup > Permission Sets > Object "
            "Settings), then rerun; state is saved"
        )
    return "State is saved; if a rerun fails the same way, report it with this message"


def _codes(content: Any) -> list[str]:
    if isinstance(content, list):
        return [str(item.get("errorCode")) for item in content if isinstance(item, dict)]
    return []


def _messages(content: Any) -> str:
    if isinstance(content, list):
        return "; ".join(
            f"{item.get('errorCode')}: {item.get('message')}"
            for item in content
            if isinstance(item, dict)
        )
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    return text[:300]


def open_client(
    settings: SalesforceSettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> SalesforceClient:
    """Log in (or adopt a session) through a :class:`SalesforceSession`."""
    sfmod = import_simple_salesforce()
    from mutuality_adapters.salesforce.transport import (
        ApiBudget,
        SalesforceSession,
        loopback_netloc,
    )

    loopback = None
    if settings.instance_url:
        loopback = loopback_netloc(settings.instance_url)
        scheme = urlsplit(settings.instance_url).scheme
        if scheme == "http" and loopback is None:
            raise ConfigError(
                "SALESFORCE_INSTANCE_URL must use https:// (plain http is accepted only for "
                f"a local fake server on 127.0.0.1/localhost); got {settings.instance_url!r}"
            )
    budget = ApiBudget(
        max_share_per_run=settings.max_share_per_run,
        max_share_total=settings.max_share_total,
        max_requests=settings.max_requests,
    )
    session = SalesforceSession(
        budget=budget,
        timeout=settings.timeout,
        retries=settings.retries,
        loopback=loopback,
        sleep=sleep,
    )
    mode = settings.auth_mode
    # Plain dicts: simple-salesforce parses into OrderedDict by default, which is slower.
    common: dict[str, Any] = {
        "version": settings.api_version,
        "session": session,
        "object_pairs_hook": dict,
    }

    def factory() -> Any:
        if mode == "session":
            return sfmod.Salesforce(
                instance_url=settings.instance_url, session_id=settings.session_id, **common
            )
        if mode == "password":
            return sfmod.Salesforce(
                username=settings.username,
                password=settings.password,
                security_token=settings.security_token,
                domain=settings.login_domain,
                **common,
            )
        return sfmod.Salesforce(
            username=settings.username,
            consumer_key=settings.consumer_key,
            privatekey_file=settings.private_key_file,
            domain=settings.login_domain,
            **common,
        )

    return SalesforceClient(settings, session=session, factory=factory, sleep=sleep)
