"""The one door to HubSpot: hubspot-api-client calls wrapped in limits, retries and typed errors.

Why our own layer: the client's urllib3 ``Retry`` does not retry POST (search,
batch) by default, cannot tell a ``TEN_SECONDLY_ROLLING`` 429 (wait) from a
``DAILY`` one (stop), knows nothing about our request budget, and raises a
different ``ApiException`` class per sub-package. Here every request:

1. checks the run's request budget (``max_requests``) and raises
   :class:`QuotaExhaustedError` before going over it;
2. waits for the client-side limiter (general: N per 10 s; search: 5 per second);
3. goes through the official client (so auth, URLs and serialisation are HubSpot's);
4. sorts a failed answer (:meth:`HubSpotApi._classify`): a ``DAILY`` 429 stops
   the run, 401/403 raise :class:`AuthenticationError` naming the scope, another
   4xx raises :class:`HubSpotRequestError`; 429/423/477/5xx/timeouts go to the
   shared :class:`~mutuality_adapters.retry.RetryPolicy`, which says how long to
   wait (``Retry-After`` in either form, else HubSpot's rate-limit window, else
   backoff with full jitter) or gives up with :class:`RetriesExhaustedError`;
5. waits (:meth:`HubSpotApi._wait`) and sends it again.

Response bodies are parsed with ``json.loads`` rather than the client's models:
deserialising 100,000 engagements through the generated models costs ~8 ms per
100 records, fifty times the JSON parse, and would make the sync CPU-bound.
The fake server's tests check its bodies against those models instead.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from mutuality_adapters.retry import Attempts, Retry, retries_exhausted, retry_after_seconds
from mutuality_core.errors import (
    AuthenticationError,
    ConfigError,
    CrmUnavailableError,
    MissingDependencyError,
    MutualityError,
    QuotaExhaustedError,
)

from .clock import Clock, NowMs, Sleep, wall_ms, wall_time
from .limiter import SlidingWindowLimiter
from .settings import HubSpotSettings

log = logging.getLogger(__name__)

SCOPE_READ = "crm.objects.contacts.read"
SCOPE_WRITE = "crm.objects.contacts.write"
SCOPE_SCHEMA_READ = "crm.schemas.contacts.read"
SCOPE_SCHEMA_WRITE = "crm.schemas.contacts.write"
#: HubSpot: "Locks will last for 2 seconds", so a 423 waits at least that long.
LOCKED_WAIT = 2.0


class HubSpotApiError(MutualityError):
    """HubSpot answered, but not with what we need; ``status`` and ``body`` say how.

    Raised as one of the two subclasses, so that the CLI's exit code says what to do.
    """

    def __init__(self, status: int, message: str, body: Mapping[str, Any] | None = None) -> None:
        self.status = status
        self.body = dict(body or {})
        self.category = str(self.body.get("category") or "")
        super().__init__(message)


class HubSpotRequestError(HubSpotApiError, ConfigError):
    """HubSpot refused the request as sent (a 4xx other than 401/403/423/429).

    Sending it again fails the same way, so it is a settings or schema problem (exit
    2), not an outage to wait out (exit 3): a missing property, a band value the
    property has no option for, a renamed property in the settings.
    """


class HubSpotResponseError(HubSpotApiError, CrmUnavailableError):
    """HubSpot's answer breaks its documented behaviour (e.g. a search ignoring a filter)."""


#: What the message of a refused request tells the user to do.
REQUEST_ERROR_HINT = (
    "check the [adapters.hubspot] settings (property names, tags_property) and run "
    "`mutuality setup hubspot` to create or fix the score properties; "
    "run the sync again once that is done"
)


def load_client() -> Any:
    """Import hubspot-api-client only when a connection is opened."""
    try:
        import hubspot
        import hubspot.crm.associations.v4
        import hubspot.crm.contacts
        import hubspot.crm.objects
        import hubspot.crm.properties
    except ImportError:
        raise MissingDependencyError("hubspot-api-client", "hubspot") from None
    return hubspot


def _decode(raw: bytes | str | None) -> Any:
    if raw is None or raw == b"" or raw == "":
        return {}
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    try:
        return json.loads(text)
    except ValueError:
        return {"message": text[:200]}


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    try:
        value = headers.get(name)
        if value is None:
            value = headers.get(name.lower())
    except AttributeError:
        return None
    return None if value is None else str(value)


@attrs.frozen
class _Answer:
    """What one attempt came back with: a status (0: no answer), the body and headers."""

    status: int
    raw: bytes | str | None = None
    headers: Any = None
    error: str = ""  # why no answer came, when status is 0

    @property
    def reason(self) -> str:
        return self.error if self.status == 0 else f"HTTP {self.status}"


def _rate_limit_window(limit_policy: str, kind: str, headers: Any) -> float:
    """How long a 429 without ``Retry-After`` should wait: the window it names."""
    if limit_policy == "SECONDLY" or kind == "search":
        return 1.0
    interval = _header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
    try:
        return float(interval) / 1000 if interval else 10.0
    except ValueError:
        return 10.0


def _refused(status: int, body: Mapping[str, Any], what: str, scope: str) -> AuthenticationError:
    """A 401 (the token) or 403 (a scope), naming the scope HubSpot says is missing."""
    if status == 401:
        return AuthenticationError(
            "HubSpot rejected the access token (401): check HUBSPOT_ACCESS_TOKEN "
            f"is a current private-app token with the {scope} scope"
        )
    needed = _missing_scope(body, scope)
    return AuthenticationError(
        f"HubSpot refused {what} (403): the private app is missing the scope "
        f"{needed}; add it in HubSpot (Settings > Integrations > Private apps) "
        "and use the new token"
    )


def _option(models: Any, option: Mapping[str, Any]) -> Any:
    return models.OptionInput(
        label=option["label"],
        value=option["value"],
        display_order=option.get("displayOrder", -1),
        hidden=bool(option.get("hidden", False)),
    )


_SCOPE_PATTERN = re.compile(r"[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+")


def _missing_scope(body: Mapping[str, Any], default: str) -> str:
    """The scope HubSpot says is missing (it lists them in the message or errors), else ours."""
    texts = [str(body.get("message") or "")]
    for err in body.get("errors") or []:
        if isinstance(err, Mapping):
            texts.append(str(err.get("message") or ""))
            ctx = err.get("context") or {}
            for key in ("requiredGranularScopes", "requiredScopes"):
                texts.extend(str(s) for s in ctx.get(key) or [])
    for text in texts:
        for found in _SCOPE_PATTERN.findall(text):
            if found.startswith(("crm.", "sales-", "content", "oauth")):
                return found
    return default


class HubSpotApi:
    """Typed, limited, retried access to the few HubSpot endpoints the adapter uses."""

    def __init__(
        self,
        settings: HubSpotSettings,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        now_ms: NowMs = wall_ms,
        rng: random.Random | None = None,
    ) -> None:
        """``clock``/``sleep`` pace and wait, ``now_ms`` dates an HTTP-date ``Retry-After``,
        ``rng`` jitters the backoff (all injected so that tests are exact)."""
        hubspot = load_client()
        from urllib3.util.retry import Retry as Urllib3Retry

        self.settings = settings
        self.policy = settings.retry_policy
        self._sleep = sleep
        self._clock = clock
        self._now_ms = now_ms
        self._rng = rng or random.Random()
        # No retries inside urllib3: this class decides (POST included, DAILY excluded).
        no_retry = Urllib3Retry(
            total=0, connect=0, read=0, redirect=0, status=0, raise_on_status=False
        )
        client = hubspot.HubSpot(
            access_token=settings.access_token,
            host=settings.base_url,
            base_url=settings.base_url,
            retry=no_retry,
        )
        # The client builds a new ApiClient and pool on every attribute access: cache them.
        self._objects_basic = client.crm.objects.basic_api
        self._objects_search = client.crm.objects.search_api
        self._contacts_batch = client.crm.contacts.batch_api
        self._assoc_batch = client.crm.associations.v4.batch_api
        self._properties = client.crm.properties.core_api
        self._groups = client.crm.properties.groups_api
        self._models = hubspot
        self.general_limiter = SlidingWindowLimiter(
            settings.requests_per_window, settings.rate_window_seconds, clock=clock, sleep=sleep
        )
        # a fractional rate (0.5/s) becomes 1 request per 2 s
        per_window = max(1, int(settings.search_requests_per_second))
        self.search_limiter = SlidingWindowLimiter(
            per_window,
            per_window / settings.search_requests_per_second,
            clock=clock,
            sleep=sleep,
        )
        self._configs: dict[str, Any] = {}
        self.requests_made = 0
        self.requests_by_kind: Counter[str] = Counter()
        self.retries = 0
        self.rate_limited = 0

    # -- one request: send, classify, wait ------------------------------------------------

    def _budget_left(self) -> None:
        limit = self.settings.max_requests
        if limit is not None and self.requests_made >= limit:
            raise QuotaExhaustedError(
                f"stopped at the request budget of {limit} HubSpot requests (--max-requests); "
                "progress is saved: run the sync again to continue"
            )

    def _call(
        self,
        what: str,
        kind: str,
        scope: str,
        method: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """Send ``method(*args, **kwargs)`` until it succeeds or the policy gives up; the body.

        ``what`` names the request in messages, ``kind`` its limiter and counter,
        ``scope`` the one a 401 names.
        """
        limiter = self.search_limiter if kind == "search" else self.general_limiter
        attempts = Attempts()
        while True:
            self._budget_left()
            limiter.acquire()
            self.requests_made += 1
            self.requests_by_kind[kind] += 1
            answer = self._send(method, args, kwargs)
            limiter.finished()
            if 200 <= answer.status < 300:
                return _decode(answer.raw)
            retry = self._classify(answer, attempts, what=what, kind=kind, scope=scope)
            self._wait(retry, answer, what, limiter)

    def _send(
        self, method: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> _Answer:
        """One attempt, raw (``_preload_content=False``, parsed by the caller) and timed out."""
        import urllib3

        try:
            response = method(
                *args, _preload_content=False, _request_timeout=self._timeout, **kwargs
            )
        except urllib3.exceptions.HTTPError as exc:  # timeouts, refused connections
            return _Answer(0, error=f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # the client's ApiException, one class per sub-package
            if not hasattr(exc, "status") or not hasattr(exc, "body"):
                raise
            status = int(getattr(exc, "status", 0) or 0)
            return _Answer(
                status,
                getattr(exc, "body", None),
                getattr(exc, "headers", None),
                error=str(getattr(exc, "reason", "") or exc) if status == 0 else "",
            )
        release = getattr(response, "release_conn", None)
        answer = _Answer(int(response.status), response.data, response.headers)
        if release is not None:  # vcrpy < 9 replays responses without it
            release()
        return answer

    def _classify(
        self, answer: _Answer, attempts: Attempts, *, what: str, kind: str, scope: str
    ) -> Retry:
        """A failed answer -> when to retry it; or raise the typed error that ends the request.

        HubSpot's own rules come first (a ``DAILY`` 429 ends the run, 401/403 name the
        scope, another 4xx is a settings problem); the shared policy decides the rest.
        """
        status = answer.status
        body = _decode(answer.raw) if status else {}
        if not isinstance(body, Mapping):
            body = {}
        limit_policy = ""
        hint = None
        if status == 429:
            self.rate_limited += 1
            limit_policy = str(body.get("policyName") or "").upper()
            if limit_policy == "DAILY":
                raise QuotaExhaustedError(
                    "HubSpot's daily API limit for this portal is used up (429 DAILY); "
                    "progress is saved: run the sync again after the limit resets "
                    "(midnight in the portal's time zone)"
                )
            hint = _rate_limit_window(limit_policy, kind, answer.headers)
        elif status in (401, 403):
            raise _refused(status, body, what, scope)
        elif not self.policy.retries(status):
            message = str(body.get("message") or f"HTTP {status}")
            raise HubSpotRequestError(
                status,
                f"HubSpot answered {status} to {what}: {message}; {REQUEST_ERROR_HINT}",
                body,
            )
        now = wall_time(self._now_ms)
        decision = self.policy.decide(
            attempts,
            status,
            rng=self._rng,
            retry_after=retry_after_seconds(_header(answer.headers, "Retry-After"), now=now),
            hint=hint,
            floor=LOCKED_WAIT if status == 423 else 0.0,
        )
        if isinstance(decision, Retry):
            return decision
        raise retries_exhausted(
            decision,
            crm="HubSpot",
            request=what,
            answer=answer.reason + (f" {limit_policy}" if limit_policy else ""),
            status=status,
            policy=self.policy,
            table="hubspot",
            now=now,
            rate_limit_advice="lower requests_per_window if another integration shares the "
            "portal's limit",
        )

    def _wait(
        self, retry: Retry, answer: _Answer, what: str, limiter: SlidingWindowLimiter
    ) -> None:
        """Wait before the retry; a rate limit holds back every request, not just this one."""
        self.retries += 1
        log.info(
            "HubSpot %s on %s; retry %d in %.1fs", answer.reason, what, retry.number, retry.wait
        )
        if retry.rate_limited:
            limiter.pause(retry.wait)  # the next acquire() waits it out
        else:
            self._sleep(retry.wait)

    def _model_config(self, package: Any) -> Any:
        """One Configuration per client package for request models: building one per model
        (the generated default) costs more than the request itself for 1,000-id batches."""
        config = self._configs.get(package.__name__)
        if config is None:
            config = self._configs[package.__name__] = package.Configuration()
        return config

    @property
    def _timeout(self) -> float:
        return self.settings.timeout_seconds

    # -- objects -------------------------------------------------------------------------

    def list_page(
        self,
        object_type: str,
        *,
        properties: Sequence[str],
        associations: Sequence[str] = (),
        after: str | None = None,
        limit: int = 100,
    ) -> Mapping[str, Any]:
        kwargs: dict[str, Any] = {"limit": limit, "properties": list(properties)}
        if associations:
            kwargs["associations"] = list(associations)
        if after:
            kwargs["after"] = after
        return self._call(
            f"listing {object_type}",
            "general",
            SCOPE_READ,
            self._objects_basic.get_page_with_http_info,
            object_type,
            **kwargs,
        )

    def search(self, object_type: str, request: Mapping[str, Any]) -> Mapping[str, Any]:
        models = self._models.crm.objects
        cfg = self._model_config(models)
        groups = [
            models.FilterGroup(
                filters=[
                    models.Filter(
                        property_name=f["propertyName"],
                        operator=f["operator"],
                        value=f.get("value"),
                        high_value=f.get("highValue"),
                        local_vars_configuration=cfg,
                    )
                    for f in group["filters"]
                ],
                local_vars_configuration=cfg,
            )
            for group in request.get("filterGroups", [])
        ]
        search_request = models.PublicObjectSearchRequest(
            filter_groups=groups,
            sorts=list(request.get("sorts", [])),
            properties=list(request.get("properties", [])),
            limit=request.get("limit"),
            after=request.get("after"),
            local_vars_configuration=cfg,
        )
        return self._call(
            f"searching {object_type}",
            "search",
            SCOPE_READ,
            self._objects_search.do_search_with_http_info,
            object_type,
            search_request,
        )

    def read_associations(
        self, from_type: str, to_type: str, inputs: Sequence[tuple[str, str | None]]
    ) -> Mapping[str, Any]:
        """v4 batch read of associations; inputs are (id, after-or-None). 207 is a normal answer."""
        models = self._models.crm.associations.v4
        cfg = self._model_config(models)
        batch = models.BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[
                models.PublicFetchAssociationsBatchRequest(
                    id=str(i), after=after, local_vars_configuration=cfg
                )
                for i, after in inputs
            ],
            local_vars_configuration=cfg,
        )
        return self._call(
            f"reading {from_type} to {to_type} associations",
            "associations",
            SCOPE_READ,
            self._assoc_batch.get_page_with_http_info,
            from_type,
            to_type,
            batch,
        )

    def update_contacts(
        self, updates: Sequence[tuple[str, Mapping[str, str]]]
    ) -> Mapping[str, Any]:
        """Batch update by record id (never creates). Returns the body of a 200 or 207."""
        models = self._models.crm.contacts
        cfg = self._model_config(models)
        batch = models.BatchInputSimplePublicObjectBatchInput(
            inputs=[
                models.SimplePublicObjectBatchInput(
                    id=str(cid), properties=dict(props), local_vars_configuration=cfg
                )
                for cid, props in updates
            ],
            local_vars_configuration=cfg,
        )
        return self._call(
            f"updating {len(updates)} contacts",
            "write",
            SCOPE_WRITE,
            self._contacts_batch.update_with_http_info,
            batch,
        )

    # -- the account ---------------------------------------------------------------------

    def portal_id(self) -> str:
        """The portal (Hub) id of the token's account: ``GET /account-info/v3/details``.

        The client has no typed API for it, so the request goes through one of its
        ApiClients (same auth, host and pool).
        """
        client = self._objects_basic.api_client
        try:
            body = self._call(
                "reading the account details",
                "general",
                "oauth",
                client.call_api,
                "/account-info/v3/details",
                "GET",
                header_params={"Accept": "application/json"},
                auth_settings=["oauth2"],
            )
        except AuthenticationError as exc:
            if "(403)" not in str(exc):
                raise
            raise AuthenticationError(
                f"{exc}; or name the state key yourself with target = "
                '"hubspot:portal-<your Hub ID>" in [adapters.hubspot], which skips this request'
            ) from None
        portal = body.get("portalId") if isinstance(body, Mapping) else None
        if portal in (None, ""):
            raise HubSpotResponseError(
                200,
                "HubSpot's account details name no portalId; set target in "
                '[adapters.hubspot] (e.g. target = "hubspot:portal-123") to name the state key',
                body if isinstance(body, Mapping) else None,
            )
        return str(portal)

    # -- properties and groups ----------------------------------------------------------

    def _read_schema_or_none(
        self, what: str, method: Callable[..., Any], *args: Any
    ) -> Mapping[str, Any] | None:
        """A schema read where 404 means "not created yet", not an error."""
        try:
            body: Mapping[str, Any] = self._call(what, "general", SCOPE_SCHEMA_READ, method, *args)
        except HubSpotApiError as exc:
            if exc.status == 404:
                return None
            raise
        return body

    def get_property(self, object_type: str, name: str) -> Mapping[str, Any] | None:
        return self._read_schema_or_none(
            f"reading property {name}",
            self._properties.get_by_name_with_http_info,
            object_type,
            name,
        )

    def create_property(self, object_type: str, spec: Mapping[str, Any]) -> Mapping[str, Any]:
        models = self._models.crm.properties
        create = models.PropertyCreate(
            name=spec["name"],
            label=spec["label"],
            type=spec["type"],
            field_type=spec["fieldType"],
            group_name=spec["groupName"],
            description=spec.get("description"),
            options=[_option(models, o) for o in spec.get("options", [])] or None,
            form_field=False,
        )
        return self._call(
            f"creating property {spec['name']}",
            "general",
            SCOPE_SCHEMA_WRITE,
            self._properties.create_with_http_info,
            object_type,
            create,
        )

    def update_property_options(
        self, object_type: str, name: str, options: Sequence[Mapping[str, Any]]
    ) -> Mapping[str, Any]:
        models = self._models.crm.properties
        update = models.PropertyUpdate(options=[_option(models, o) for o in options])
        return self._call(
            f"updating property {name}",
            "general",
            SCOPE_SCHEMA_WRITE,
            self._properties.update_with_http_info,
            object_type,
            name,
            update,
        )

    def get_group(self, object_type: str, name: str) -> Mapping[str, Any] | None:
        return self._read_schema_or_none(
            f"reading property group {name}",
            self._groups.get_by_name_with_http_info,
            object_type,
            name,
        )

    def create_group(self, object_type: str, name: str, label: str) -> Mapping[str, Any]:
        models = self._models.crm.properties
        create = models.PropertyGroupCreate(name=name, label=label, display_order=-1)
        return self._call(
            f"creating property group {name}",
            "general",
            SCOPE_SCHEMA_WRITE,
            self._groups.create_with_http_info,
            object_type,
            create,
        )
