"""The fake HubSpot's request handling: routing, HubSpot's documented limits, rate limits, faults.

Independent of sockets (``handle`` takes a parsed request and returns a
:class:`Response`) so it can be tested directly; :mod:`.server` puts it on HTTP.
Response bodies follow the shapes of HubSpot's v3 objects, v4 associations and
v3 properties APIs closely enough to deserialise with hubspot-api-client's models.
"""

from __future__ import annotations

import bisect
import json
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from .portal import (
    ASSOCIATION_TYPE_IDS,
    OBJECT_TYPES,
    SINGULAR,
    Portal,
    Record,
    created_property,
    iso_ms,
    modified_property,
    parse_ms,
)

SCOPE_READ = "crm.objects.contacts.read"
SCOPE_WRITE = "crm.objects.contacts.write"
SCHEMA_READ = "crm.schemas.contacts.read"
SCHEMA_WRITE = "crm.schemas.contacts.write"
SCOPE_ACCOUNT = "oauth"  # every token has it
ACCOUNT_DETAILS = "/account-info/v3/details"
LIST_MAX = 100
BATCH_MAX = 100
SEARCH_MAX = 200
SEARCH_RESULTS_CAP = 10_000
ASSOC_BATCH_MAX = 1000
ASSOC_PAGE = 500
EMBEDDED_ASSOC_PAGE = 100


@attrs.define
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = attrs.field(factory=dict)


@attrs.define
class RateLimits:
    """HubSpot-shaped limits. ``None`` disables one. Search and v4 association batch reads are
    exempt from the ten-secondly window (as HubSpot's specs mark them) but count per day.

    ``retry_after``: HubSpot does not document a ``Retry-After`` on its rate-limit 429s
    (and search responses carry no rate-limit headers at all), so by default there is
    none; a non-search 429 carries the ``X-HubSpot-RateLimit-*`` headers, as other
    responses do. ``day_seconds``: the length of a "day" for ``per_day`` (None: the day
    lasts until :meth:`FakeHubSpotApp.new_day` or ``POST /_fake/new-day``).
    """

    per_window: int | None = None
    window_seconds: float = 10.0
    search_per_second: int | None = None
    per_day: int | None = None
    retry_after: bool = False
    day_seconds: float | None = None


@attrs.define
class Fault:
    """An injected failure: the next ``times`` requests matching ``method``/``path`` get it.

    ``status`` 0 means "no error response", only the ``delay`` (a slow response).
    ``policy`` names the 429 policy (``TEN_SECONDLY_ROLLING``, ``SECONDLY``, ``DAILY``).
    ``retry_after`` adds a ``Retry-After`` header to the error: seconds (a number), or
    any text as it is, such as an HTTP-date (``Wed, 21 Oct 2026 07:28:00 GMT``).
    """

    status: int = 503
    times: int = 1
    path: str | None = None  # regular expression searched in the path
    method: str | None = None
    retry_after: float | str | None = None
    delay: float = 0.0
    policy: str = "TEN_SECONDLY_ROLLING"


@attrs.define
class UpdateFailure:
    """Batch updates of these ids fail per record (in a 207), each ``remaining[id]`` more times.

    The default is a transient failure (a client retries it); give a category such as
    ``VALIDATION_ERROR`` or ``OBJECT_NOT_FOUND`` for one a client should not retry.
    """

    remaining: dict[str, int]
    category: str = "INTERNAL_ERROR"
    message: str = "The update of this record failed; try again"


class FakeHubSpotApp:
    """Stateful request handler. All state is guarded by ``portal.lock``."""

    def __init__(
        self,
        portal: Portal | None = None,
        *,
        token: str | None = None,
        scopes: set[str] | None = None,
        limits: RateLimits | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.portal = portal or Portal()
        self.token = token
        self.scopes = scopes
        self.limits = limits or RateLimits()
        self.monotonic = monotonic
        self._sleep = sleep
        self.faults: list[Fault] = []
        self.update_failures: list[UpdateFailure] = []
        self.no_associations_as_207 = True
        self._window: deque[float] = deque()
        self._search_window: deque[float] = deque()
        self._day_count = 0
        self._day_started = monotonic()
        self.stats: Counter[str] = Counter()
        self.writes_by_contact: Counter[str] = Counter()
        self.request_log: list[tuple[str, str, int]] = []
        self.log_requests = False
        self._stats_lock = threading.Lock()

    # -- control -------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        with self.portal.lock:
            self.faults.append(fault)

    def fail_updates(self, ids: Sequence[str | int], *, times: int = 1, **kwargs: Any) -> None:
        """Make batch updates of ``ids`` fail per record, ``times`` times each (a 207)."""
        with self.portal.lock:
            self.update_failures.append(UpdateFailure({str(i): times for i in ids}, **kwargs))

    def new_day(self) -> None:
        """Start a new day: the per-day request count goes back to zero (HubSpot: midnight)."""
        with self.portal.lock:
            self._day_count = 0
            self._day_started = self.monotonic()

    def reset_stats(self) -> None:
        with self._stats_lock:
            self.stats.clear()
            self.writes_by_contact.clear()
            self.request_log.clear()

    @property
    def total_requests(self) -> int:
        return self.stats["total"]

    # -- entry point ---------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Response:
        method = method.upper()
        if path.startswith("/_fake/"):
            return self._control(method, path, body)
        route, scope, exempt, search = self._classify(method, path)
        with self._stats_lock:
            self.stats["total"] += 1
            self.stats[route] += 1
        response = self._guarded(method, path, query, headers, body, scope, exempt, search)
        if response.status >= 400:
            with self._stats_lock:
                self.stats[f"status {response.status}"] += 1
        if self.log_requests:
            with self._stats_lock:
                self.request_log.append((method, path, response.status))
        return response

    def _guarded(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        scope: str,
        exempt: bool,
        search: bool,
    ) -> Response:
        auth = headers.get("authorization") or headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return _error(401, "Authentication credentials not found.", "INVALID_AUTHENTICATION")
        if self.token is not None and auth[7:].strip() != self.token:
            return _error(
                401, "The OAuth token used to make this call expired.", "EXPIRED_AUTHENTICATION"
            )
        if self.scopes is not None and scope != SCOPE_ACCOUNT and scope not in self.scopes:
            return _error(
                403,
                "This app hasn't been granted all required scopes to make this call.",
                "MISSING_SCOPES",
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": [scope]},
                    }
                ],
            )
        fault = self._take_fault(method, path)
        if fault is not None:
            if fault.delay:
                self._sleep(fault.delay)
            if fault.status == 429:
                return self._rate_limited(fault.policy, fault.retry_after)
            if fault.status:
                error = _error(fault.status, f"Injected fault {fault.status}", "INTERNAL_ERROR")
                if fault.retry_after is not None:
                    error.headers["Retry-After"] = _retry_after_header(fault.retry_after)
                return error
        limited = self._check_limits(exempt, search)
        if limited is not None:
            return limited
        try:
            response = self._route(method, path, query, body)
        except _HttpError as exc:
            response = exc.response
        except (ValueError, KeyError, TypeError) as exc:
            response = _error(400, f"Invalid input: {exc}", "VALIDATION_ERROR")
        if not search:
            response.headers.update(self._limit_headers())
        return response

    # -- limits and faults --------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.portal.lock:
            for fault in self.faults:
                if fault.method and fault.method.upper() != method:
                    continue
                if fault.path and not re.search(fault.path, path):
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _rate_limited(
        self, policy: str, retry_after: float | str | None, *, search: bool = True
    ) -> Response:
        """A 429 as HubSpot sends it; ``search=False`` adds the rate-limit headers."""
        messages = {
            "DAILY": "You have reached your daily limit.",
            "SECONDLY": "You have reached your secondly limit.",
            "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
        }
        body = {
            "status": "error",
            "message": messages.get(policy, "You have reached your limit."),
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
        }
        headers = {}
        if not search:
            headers.update(self._limit_headers())
        if retry_after is not None:
            headers["Retry-After"] = _retry_after_header(retry_after)
        with self._stats_lock:
            self.stats[f"429 {policy}"] += 1
        return Response(429, body, headers)

    def _check_limits(self, exempt: bool, search: bool) -> Response | None:
        limits = self.limits
        now = self.monotonic()
        with self.portal.lock:
            if limits.day_seconds is not None and now - self._day_started >= limits.day_seconds:
                self._day_count = 0
                self._day_started = now
            if limits.per_day is not None and self._day_count >= limits.per_day:
                return self._rate_limited("DAILY", None, search=search)
            if search and limits.search_per_second is not None:
                window = self._search_window
                while window and now - window[0] >= 1.0:
                    window.popleft()
                if len(window) >= limits.search_per_second:
                    wait = 1.0 - (now - window[0])
                    return self._rate_limited(
                        "SECONDLY", round(wait, 3) if limits.retry_after else None
                    )
                window.append(now)
            elif not exempt and limits.per_window is not None:
                window = self._window
                while window and now - window[0] >= limits.window_seconds:
                    window.popleft()
                if len(window) >= limits.per_window:
                    wait = limits.window_seconds - (now - window[0])
                    return self._rate_limited(
                        "TEN_SECONDLY_ROLLING",
                        round(wait, 3) if limits.retry_after else None,
                        search=False,
                    )
                window.append(now)
            self._day_count += 1
        return None

    def _limit_headers(self) -> dict[str, str]:
        limits = self.limits
        headers: dict[str, str] = {}
        if limits.per_window is not None:
            headers["X-HubSpot-RateLimit-Max"] = str(limits.per_window)
            headers["X-HubSpot-RateLimit-Remaining"] = str(
                max(0, limits.per_window - len(self._window))
            )
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(
                int(limits.window_seconds * 1000)
            )
        if limits.per_day is not None:
            headers["X-HubSpot-RateLimit-Daily"] = str(limits.per_day)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(
                max(0, limits.per_day - self._day_count)
            )
        return headers

    # -- routing -------------------------------------------------------------------------

    _OBJECTS = re.compile(r"^/crm/v3/objects/(?P<type>[a-z_]+)(?P<rest>/.*)?$")
    _ASSOC = re.compile(r"^/crm/v4/associations/(?P<from>[a-z_]+)/(?P<to>[a-z_]+)/batch/read$")
    _PROPS = re.compile(r"^/crm/v3/properties/(?P<type>[a-z_]+)(?P<rest>/.*)?$")

    def _classify(self, method: str, path: str) -> tuple[str, str, bool, bool]:
        """(stats key, scope needed, exempt from the 10-s window, is a search)."""
        m = self._OBJECTS.match(path)
        if m:
            rest = m["rest"] or ""
            kind = m["type"]
            if rest == "/search":
                return f"search {kind}", SCOPE_READ, True, True
            if rest == "/batch/update":
                return f"batch/update {kind}", SCOPE_WRITE, False, False
            if rest == "/batch/read":
                return f"batch/read {kind}", SCOPE_READ, False, False
            if rest in ("", "/"):
                return f"list {kind}", SCOPE_READ, False, False
            return (
                f"{method} {kind} by id",
                SCOPE_READ if method == "GET" else SCOPE_WRITE,
                False,
                False,
            )
        m = self._ASSOC.match(path)
        if m:
            return f"associations {m['from']}->{m['to']}", SCOPE_READ, True, False
        m = self._PROPS.match(path)
        if m:
            scope = SCHEMA_READ if method == "GET" else SCHEMA_WRITE
            return f"{method} properties", scope, False, False
        if path == ACCOUNT_DETAILS:
            return "account details", SCOPE_ACCOUNT, False, False
        return f"{method} other", SCOPE_READ, False, False

    def _route(
        self, method: str, path: str, query: Mapping[str, list[str]], body: bytes
    ) -> Response:
        m = self._OBJECTS.match(path)
        if m:
            object_type = _object_type(m["type"])
            rest = (m["rest"] or "").rstrip("/")
            if method == "GET" and rest == "":
                return self._list(object_type, query)
            if method == "POST" and rest == "/search":
                return self._search(object_type, _json(body))
            if method == "POST" and rest == "/batch/read":
                return self._batch_read(object_type, _json(body))
            if method == "POST" and rest == "/batch/update":
                return self._batch_update(object_type, _json(body))
            if method == "GET" and rest.count("/") == 1:
                return self._get_one(object_type, rest[1:], query)
            return _error(405, f"{method} {path} is not supported by the fake", "NOT_SUPPORTED")
        m = self._ASSOC.match(path)
        if m and method == "POST":
            return self._assoc_batch_read(
                _object_type(m["from"]), _object_type(m["to"]), _json(body)
            )
        m = self._PROPS.match(path)
        if m:
            return self._properties(
                method, _object_type(m["type"]), (m["rest"] or "").rstrip("/"), body
            )
        if path == ACCOUNT_DETAILS and method == "GET":
            return Response(
                200,
                {
                    "portalId": self.portal.portal_id,
                    "accountType": "STANDARD",
                    "timeZone": "US/Eastern",
                    "companyCurrency": "USD",
                    "additionalCurrencies": [],
                    "utcOffset": "-05:00",
                    "utcOffsetMilliseconds": -18_000_000,
                    "uiDomain": "app.hubspot.com",
                    "dataHostingLocation": "na1",
                },
            )
        return _error(404, f"No route for {method} {path}", "OBJECT_NOT_FOUND")

    # -- objects -------------------------------------------------------------------------

    def _serialise(
        self,
        object_type: str,
        record: Record,
        properties: Sequence[str] | None,
        associations: Sequence[str] = (),
    ) -> dict[str, Any]:
        props = record.properties
        if properties:
            wanted = dict.fromkeys(properties)
            defaults = (
                ("createdate", "lastmodifieddate", "hs_object_id")
                if object_type == "contacts"
                else ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")
            )
            wanted.update(dict.fromkeys(defaults))
            shown = {name: props.get(name) for name in wanted}
        elif object_type == "contacts":
            shown = {
                name: props.get(name)
                for name in ("createdate", "email", "firstname", "hs_object_id",
                             "lastmodifieddate", "lastname")
            }  # fmt: skip
        else:
            shown = {
                name: props.get(name)
                for name in ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")
            }
        out: dict[str, Any] = {
            "id": str(record.id),
            "properties": shown,
            "createdAt": iso_ms(record.created_ms),
            "updatedAt": iso_ms(record.updated_ms),
            "archived": False,
        }
        if associations:
            embedded: dict[str, Any] = {}
            for to_type in associations:
                ids = self.portal.associated(object_type, record.id, to_type)
                if not ids:
                    continue
                label = f"{SINGULAR[object_type]}_to_{SINGULAR[to_type]}"
                block: dict[str, Any] = {
                    "results": [{"id": str(i), "type": label} for i in ids[:EMBEDDED_ASSOC_PAGE]]
                }
                if len(ids) > EMBEDDED_ASSOC_PAGE:
                    block["paging"] = {"next": {"after": str(EMBEDDED_ASSOC_PAGE), "link": None}}
                embedded[to_type] = block
            if embedded:
                out["associations"] = embedded
        return out

    def _list(self, object_type: str, query: Mapping[str, list[str]]) -> Response:
        limit = int(_first(query, "limit") or 10)
        if limit < 1 or limit > LIST_MAX:
            return _error(400, f"limit must be between 1 and {LIST_MAX}", "VALIDATION_ERROR")
        after = _first(query, "after")
        properties = _multi(query, "properties")
        associations = [_object_type(a) for a in _multi(query, "associations")]
        with self.portal.lock:
            ids = self.portal.sorted_ids(object_type)
            start = 0
            if after:
                try:
                    start = _bisect_left(ids, int(after))
                except ValueError:
                    return _error(
                        400, f"after must be a record id; got {after!r}", "VALIDATION_ERROR"
                    )
            chunk = ids[start : start + limit]
            table = self.portal.records[object_type]
            results = [
                self._serialise(object_type, table[i], properties, associations) for i in chunk
            ]
            body: dict[str, Any] = {"results": results}
            if start + limit < len(ids):
                next_id = ids[start + limit]
                body["paging"] = {
                    "next": {
                        "after": str(next_id),
                        "link": f"/crm/v3/objects/{object_type}?after={next_id}",
                    }
                }
        return Response(200, body)

    def _get_one(
        self, object_type: str, object_id: str, query: Mapping[str, list[str]]
    ) -> Response:
        with self.portal.lock:
            record = self.portal.get(object_type, object_id)
            if record is None:
                return _error(404, f"resource not found: {object_id}", "OBJECT_NOT_FOUND")
            return Response(
                200,
                self._serialise(
                    object_type,
                    record,
                    _multi(query, "properties"),
                    [_object_type(a) for a in _multi(query, "associations")],
                ),
            )

    def _batch_read(self, object_type: str, body: Mapping[str, Any]) -> Response:
        inputs = body.get("inputs") or []
        if len(inputs) > BATCH_MAX:
            return _too_many(len(inputs), BATCH_MAX)
        properties = body.get("properties") or []
        started = iso_ms(self.portal.clock_ms())
        results, missing = [], []
        with self.portal.lock:
            for item in inputs:
                record = self.portal.get(object_type, item.get("id"))
                if record is None:
                    missing.append(str(item.get("id")))
                else:
                    results.append(self._serialise(object_type, record, properties))
        return _batch_response(results, missing, started, self.portal.clock_ms(), object_type)

    def _batch_update(self, object_type: str, body: Mapping[str, Any]) -> Response:
        inputs = body.get("inputs") or []
        if len(inputs) > BATCH_MAX:
            return _too_many(len(inputs), BATCH_MAX)
        defs = self.portal.property_defs[object_type]
        started = self.portal.clock_ms()
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        failed: dict[tuple[str, str], list[str]] = {}
        with self.portal.lock:
            for item in inputs:
                props = item.get("properties") or {}
                for name in props:
                    definition = defs.get(name)
                    if definition is None:
                        return _error(
                            400,
                            f'Property values were not valid: [{{"isValid":false,'
                            f'"message":"Property \\"{name}\\" does not exist",'
                            f'"error":"PROPERTY_DOESNT_EXIST","name":"{name}"}}]',
                            "VALIDATION_ERROR",
                        )
                    if definition["modificationMetadata"]["readOnlyValue"]:
                        return _error(400, f"Property {name} is read only", "VALIDATION_ERROR")
            for item in inputs:
                object_id = str(item.get("id"))
                record = self.portal.get(object_type, object_id)
                if record is None:
                    missing.append(object_id)
                    continue
                failure = self._update_failure(object_id)
                if failure is not None:
                    failed.setdefault((failure.category, failure.message), []).append(object_id)
                    continue
                self.portal.update(object_type, record.id, item.get("properties") or {})
                if object_type == "contacts":
                    self.writes_by_contact[object_id] += 1
                results.append(
                    self._serialise(object_type, record, list(item.get("properties") or {}))
                )
        errors = [
            {
                "status": "error",
                "category": category,
                "message": message,
                "context": {"ids": ids},
                **_STANDARD_ERROR_EXTRAS,
            }
            for (category, message), ids in failed.items()
        ]
        return _batch_response(
            results, missing, iso_ms(started), self.portal.clock_ms(), object_type, errors
        )

    def _update_failure(self, object_id: str) -> UpdateFailure | None:
        for failure in self.update_failures:
            left = failure.remaining.get(object_id)
            if left:
                if left <= 1:
                    del failure.remaining[object_id]
                else:
                    failure.remaining[object_id] = left - 1
                if not failure.remaining:
                    self.update_failures.remove(failure)
                return failure
        return None

    # -- search --------------------------------------------------------------------------

    def _search(self, object_type: str, body: Mapping[str, Any]) -> Response:
        limit = int(body.get("limit") or 10)
        if limit < 1 or limit > SEARCH_MAX:
            return _error(400, f"limit must be between 1 and {SEARCH_MAX}", "VALIDATION_ERROR")
        after = int(body.get("after") or 0)
        if after >= SEARCH_RESULTS_CAP:
            return _error(
                400,
                "The search endpoints are limited to 10,000 total results for any given query.",
                "VALIDATION_ERROR",
            )
        groups = body.get("filterGroups") or []
        if len(groups) > 5 or sum(len(g.get("filters") or []) for g in groups) > 18:
            return _error(400, "too many filterGroups or filters", "VALIDATION_ERROR")
        sorts = body.get("sorts") or []
        if len(sorts) > 1:
            return _error(
                400, "Only one sorting rule can be applied to any search.", "VALIDATION_ERROR"
            )
        with self.portal.lock:
            predicates = [_compile_group(self.portal, object_type, g) for g in groups]
            ids = self.portal.sorted_ids(object_type)
            start = _bisect_right_or_zero(ids, [_id_floor(g) for g in groups])
            table = self.portal.records[object_type]
            matched = [
                table[i]
                for i in ids[start:]
                if not predicates or any(p(table[i]) for p in predicates)
            ]
            if sorts:
                sort = sorts[0]
                if isinstance(sort, str):
                    name, descending = sort.lstrip("-"), sort.startswith("-")
                else:
                    name = sort.get("propertyName")
                    descending = str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
                if name != "hs_object_id" or descending:  # else: already in id order
                    matched.sort(
                        key=lambda r: _sort_key(self.portal, object_type, r, name),
                        reverse=descending,
                    )
            end = min(after + limit, SEARCH_RESULTS_CAP)
            chunk = matched[after:end]
            results = [
                self._serialise(object_type, r, body.get("properties") or None) for r in chunk
            ]
        out: dict[str, Any] = {"total": len(matched), "results": results}
        if end < min(len(matched), SEARCH_RESULTS_CAP):
            out["paging"] = {"next": {"after": str(end)}}
        return Response(200, out)

    # -- associations --------------------------------------------------------------------

    def _assoc_batch_read(self, from_type: str, to_type: str, body: Mapping[str, Any]) -> Response:
        inputs = body.get("inputs") or []
        if len(inputs) > ASSOC_BATCH_MAX:
            return _too_many(len(inputs), ASSOC_BATCH_MAX)
        started = iso_ms(self.portal.clock_ms())
        type_id = ASSOCIATION_TYPE_IDS.get((from_type, to_type), 1)
        results, empty = [], []
        with self.portal.lock:
            for item in inputs:
                from_id = str(item.get("id"))
                ids = self.portal.associated(from_type, int(from_id), to_type)
                offset = int(item.get("after") or 0)
                chunk = ids[offset : offset + ASSOC_PAGE]
                if not chunk:
                    empty.append(from_id)
                    continue
                entry: dict[str, Any] = {
                    "from": {"id": from_id},
                    "to": [
                        {
                            "toObjectId": i,
                            "associationTypes": [
                                {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}
                            ],
                        }
                        for i in chunk
                    ],
                }
                if offset + ASSOC_PAGE < len(ids):
                    entry["paging"] = {"next": {"after": str(offset + ASSOC_PAGE), "link": None}}
                results.append(entry)
        errors = []
        if empty and self.no_associations_as_207:
            errors = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                    "message": f"No {to_type} is associated with {from_type} {i}.",
                    "context": {"fromObjectId": [i]},
                    **_STANDARD_ERROR_EXTRAS,
                }
                for i in empty
            ]
        body_out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso_ms(self.portal.clock_ms()),
        }
        if errors:
            body_out["numErrors"] = len(errors)
            body_out["errors"] = errors
            return Response(207, body_out)
        return Response(200, body_out)

    # -- properties ----------------------------------------------------------------------

    def _properties(self, method: str, object_type: str, rest: str, body: bytes) -> Response:
        portal = self.portal
        defs = portal.property_defs[object_type]
        groups = portal.groups[object_type]
        with portal.lock:
            if rest == "" and method == "GET":
                return Response(200, {"results": list(defs.values())})
            if rest == "" and method == "POST":
                spec = _json(body)
                for key in ("name", "label", "type", "fieldType", "groupName"):
                    if not spec.get(key):
                        return _error(400, f"{key} is required", "VALIDATION_ERROR")
                if spec["name"] in defs:
                    return _error(
                        409, f"A property named '{spec['name']}' already exists.", "CONFLICT"
                    )
                if spec["groupName"] not in groups and not any(
                    d["groupName"] == spec["groupName"] for d in defs.values()
                ):
                    return _error(
                        400,
                        f"property group {spec['groupName']} does not exist",
                        "VALIDATION_ERROR",
                    )
                now = iso_ms(portal.clock_ms())
                prop = {
                    "name": spec["name"],
                    "label": spec["label"],
                    "type": spec["type"],
                    "fieldType": spec["fieldType"],
                    "groupName": spec["groupName"],
                    "description": spec.get("description") or "",
                    "options": [
                        {"hidden": False, "displayOrder": i, **o}
                        for i, o in enumerate(spec.get("options") or [])
                    ],
                    "displayOrder": spec.get("displayOrder", -1),
                    "calculated": False,
                    "externalOptions": False,
                    "hasUniqueValue": bool(spec.get("hasUniqueValue", False)),
                    "hidden": bool(spec.get("hidden", False)),
                    "formField": bool(spec.get("formField", False)),
                    "createdAt": now,
                    "updatedAt": now,
                    "archived": False,
                    "modificationMetadata": {
                        "archivable": True,
                        "readOnlyDefinition": False,
                        "readOnlyValue": False,
                    },
                }
                defs[prop["name"]] = prop
                return Response(201, prop)
            if rest == "/groups" and method == "GET":
                return Response(200, {"results": list(groups.values())})
            if rest == "/groups" and method == "POST":
                spec = _json(body)
                if not spec.get("name") or not spec.get("label"):
                    return _error(400, "name and label are required", "VALIDATION_ERROR")
                if spec["name"] in groups:
                    return _error(409, f"group {spec['name']} already exists", "CONFLICT")
                group = {
                    "name": spec["name"],
                    "label": spec["label"],
                    "displayOrder": spec.get("displayOrder", -1),
                    "archived": False,
                }
                groups[group["name"]] = group
                return Response(201, group)
            if rest.startswith("/groups/") and method == "GET":
                found = groups.get(rest[len("/groups/") :])
                if found is None:
                    return _error(404, "Unable to find property group", "OBJECT_NOT_FOUND")
                return Response(200, found)
            if rest.count("/") == 1 and method in ("GET", "PATCH"):
                name = rest[1:]
                existing = defs.get(name)
                if existing is None:
                    return _error(404, f"Unable to find property {name}", "OBJECT_NOT_FOUND")
                prop = existing
                if method == "PATCH":
                    spec = _json(body)
                    if prop["modificationMetadata"]["readOnlyDefinition"]:
                        return _error(400, f"{name} is read only", "VALIDATION_ERROR")
                    for key in ("label", "description", "groupName", "displayOrder", "hidden"):
                        if key in spec and spec[key] is not None:
                            prop[key] = spec[key]
                    if spec.get("options") is not None:
                        prop["options"] = [
                            {"hidden": False, "displayOrder": i, **o}
                            for i, o in enumerate(spec["options"])
                        ]
                    prop["updatedAt"] = iso_ms(portal.clock_ms())
                return Response(200, prop)
        return _error(
            405, f"{method} properties{rest} is not supported by the fake", "NOT_SUPPORTED"
        )

    # -- control API ---------------------------------------------------------------------

    def _control(self, method: str, path: str, body: bytes) -> Response:
        """A small HTTP control API so users can inject faults into a running fake."""
        if path == "/_fake/stats" and method == "GET":
            with self._stats_lock:
                return Response(
                    200,
                    {
                        "requests": dict(self.stats),
                        "records": self.portal.counts(),
                        "contacts_written": sum(self.writes_by_contact.values()),
                    },
                )
        try:
            if path == "/_fake/faults" and method == "POST":
                spec = _control_spec(body, _FAULT_KEYS)
                self.inject(Fault(**spec))
                return Response(200, {"ok": True})
            if path == "/_fake/fail-updates" and method == "POST":
                spec = _control_spec(body, _FAIL_UPDATE_KEYS, required=("ids",))
                self.fail_updates(spec.pop("ids"), **spec)
                return Response(200, {"ok": True})
        except _HttpError as exc:
            return exc.response
        if path == "/_fake/reset-stats" and method == "POST":
            self.reset_stats()
            return Response(200, {"ok": True})
        if path == "/_fake/new-day" and method == "POST":
            self.new_day()
            return Response(200, {"ok": True})
        return _error(404, f"unknown control endpoint {method} {path}", "OBJECT_NOT_FOUND")


# -- helpers ---------------------------------------------------------------------------------

#: Fields HubSpot's spec marks required in a batch ``StandardError`` (the client's model
#: rejects an error without them once its client-side validation is on), although the
#: documentation's own 207 examples leave them out; empty, as nothing fills them here.
_STANDARD_ERROR_EXTRAS: Mapping[str, Any] = {"links": {}, "errors": []}


class _HttpError(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


_FAULT_KEYS = tuple(a.name for a in attrs.fields(Fault))


def _retry_after_header(value: float | str) -> str:
    """Seconds as HubSpot would write them (``3``, ``0.5``); text (an HTTP-date) as given."""
    return value if isinstance(value, str) else f"{value:g}"


_FAIL_UPDATE_KEYS = ("ids", "times", "category", "message")


def _control_spec(
    body: bytes, allowed: Sequence[str], *, required: Sequence[str] = ()
) -> dict[str, Any]:
    """A control request's JSON object; a 400 naming the allowed keys for anything else."""
    spec = _json(body)
    unknown = sorted(set(spec) - set(allowed))
    missing = [key for key in required if key not in spec]
    if unknown or missing:
        problem = (
            f"unknown key(s) {', '.join(unknown)}"
            if unknown
            else f"missing key(s) {', '.join(missing)}"
        )
        raise _HttpError(
            _error(400, f"{problem}; allowed keys: {', '.join(allowed)}", "VALIDATION_ERROR")
        )
    return spec


def _object_type(raw: str) -> str:
    aliases = {"contact": "contacts", "0-1": "contacts", "email": "emails", "call": "calls",
               "meeting": "meetings", "note": "notes", "communication": "communications",
               "task": "tasks"}  # fmt: skip
    name = aliases.get(raw, raw)
    if name not in OBJECT_TYPES:
        raise _HttpError(
            _error(400, f"Unable to infer object type from: {raw}", "VALIDATION_ERROR")
        )
    return name


def _json(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        raise _HttpError(_error(400, "Invalid JSON body", "VALIDATION_ERROR")) from None
    if not isinstance(value, dict):
        raise _HttpError(_error(400, "Body must be a JSON object", "VALIDATION_ERROR"))
    return value


def _first(query: Mapping[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _multi(query: Mapping[str, list[str]], key: str) -> list[str]:
    """Repeated (``a=1&a=2``) or comma-separated (``a=1,2``) values, both as HubSpot accepts."""
    out: list[str] = []
    for value in query.get(key, []):
        out.extend(v for v in value.split(",") if v)
    return out


def _bisect_left(ids: list[int], value: int) -> int:
    return bisect.bisect_left(ids, value)


def _error(
    status: int, message: str, category: str, *, errors: list[dict[str, Any]] | None = None
) -> Response:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    if errors:
        body["errors"] = errors
    return Response(status, body)


def _too_many(count: int, cap: int) -> Response:
    return _error(
        400,
        f"Batch input size {count} exceeds the limit of {cap} inputs per request.",
        "VALIDATION_ERROR",
    )


def _batch_response(
    results: list[dict[str, Any]],
    missing: list[str],
    started: str,
    completed_ms: int,
    object_type: str,
    errors: list[dict[str, Any]] | None = None,
) -> Response:
    errors = list(errors or [])
    if missing:
        errors.append(
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {SINGULAR[object_type].upper()} objects, they may "
                "be deleted or not exist. Check that ids are valid.",
                "context": {"ids": missing},
                **_STANDARD_ERROR_EXTRAS,
            }
        )
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": iso_ms(completed_ms),
    }
    if errors:
        body["numErrors"] = sum(len(e["context"].get("ids", [])) or 1 for e in errors)
        body["errors"] = errors
        return Response(207, body)
    return Response(200, body)


def _value_for(portal: Portal, object_type: str, record: Record, name: str) -> Any:
    if name == "hs_object_id":
        return record.id
    if name == modified_property(object_type):
        return record.updated_ms
    if name == created_property(object_type):
        return record.created_ms
    value = record.properties.get(name)
    if value is None:
        return None
    kind = portal.property_type(object_type, name)
    if kind == "datetime" or name == "hs_timestamp":
        return parse_ms(value)
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _coerce(sample: Any, raw: Any) -> Any:
    """Compare like HubSpot: numbers and dates numerically, strings case-insensitively."""
    if raw is None:
        return None
    if isinstance(sample, (int, float)):
        ms = parse_ms(raw)
        if ms is not None and not str(raw).replace(".", "", 1).lstrip("-").isdigit():
            return ms
        try:
            return float(raw)
        except (TypeError, ValueError):
            return ms
    return str(raw).lower()


def _matches(portal: Portal, object_type: str, record: Record, group: Mapping[str, Any]) -> bool:
    for flt in group.get("filters") or []:
        name = flt.get("propertyName")
        op = str(flt.get("operator", "EQ")).upper()
        actual = _value_for(portal, object_type, record, name)
        if op == "HAS_PROPERTY":
            ok = actual is not None and actual != ""
        elif op == "NOT_HAS_PROPERTY":
            ok = actual is None or actual == ""
        elif actual is None:
            ok = op in ("NEQ", "NOT_IN")
        else:
            left = actual if isinstance(actual, (int, float)) else str(actual).lower()
            if op in ("IN", "NOT_IN"):
                values = [_coerce(left, v) for v in flt.get("values") or []]
                ok = (left in values) == (op == "IN")
            else:
                right = _coerce(left, flt.get("value"))
                if right is None:
                    raise _HttpError(
                        _error(400, f"filter on {name} needs a value", "VALIDATION_ERROR")
                    )
                if op == "EQ":
                    ok = left == right
                elif op == "NEQ":
                    ok = left != right
                elif op == "GT":
                    ok = left > right
                elif op == "GTE":
                    ok = left >= right
                elif op == "LT":
                    ok = left < right
                elif op == "LTE":
                    ok = left <= right
                elif op == "BETWEEN":
                    high = _coerce(left, flt.get("highValue"))
                    ok = right <= left <= high
                elif op == "CONTAINS_TOKEN":
                    ok = str(right).strip("*") in str(left)
                else:
                    raise _HttpError(_error(400, f"unsupported operator {op}", "VALIDATION_ERROR"))
        if not ok:
            return False
    return True


def _sort_key(portal: Portal, object_type: str, record: Record, name: str) -> tuple[int, Any]:
    value = _value_for(portal, object_type, record, name)
    if value is None:
        return (1, 0)
    if isinstance(value, (int, float)):
        return (0, value)
    return (0, str(value).lower())


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda a, b: a == b,
    "NEQ": lambda a, b: a != b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
}


def _id_floor(group: Mapping[str, Any]) -> int | None:
    """The smallest id a group can match, from its ``hs_object_id`` GT/GTE filter."""
    floor = None
    for flt in group.get("filters") or []:
        if flt.get("propertyName") == "hs_object_id" and flt.get("operator") in ("GT", "GTE"):
            try:
                value = int(float(flt.get("value")))
            except (TypeError, ValueError):
                continue
            bound = value + 1 if flt.get("operator") == "GT" else value
            floor = bound if floor is None else max(floor, bound)
    return floor


def _bisect_right_or_zero(ids: list[int], floors: list[int | None]) -> int:
    if not floors or any(f is None for f in floors):
        return 0
    return bisect.bisect_left(ids, min(f for f in floors if f is not None))


def _compile_group(
    portal: Portal, object_type: str, group: Mapping[str, Any]
) -> Callable[[Record], bool]:
    """One predicate per filter group; fast paths for the id and the modified stamp."""
    checks: list[Callable[[Record], bool]] = []
    modified = modified_property(object_type)
    for flt in group.get("filters") or []:
        name = flt.get("propertyName")
        op = str(flt.get("operator", "EQ")).upper()
        fast = {"hs_object_id": "id", modified: "updated_ms"}.get(name)
        if fast and op in _OPS:
            right = _fast_value(fast, flt.get("value"))
            if right is None:
                raise _HttpError(_error(400, f"filter on {name} needs a value", "VALIDATION_ERROR"))
            checks.append(_compare_attribute(fast, _OPS[op], right))
            continue
        checks.append(_single_filter(portal, object_type, flt))
    return lambda r: all(check(r) for check in checks)


def _fast_value(attribute: str, value: Any) -> float | None:
    """A filter value on the id or the modified stamp, as the record attribute holds it."""
    if attribute == "updated_ms":
        return parse_ms(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _compare_attribute(
    attribute: str, compare: Callable[[Any, Any], bool], right: float
) -> Callable[[Record], bool]:
    return lambda record: compare(getattr(record, attribute), right)


def _single_filter(
    portal: Portal, object_type: str, flt: Mapping[str, Any]
) -> Callable[[Record], bool]:
    single = {"filters": [flt]}
    return lambda record: _matches(portal, object_type, record, single)
