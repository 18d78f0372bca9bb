"""The fake org: in-memory records, the REST resources the adapter uses, and faults.

HTTP-agnostic: :meth:`FakeOrg.handle` takes a method, path, query string, headers and
body and returns a status, headers and body. :mod:`.server` puts it behind
``http.server``. Everything is guarded by one lock, so a threaded server is safe.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import attrs

from mutuality_adapters.salesforce.fake import soql
from mutuality_adapters.salesforce.fake.schema import (
    CHILD_RELATIONSHIPS,
    KEY_PREFIXES,
    describe_field,
    org_schema,
)

__all__ = ["FakeOrg", "Response"]

JSON = "application/json;charset=UTF-8"
CSV_TYPE = "text/csv"
LOCK_ERROR = "UNABLE_TO_LOCK_ROW"
#: Salesforce answers 414/431 beyond this request-URI length (API 49.0 and later).
MAX_URI_BYTES = 16_384
LOCK_MESSAGE = "unable to obtain exclusive access to this record or 1 records"

#: Tooling ``Metadata.type`` -> describe type of the field it creates.
_TOOLING_TYPES = {
    "Number": "double",
    "Percent": "percent",
    "Text": "string",
    "Picklist": "picklist",
    "DateTime": "datetime",
    "LongTextArea": "textarea",
    "Checkbox": "boolean",
}


_FAULT_KINDS = frozenset(
    {
        "server_error",
        "expired_session",
        "request_limit",
        "lost_answer",
        "concurrent_limit",
        "query_timeout",
    }
)


@attrs.define
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = attrs.field(factory=dict)


@attrs.define
class _Fault:
    kind: str  # one of _FAULT_KINDS
    times: int
    path_contains: str | None = None
    method: str | None = None
    skip: int = 0
    retry_after: str | None = None


class _SfError(Exception):
    def __init__(
        self, status: int, code: str, message: str, *, retry_after: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


def _order_key(record: Mapping[str, Any], *, field: str) -> tuple[bool, Any]:
    """ORDER BY's sort key: nulls before values (after them when descending)."""
    value = record.get(field)
    return (value is not None, value if value is not None else "")


def _error_body(code: str, message: str) -> bytes:
    return json.dumps([{"message": message, "errorCode": code}]).encode()


class FakeOrg:
    """An org with Contacts, Tasks, Events, EmailMessages and their junction rows.

    ``clock`` stamps ``SystemModstamp`` on every write (millisecond resolution, so a
    bulk load shares one stamp, as in a real org); ``daily_limit`` is the allowance
    reported in ``Sforce-Limit-Info`` and ``/limits``; ``bulk_job_polls`` is how many
    status requests a closed Bulk API 2.0 job answers ``InProgress`` before it runs.
    """

    def __init__(
        self,
        *,
        daily_limit: int = 100_000,
        api_used: int = 0,
        clock: Callable[[], datetime] | None = None,
        enhanced_email: bool = True,
        shared_activities: bool = True,
        call_center: bool = True,
        api_version: str = "59.0",
        session_id: str = "FAKE-SESSION-TOKEN",
        max_page_size: int = 2000,
        bulk_job_polls: int = 1,
        max_child_page_size: int = 200,
    ) -> None:
        self._lock = threading.RLock()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.daily_limit = daily_limit
        self.api_used = api_used
        self.api_version = api_version
        self.max_page_size = max_page_size
        #: Status polls a closed Bulk API 2.0 job answers InProgress before it runs:
        #: real jobs are asynchronous, so a writer must poll (and not too often).
        self.bulk_job_polls = bulk_job_polls
        #: Sub-query rows per parent in one response; beyond it the nested result has
        #: ``done: false`` and its own ``nextRecordsUrl``, as in Salesforce.
        self.max_child_page_size = max_child_page_size
        self.features = {
            "enhanced_email": enhanced_email,
            "shared_activities": shared_activities,
            "call_center": call_center,
        }
        self.schema = org_schema(
            enhanced_email=enhanced_email,
            shared_activities=shared_activities,
            call_center=call_center,
        )
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in self.schema}
        self._children: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self._counter = itertools.count(1)
        self.custom_fields: dict[str, dict[str, Any]] = {}  # "Contact.X__c" -> metadata
        self.user_id = self._new_id("User")
        self.records["User"][self.user_id] = {
            "Id": self.user_id,
            "Username": "integration@example.com",
            "Name": "Integration User",
        }
        self.sessions: dict[str, str] = {session_id: self.user_id}
        self.session_id = session_id
        self.calls: Counter[str] = Counter()
        self.requests: list[tuple[str, str]] = []
        self._faults: list[_Fault] = []
        self._locked: Counter[str] = Counter()  # record id -> writes left that fail to lock
        #: object -> (code, message): API creates of that object fail per record, e.g.
        #: FieldPermissions for a user without "Manage Profiles and Permission Sets".
        self.reject_inserts: dict[str, tuple[str, str]] = {}
        self._locators: dict[str, tuple[soql.Query, list[str], bool, int]] = {}
        self._jobs: dict[str, dict[str, Any]] = {}
        self.updates: Counter[str] = Counter()  # contact id -> successful score writes
        #: Seed ids (files format) -> Salesforce ids, kept across seed_rows() calls.
        self.seed_contact_ids: dict[str, str] = {}
        #: Seed activity id -> the id the adapter reports (a logged email's Task id).
        self.seed_activity_ids: dict[str, str] = {}

    # ------------------------------------------------------------------ records

    def _new_id(self, obj: str) -> str:
        return f"{KEY_PREFIXES[obj]}{next(self._counter):012d}AAA"

    def now_stamp(self) -> str:
        return soql.canonical_datetime(self.clock())

    def insert(self, obj: str, fields: Mapping[str, Any], *, stamp: str | None = None) -> str:
        """Add a record as an admin would (not counted as an API call)."""
        with self._lock:
            record = dict(fields)
            record.setdefault("Id", self._new_id(obj))
            stamp = stamp or self.now_stamp()
            known = self.schema[obj]
            if "SystemModstamp" in known:
                record.setdefault("SystemModstamp", stamp)
            if "CreatedDate" in known:
                record.setdefault("CreatedDate", record.get("SystemModstamp", stamp))
            if "LastModifiedDate" in known:
                record.setdefault("LastModifiedDate", record.get("SystemModstamp", stamp))
            if "IsDeleted" in known:
                record.setdefault("IsDeleted", False)
            for parent, _rel, child, parent_field in CHILD_RELATIONSHIPS:
                if obj == child and child in self.schema and parent in self.schema:
                    self._children[(child, parent_field)][record[parent_field]].append(record["Id"])
            self.records[obj][record["Id"]] = record
            return record["Id"]

    def modify(
        self, obj: str, record_id: str, fields: Mapping[str, Any], *, stamp: str | None = None
    ) -> None:
        """Change a record as a user would: ``SystemModstamp`` moves."""
        with self._lock:
            record = self.records[obj][record_id]
            record.update(fields)
            stamp = stamp or self.now_stamp()
            record["SystemModstamp"] = stamp
            if "LastModifiedDate" in self.schema[obj]:
                record["LastModifiedDate"] = stamp
            if "LastModifiedById" in self.schema[obj]:
                record["LastModifiedById"] = fields.get("LastModifiedById", "005USER000000001AAA")

    def delete(self, obj: str, record_id: str) -> None:
        with self._lock:
            self.modify(obj, record_id, {"IsDeleted": True})

    def children(self, child: str, parent_field: str, parent_id: str) -> list[dict[str, Any]]:
        ids = self._children.get((child, parent_field), {}).get(parent_id, [])
        rows = self.records[child]
        return [rows[i] for i in ids if i in rows and not rows[i].get("IsDeleted")]

    def add_custom_field(
        self, full_name: str, metadata: Mapping[str, Any], *, visible: bool
    ) -> str:
        with self._lock:
            obj, field = full_name.split(".", 1)
            kind = _TOOLING_TYPES.get(metadata.get("type", ""), "string")
            field_id = self._new_id("CustomField")
            self.custom_fields[full_name] = {
                "Id": field_id,
                "metadata": dict(metadata),
                "kind": kind,
            }
            self.schema[obj][field] = kind
            if visible:
                self._grant(full_name)
            return field_id

    def _grant(self, full_name: str) -> None:
        perm_set = next(
            (p for p in self.records["PermissionSet"].values() if p["Name"] == "FakeAdminFLS"),
            None,
        )
        if perm_set is None:
            ps_id = self.insert("PermissionSet", {"Name": "FakeAdminFLS", "Label": "Fake FLS"})
            self.insert(
                "PermissionSetAssignment", {"PermissionSetId": ps_id, "AssigneeId": self.user_id}
            )
        else:
            ps_id = perm_set["Id"]
        self.insert(
            "FieldPermissions",
            {
                "ParentId": ps_id,
                "SobjectType": full_name.split(".")[0],
                "Field": full_name,
                "PermissionsRead": True,
                "PermissionsEdit": True,
            },
        )

    def _visible_custom_fields(self, user_id: str) -> dict[str, tuple[bool, bool]]:
        """Custom fields the user can see (read, edit), through assigned permission sets."""
        assigned = {
            a["PermissionSetId"]
            for a in self.records["PermissionSetAssignment"].values()
            if a["AssigneeId"] == user_id
        }
        visible: dict[str, tuple[bool, bool]] = {}
        for perm in self.records["FieldPermissions"].values():
            if perm["ParentId"] in assigned and perm.get("PermissionsRead"):
                _read, edit = visible.get(perm["Field"], (False, False))
                visible[perm["Field"]] = (True, edit or bool(perm.get("PermissionsEdit")))
        return visible

    def field_visible(self, obj: str, field: str, user_id: str) -> bool:
        if not field.endswith("__c"):
            return field in self.schema.get(obj, {})
        return f"{obj}.{field}" in self._visible_custom_fields(user_id)

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        kind: str,
        *,
        times: int = 1,
        path_contains: str | None = None,
        method: str | None = None,
        skip: int = 0,
        retry_after: float | str | None = None,
    ) -> None:
        """Answer the next ``times`` matching API requests with a fault.

        ``kind``: ``server_error`` (503), ``expired_session`` (401 INVALID_SESSION_ID),
        ``request_limit`` (403 REQUEST_LIMIT_EXCEEDED), ``lost_answer`` (the request is
        carried out, then answered 503: what a client cannot tell from a failure),
        ``concurrent_limit`` (403 REQUEST_LIMIT_EXCEEDED for too many concurrent
        long-running requests), ``query_timeout`` (400 QUERY_TIMEOUT).
        ``skip`` lets that many matching requests through first. ``retry_after`` adds a
        ``Retry-After`` header to a ``server_error``: seconds (a number), or any text as
        it is, such as an HTTP-date (``Sun, 01 Nov 2026 12:00:30 GMT``).
        """
        if kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        header = None
        if retry_after is not None:
            header = retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
        with self._lock:
            self._faults.append(_Fault(kind, times, path_contains, method, skip, header))

    def lock_rows(self, record_ids: Iterable[str], *, times: int = 1) -> None:
        """The next ``times`` writes to each record fail with UNABLE_TO_LOCK_ROW."""
        with self._lock:
            for record_id in record_ids:
                self._locked[record_id] += times

    def expire_sessions(self) -> str:
        """Invalidate every session and return a fresh one (as a re-login would)."""
        with self._lock:
            self.sessions.clear()
            self.session_id = f"FAKE-SESSION-{uuid.uuid4().hex}"
            self.sessions[self.session_id] = self.user_id
            return self.session_id

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._locked.clear()

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method and fault.method != method:
                continue
            if fault.path_contains and fault.path_contains not in path:
                continue
            if fault.skip:
                fault.skip -= 1
                continue
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            return fault
        return None

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "api_used": self.api_used,
                "daily_limit": self.daily_limit,
                "calls": dict(self.calls),
                "records": {name: len(rows) for name, rows in self.records.items()},
            }

    # ------------------------------------------------------------------ HTTP entry

    def handle(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        with self._lock:
            if len(path) + len(query) + 1 > MAX_URI_BYTES:
                return self._respond(
                    414, _error_body("URI_TOO_LONG", "The request URI exceeds 16384 bytes")
                )
            try:
                return self._handle(method, path, query, headers, body)
            except _SfError as error:
                response = self._respond(error.status, _error_body(error.code, error.message))
                if error.retry_after is not None:
                    response.headers["Retry-After"] = error.retry_after
                return response
            except soql.MalformedQuery as error:
                return self._respond(400, _error_body("MALFORMED_QUERY", str(error)))

    def _respond(self, status: int, body: bytes = b"", content_type: str = JSON) -> Response:
        headers = {"Sforce-Limit-Info": f"api-usage={self.api_used}/{self.daily_limit}"}
        if body:
            headers["Content-Type"] = content_type
        return Response(status, body, headers)

    def _json(self, payload: Any, status: int = 200) -> Response:
        return self._respond(status, json.dumps(payload, separators=(",", ":")).encode())

    def _handle(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        path = path.rstrip("/")
        if path == "/services/oauth2/userinfo":
            user = self._authenticate(headers)
            record = self.records["User"][user]
            return self._json(
                {
                    "user_id": user,
                    "organization_id": "00D000000000001AAA",
                    "preferred_username": record["Username"],
                }
            )
        prefix = f"/services/data/v{self.api_version}"
        if not path.startswith(prefix):
            raise _SfError(404, "NOT_FOUND", "The requested resource does not exist")
        user = self._authenticate(headers)
        resource = path[len(prefix) :].lstrip("/")
        self.api_used += 1
        kind = resource.split("/", 1)[0] or "versions"
        self.calls[kind] += 1
        self.requests.append((method, resource))
        fault = self._take_fault(method, resource)
        if fault is not None and fault.kind == "lost_answer":
            # the request is carried out, then its answer is lost (a 503 on the way back)
            params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
            self._route(method, resource, params, headers, body, user)
            raise _SfError(503, "SERVER_UNAVAILABLE", "Service temporarily unavailable")
        if fault is not None:
            if fault.kind == "server_error":
                raise _SfError(
                    503,
                    "SERVER_UNAVAILABLE",
                    "Service temporarily unavailable",
                    retry_after=fault.retry_after,
                )
            if fault.kind == "expired_session":
                raise _SfError(401, "INVALID_SESSION_ID", "Session expired or invalid")
            if fault.kind == "concurrent_limit":
                raise _SfError(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "ConcurrentPerOrgLongTxn Limit exceeded.",
                )
            if fault.kind == "query_timeout":
                raise _SfError(
                    400,
                    "QUERY_TIMEOUT",
                    "Your query request was running for too long.",
                )
            raise _SfError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if self.api_used > self.daily_limit:
            raise _SfError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        return self._route(method, resource, params, headers, body, user)

    def _authenticate(self, headers: Mapping[str, str]) -> str:
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        token = auth.removeprefix("Bearer ").removeprefix("OAuth ").strip()
        user = self.sessions.get(token)
        if user is None:
            raise _SfError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return user

    def _route(
        self,
        method: str,
        resource: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        user: str,
    ) -> Response:
        parts = resource.split("/")
        if parts[0] in ("query", "queryAll") and method == "GET":
            if len(parts) > 1 and parts[1]:
                return self._json(self._query_more(parts[1]))
            return self._json(
                self._query(params.get("q", ""), parts[0] == "queryAll", headers, user)
            )
        if parts[0] == "tooling":
            return self._tooling(method, parts[1:], params, body, user)
        if parts[0] == "limits" and method == "GET":
            remaining = max(self.daily_limit - self.api_used, 0)
            return self._json(
                {
                    "DailyApiRequests": {"Max": self.daily_limit, "Remaining": remaining},
                    "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                }
            )
        if parts[0] == "sobjects":
            return self._sobjects(method, parts[1:], body, user)
        if parts[:2] == ["composite", "sobjects"]:
            return self._collections(method, body, user)
        if parts[:2] == ["jobs", "ingest"]:
            return self._bulk(method, parts[2:], body, user)
        raise _SfError(404, "NOT_FOUND", "The requested resource does not exist")

    # ------------------------------------------------------------------ query

    def _check_object(self, obj: str) -> None:
        if obj not in self.schema:
            raise _SfError(
                400,
                "INVALID_TYPE",
                f"sObject type '{obj}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name.",
            )

    def _check_field(self, obj: str, field: str, user: str) -> None:
        head = field.split(".", 1)[0]
        if "." in field and head == "Account" and obj == "Contact":
            return
        if not self.field_visible(obj, head, user):
            raise _SfError(400, "INVALID_FIELD", f"No such column '{field}' on entity '{obj}'.")

    def _query(
        self, text: str, include_deleted: bool, headers: Mapping[str, str], user: str
    ) -> dict[str, Any]:
        query = soql.parse(text)
        self._check_object(query.object)
        for field in query.fields:
            self._check_field(query.object, field, user)
        for sub in query.subqueries:
            relationship = next(
                (c for c in CHILD_RELATIONSHIPS if c[0] == query.object and c[1] == sub.object),
                None,
            )
            if relationship is None or relationship[2] not in self.schema:
                raise _SfError(
                    400,
                    "INVALID_TYPE",
                    f"Didn't understand relationship '{sub.object}' in FROM part of query call.",
                )
            for field in sub.fields:
                self._check_field(relationship[2], field, user)
        for field, literal in query.temporal:
            kind = self.schema[query.object].get(field)
            if kind in ("date", "datetime") and kind != literal:
                wanted = "dateTime" if kind == "datetime" else "date"
                raise _SfError(
                    400,
                    "INVALID_FIELD",
                    f"value of filter criterion for field '{field}' must be of type {wanted} "
                    "and should not be enclosed in quotes",
                )
        rows = list(self.records[query.object].values())
        if not include_deleted:
            rows = [r for r in rows if not r.get("IsDeleted") and not r.get("IsArchived")]
        if query.where is not None:
            rows = [r for r in rows if query.where(r)]
        for field, descending in reversed(query.order_by):
            rows.sort(key=functools.partial(_order_key, field=field), reverse=descending)
        if query.limit is not None:
            rows = rows[: query.limit]
        ids = [r["Id"] for r in rows]
        page_size = self.max_page_size
        options = headers.get("Sforce-Query-Options") or headers.get("sforce-query-options")
        if options and "batchSize=" in options:
            requested = int(options.split("batchSize=")[1].split(";")[0])
            page_size = min(max(requested, 200), self.max_page_size)
        locator = uuid.uuid4().hex[:15]
        self._locators[locator] = (query, ids, include_deleted, page_size)
        return self._page(locator, 0)

    def _query_more(self, token: str) -> dict[str, Any]:
        locator, _, offset = token.rpartition("-")
        if locator not in self._locators:
            raise _SfError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(locator, int(offset))

    def _page(self, locator: str, offset: int) -> dict[str, Any]:
        query, ids, _deleted, page_size = self._locators[locator]
        chunk = ids[offset : offset + page_size]
        table = self.records[query.object]
        records = [self._serialize(query, table[i]) for i in chunk if i in table]
        done = offset + page_size >= len(ids)
        payload: dict[str, Any] = {"totalSize": len(ids), "done": done, "records": records}
        if done:
            del self._locators[locator]
        else:
            payload["nextRecordsUrl"] = (
                f"/services/data/v{self.api_version}/query/{locator}-{offset + page_size}"
            )
        return payload

    def _serialize(self, query: soql.Query, record: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attributes": {
                "type": query.object,
                "url": f"/services/data/v{self.api_version}/sobjects/{query.object}/{record['Id']}",
            }
        }
        for field in query.fields:
            if "." in field:
                head, tail = field.split(".", 1)
                parent = record.get(head)
                out[head] = (
                    {"attributes": {"type": head}, tail: parent.get(tail)}
                    if isinstance(parent, Mapping)
                    else None
                )
            else:
                out[field] = record.get(field)
        for sub in query.subqueries:
            _parent, _rel, child, parent_field = next(
                c for c in CHILD_RELATIONSHIPS if c[0] == query.object and c[1] == sub.object
            )
            kids = self.children(child, parent_field, record["Id"])
            if sub.where is not None:
                kids = [k for k in kids if sub.where(k)]
            if not kids:
                out[sub.object] = None
                continue
            # The child rows are a query result of their own: the first batch inline,
            # the rest behind a nested nextRecordsUrl.
            child_query = soql.Query(child, sub.fields, (), None, (), None)
            locator = uuid.uuid4().hex[:15]
            self._locators[locator] = (
                child_query,
                [k["Id"] for k in kids],
                False,
                self.max_child_page_size,
            )
            out[sub.object] = self._page(locator, 0)
        return out

    # ------------------------------------------------------------------ describe

    def _describe(self, obj: str, user: str) -> dict[str, Any]:
        self._check_object(obj)
        fields = []
        for name, kind in self.schema[obj].items():
            if not self.field_visible(obj, name, user):
                continue
            extra: dict[str, Any] = {}
            custom = self.custom_fields.get(f"{obj}.{name}")
            if custom:
                meta = custom["metadata"]
                extra = {
                    "precision": meta.get("precision", 0),
                    "scale": meta.get("scale", 0),
                    "length": meta.get("length", 0),
                    "updateable": self._visible_custom_fields(user)[f"{obj}.{name}"][1],
                }
                values = (meta.get("valueSet") or {}).get("valueSetDefinition", {}).get("value", [])
                extra["picklistValues"] = [
                    {"value": v["fullName"], "label": v.get("label", v["fullName"]), "active": True}
                    for v in values
                ]
            fields.append(describe_field(name, kind, extra))
        children = [
            {"childSObject": child, "field": parent_field, "relationshipName": rel}
            for parent, rel, child, parent_field in CHILD_RELATIONSHIPS
            if parent == obj and child in self.schema
        ]
        return {
            "name": obj,
            "queryable": True,
            "updateable": True,
            "keyPrefix": KEY_PREFIXES.get(obj),
            "fields": fields,
            "childRelationships": children,
        }

    def _sobjects(self, method: str, parts: list[str], body: bytes, user: str) -> Response:
        if not parts or not parts[0]:
            return self._json(
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": 200,
                    "sobjects": [
                        {"name": name, "queryable": True, "keyPrefix": KEY_PREFIXES.get(name)}
                        for name in self.schema
                    ],
                }
            )
        obj = parts[0]
        if len(parts) >= 2 and parts[1] == "describe" and method == "GET":
            return self._json(self._describe(obj, user))
        if len(parts) == 1 and method == "POST":
            self._check_object(obj)
            new_id = self.insert(obj, json.loads(body or b"{}"))
            return self._json({"id": new_id, "success": True, "errors": []}, status=201)
        if len(parts) == 2 and method == "PATCH":
            result = self._update_one(obj, parts[1], json.loads(body or b"{}"), user)
            if result is not None:
                raise _SfError(400, result[0], result[1])
            return self._respond(204)
        raise _SfError(404, "NOT_FOUND", "The requested resource does not exist")

    # ------------------------------------------------------------------ writes

    def _update_one(
        self,
        obj: str,
        record_id: str,
        fields: Mapping[str, Any],
        user: str,
        stamp: str | None = None,
    ) -> tuple[str, str] | None:
        """Apply one update; return ``(code, message)`` when it fails."""
        self._check_object(obj)
        record = self.records[obj].get(record_id)
        if record is None:
            prefix = KEY_PREFIXES.get(obj, "")
            if not record_id.startswith(prefix) or len(record_id) not in (15, 18):
                return "MALFORMED_ID", f"{obj} ID: id value of incorrect type: {record_id}"
            return "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"
        if record.get("IsDeleted"):
            return "ENTITY_IS_DELETED", "entity is deleted"
        for field in fields:
            if field in ("Id", "attributes"):
                continue
            if not self.field_visible(obj, field, user):
                raise _SfError(
                    400, "INVALID_FIELD", f"No such column '{field}' on sobject of type {obj}"
                )
        if self._locked.get(record_id, 0) > 0:
            self._locked[record_id] -= 1
            return LOCK_ERROR, LOCK_MESSAGE
        values = {
            k: self._coerce(obj, k, v) for k, v in fields.items() if k not in ("Id", "attributes")
        }
        self.modify(obj, record_id, {**values, "LastModifiedById": user}, stamp=stamp)
        if obj == "Contact":
            self.updates[record_id] += 1
        return None

    def _coerce(self, obj: str, field: str, value: Any) -> Any:
        kind = self.schema[obj].get(field)
        if value in ("", None):
            return None
        if kind in ("double", "percent", "int") and isinstance(value, str):
            return float(value)
        if kind == "datetime" and isinstance(value, str):
            text = value.replace("Z", "+00:00")
            if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
                text = text[:-2] + ":" + text[-2:]
            return soql.canonical_datetime(datetime.fromisoformat(text))
        return value

    def _collections(self, method: str, body: bytes, user: str) -> Response:
        payload = json.loads(body or b"{}")
        records = payload.get("records") or []
        if len(records) > 200:
            raise _SfError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        if payload.get("allOrNone") and method == "PATCH":
            raise _SfError(400, "NOT_SUPPORTED", "the fake supports allOrNone=false only")
        results: list[dict[str, Any]] = []
        if method == "POST":
            return self._json(self._create_many(records, bool(payload.get("allOrNone"))))
        for record in records:
            obj = (record.get("attributes") or {}).get("type")
            if not obj:
                raise _SfError(400, "INVALID_TYPE", "Must send a concrete entity type.")
            fields = {k: v for k, v in record.items() if k not in ("attributes", "id", "Id")}
            if method != "PATCH":
                raise _SfError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed")
            record_id = record.get("id") or record.get("Id") or ""
            failure = self._update_one(obj, record_id, fields, user)
            if failure is None:
                results.append({"id": record_id, "success": True, "errors": []})
            else:
                results.append(
                    {
                        "success": False,
                        "errors": [{"statusCode": failure[0], "message": failure[1], "fields": []}],
                    }
                )
        return self._json(results)

    def _create_many(
        self, records: list[dict[str, Any]], all_or_none: bool
    ) -> list[dict[str, Any]]:
        """sObject Collections create; with allOrNone, one failure rolls back the rest."""
        planned: list[tuple[str, dict[str, Any], tuple[str, str] | None]] = []
        for record in records:
            obj = (record.get("attributes") or {}).get("type")
            if not obj:
                raise _SfError(400, "INVALID_TYPE", "Must send a concrete entity type.")
            self._check_object(obj)
            fields = {k: v for k, v in record.items() if k not in ("attributes", "id", "Id")}
            planned.append((obj, fields, self.reject_inserts.get(obj)))
        failed = any(error for _o, _f, error in planned)
        results = []
        for obj, fields, error in planned:
            if error is None and all_or_none and failed:
                error = (
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request "
                    "was using AllOrNone header",
                )
            if error is not None:
                results.append(
                    {
                        "success": False,
                        "errors": [{"statusCode": error[0], "message": error[1], "fields": []}],
                    }
                )
                continue
            results.append({"id": self.insert(obj, fields), "success": True, "errors": []})
        return results

    def _bulk(self, method: str, parts: list[str], body: bytes, user: str) -> Response:
        if not parts and method == "POST":
            spec = json.loads(body)
            if spec.get("operation") != "update":
                raise _SfError(
                    400, "FEATURENOTENABLED", "the fake supports update ingest jobs only"
                )
            self._check_object(spec.get("object", ""))
            job_id = self._new_id("Job")
            job = {
                "id": job_id,
                "operation": "update",
                "object": spec["object"],
                "state": "Open",
                "contentType": "CSV",
                "columnDelimiter": spec.get("columnDelimiter", "COMMA"),
                "lineEnding": spec.get("lineEnding", "LF"),
                "apiVersion": float(self.api_version),
                "jobType": "V2Ingest",
                "concurrencyMode": "Parallel",
                "numberRecordsProcessed": 0,
                "numberRecordsFailed": 0,
                "_data": b"",
                "_failed": [],
                "_ok": [],
                "_header": [],
            }
            self._jobs[job_id] = job
            return self._json(_public(job))
        if not parts:
            raise _SfError(405, "METHOD_NOT_ALLOWED", "not allowed")
        found = self._jobs.get(parts[0])
        if found is None:
            raise _SfError(404, "NOT_FOUND", "The requested resource does not exist")
        job = found
        if len(parts) == 1 and method == "GET":
            if job["state"] in ("UploadComplete", "InProgress"):
                if job["_polls_left"] > 0:
                    job["_polls_left"] -= 1
                    job["state"] = "InProgress"
                else:
                    self._run_job(job, user)
            return self._json(_public(job))
        if len(parts) == 1 and method == "PATCH":
            state = json.loads(body).get("state")
            if state == "UploadComplete" and job["state"] == "Open":
                job["state"] = "UploadComplete"  # runs later, as status polls arrive
                job["_polls_left"] = self.bulk_job_polls
            elif state == "Aborted" and job["state"] in ("Open", "UploadComplete", "InProgress"):
                job["state"] = "Aborted"
            else:
                raise _SfError(
                    400,
                    "INVALIDJOBSTATE",
                    f"Job {job['id']} is {job['state']}; it cannot become {state}",
                )
            return self._json(_public(job))
        if len(parts) == 1 and method == "DELETE":
            del self._jobs[parts[0]]
            return self._respond(204)
        if parts[1] == "batches" and method == "PUT":
            if job["state"] != "Open":
                raise _SfError(400, "INVALIDJOBSTATE", "Job is not open")
            job["_data"] += body
            return self._respond(201)
        if (
            parts[1]
            in ("failedResults", "successfulResults", "unprocessedrecords", "unprocessedRecords")
            and method == "GET"
        ):
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            header = job["_header"]
            if parts[1] == "failedResults":
                writer.writerow(["sf__Id", "sf__Error", *header])
                for row, error in job["_failed"]:
                    writer.writerow(["", error, *row])
            elif parts[1] == "successfulResults":
                writer.writerow(["sf__Id", "sf__Created", *header])
                for row in job["_ok"]:
                    writer.writerow([row[header.index("Id")], "false", *row])
            else:
                writer.writerow(header)
            return self._respond(200, out.getvalue().encode(), CSV_TYPE)
        raise _SfError(404, "NOT_FOUND", "The requested resource does not exist")

    def _run_job(self, job: dict[str, Any], user: str) -> None:
        reader = csv.reader(io.StringIO(job["_data"].decode("utf-8")))
        rows = list(reader)
        header, data = (rows[0], rows[1:]) if rows else ([], [])
        job["_header"] = header
        # As in Salesforce, a header naming a field the user cannot see fails the
        # whole job (nothing is written), not each row.
        unknown = [
            f for f in header if f != "Id" and not self.field_visible(job["object"], f, user)
        ]
        if "Id" not in header or unknown:
            job["state"] = "Failed"
            missing = "Id" if "Id" not in header else unknown[0]
            job["errorMessage"] = f"InvalidBatch : Field name not found : {missing}"
            return
        stamp = self.now_stamp()  # a bulk job commits its rows with one stamp
        for row in data:
            cells = dict(zip(header, row, strict=False))
            record_id = cells.pop("Id")
            # Bulk API 2.0: an empty cell leaves the field as it is; #N/A clears it.
            fields = {k: None if v == "#N/A" else v for k, v in cells.items() if v != ""}
            try:
                failure = self._update_one(job["object"], record_id, fields, user, stamp)
            except _SfError as error:
                failure = (error.code, error.message)
            if failure is None:
                job["_ok"].append(row)
            else:
                job["_failed"].append((row, f"{failure[0]}:{failure[1]}:--"))
        job["numberRecordsProcessed"] = len(data)
        job["numberRecordsFailed"] = len(job["_failed"])
        job["state"] = "JobComplete"

    # ------------------------------------------------------------------ tooling

    def _tooling(
        self, method: str, parts: list[str], params: Mapping[str, str], body: bytes, user: str
    ) -> Response:
        if parts and parts[0] == "query" and method == "GET":
            query = soql.parse(params.get("q", ""))
            if query.object != "CustomField":
                raise _SfError(
                    400, "INVALID_TYPE", f"sObject type '{query.object}' is not supported."
                )
            rows = [
                {
                    "Id": spec["Id"],
                    "DeveloperName": name.split(".", 1)[1].removesuffix("__c"),
                    "TableEnumOrId": name.split(".", 1)[0],
                    "FullName": name,
                }
                for name, spec in self.custom_fields.items()
            ]
            if query.where is not None:
                rows = [r for r in rows if query.where(r)]
            records = [
                {"attributes": {"type": "CustomField"}, **{f: r.get(f) for f in query.fields}}
                for r in rows
            ]
            return self._json(
                {"size": len(records), "totalSize": len(records), "done": True, "records": records}
            )
        if parts[:2] == ["sobjects", "CustomField"] and method == "POST":
            spec = json.loads(body)
            full_name = spec.get("FullName", "")
            if full_name in self.custom_fields:
                raise _SfError(
                    400, "DUPLICATE_DEVELOPER_NAME", f"There's already a field named {full_name}."
                )
            if "." not in full_name or not full_name.endswith("__c"):
                raise _SfError(400, "INVALID_FIELD", f"bad FullName {full_name!r}")
            self._check_object(full_name.split(".")[0])
            field_id = self.add_custom_field(full_name, spec.get("Metadata") or {}, visible=False)
            return self._json(
                {"id": field_id, "success": True, "errors": [], "warnings": [], "infos": []},
                status=201,
            )
        raise _SfError(404, "NOT_FOUND", "The requested resource does not exist")


def _public(job: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if not k.startswith("_")}


def days_ago(now: datetime, days: float) -> datetime:
    return now - timedelta(days=days)
