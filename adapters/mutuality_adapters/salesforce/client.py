"""Opening simple-salesforce on our own session, and turning its errors into ours.

The only module (with :mod:`.transport`) that imports simple-salesforce; it is
imported lazily by :func:`mutuality_adapters.salesforce.plugin.connect` so that the
package imports without the ``salesforce`` extra.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from mutuality_adapters.salesforce.errors import (
    error_codes,
    error_messages,
    limit_exceeded_message,
    next_step,
)
from mutuality_adapters.salesforce.settings import SalesforceSettings
from mutuality_core.errors import (
    AuthenticationError,
    ConfigError,
    CrmUnavailableError,
    MissingDependencyError,
    QuotaExhaustedError,
)

if TYPE_CHECKING:  # requests is there only with the salesforce extra: open_client imports it
    from mutuality_adapters.salesforce.transport import ApiBudget, SalesforceSession

__all__ = ["SalesforceClient", "import_simple_salesforce", "open_client"]

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
        session: SalesforceSession,
        factory: Callable[[], Any],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.session = session
        self._factory = factory
        self.sleep = sleep
        self.sf = self._login()

    @property
    def budget(self) -> ApiBudget:
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
        on a new client (the next page of a running query).

        An expired session is renewed once, by a new login, and the operation sent
        again; that is not a retry of the back-off kind (waiting renews nothing), and
        what waiting can fix the transport's retry policy has already retried.
        """
        sfmod = import_simple_salesforce()
        try:
            return self._typed(operation, what)
        except sfmod.SalesforceExpiredSession:
            self._renew_session(what, relogin=relogin)
        try:
            return self._typed(operation, what)
        except sfmod.SalesforceExpiredSession:
            raise AuthenticationError(
                f"the Salesforce session expired while {what} and logging in again "
                "did not help (INVALID_SESSION_ID); check the integration user and "
                "rerun (state is saved)"
            ) from None

    def _renew_session(self, what: str, *, relogin: bool) -> None:
        """Log in again after INVALID_SESSION_ID, or say why that cannot be done."""
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
        if not self.can_relogin():
            raise AuthenticationError(
                "the Salesforce session expired or is invalid (INVALID_SESSION_ID) "
                f"while {what}; set a fresh SALESFORCE_SESSION_ID, or configure "
                "username/password/security token or the JWT flow so mutuality can "
                "log in again by itself. State is saved; rerun after that"
            ) from None
        logger.info("Salesforce session expired; logging in again")
        self.sf = self._login()

    def _typed(self, operation: Callable[[Any], T], what: str) -> T:
        """``operation(sf)`` with simple-salesforce's errors as ours (an expired session
        passes through: :meth:`call` renews it)."""
        sfmod = import_simple_salesforce()
        try:
            return operation(self.sf)
        except sfmod.SalesforceExpiredSession:
            raise
        except sfmod.SalesforceRefusedRequest as error:
            codes = error_codes(error.content)
            if "REQUEST_LIMIT_EXCEEDED" in codes:
                raise QuotaExhaustedError(
                    limit_exceeded_message(error_messages(error.content))
                ) from None
            raise AuthenticationError(
                f"Salesforce refused {what} ({', '.join(codes) or 'HTTP 403'}): the "
                "integration user needs API Enabled and read access to Contact, Task, "
                "Event and EmailMessage; see docs/salesforce.md"
            ) from None
        except sfmod.SalesforceMalformedRequest as error:
            codes = error_codes(error.content)
            said = error_messages(error.content)
            if "INVALID_FIELD" in codes and "Mutuality" in str(error.content):
                raise ConfigError(
                    "the Mutuality fields are missing on Contact or not visible to the "
                    "integration user; run `mutuality setup salesforce` (see "
                    f"--grant-permission-set). Salesforce said: {said}"
                ) from None
            raise CrmUnavailableError(
                f"Salesforce rejected {what}: {said}. " + next_step(codes)
            ) from None
        except sfmod.SalesforceError as error:
            if error.status in (414, 431):
                raise CrmUnavailableError(
                    f"Salesforce refused {what} as too long (HTTP {error.status}): "
                    f"{error_messages(error.content)}. Rerunning will not help: this is a "
                    "bug in how mutuality splits its queries, please report it with "
                    "this message (state is saved)"
                ) from None
            raise CrmUnavailableError(
                f"Salesforce failed while {what} (HTTP {error.status}): "
                f"{error_messages(error.content)}; state is saved, rerun later"
            ) from None


def open_client(
    settings: SalesforceSettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] | None = None,
    rng: random.Random | None = None,
) -> SalesforceClient:
    """Log in (or adopt a session) through a :class:`SalesforceSession`.

    ``sleep``, ``now`` (dates an HTTP-date ``Retry-After``) and ``rng`` (the backoff's
    jitter) are injected so that tests run without waiting and are exact.
    """
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
        timeout_seconds=settings.timeout_seconds,
        policy=settings.retry_policy,
        loopback=loopback,
        sleep=sleep,
        now=now,
        rng=rng,
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
