"""The fake HubSpot: HubSpot's shapes (checked with the client's own models), limits, state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import urllib3
from mutuality_adapters.hubspot.fake import Fault, Portal, RateLimits, running_fake_hubspot
from mutuality_adapters.hubspot.fake.seed import seed_from_files

pytest.importorskip("hubspot")
import hubspot.crm.associations.v4
import hubspot.crm.contacts
import hubspot.crm.objects
import hubspot.crm.properties

TOKEN = "pat-na1-00000000-test-token-do-not-log"


def http(server, method, path, body=None, token=TOKEN):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = urllib3.request(
        method,
        server.base_url + path,
        body=None if body is None else json.dumps(body).encode(),
        headers=headers,
        retries=False,
    )
    return response.status, (json.loads(response.data) if response.data else None), response


class _Raw:
    def __init__(self, payload):
        self.data = json.dumps(payload)


def deserialize(package, payload, model_name):
    """Parse like the client does, with its client-side validation on.

    By default the generated models accept anything (``{"results": [{"foo": 1}]}``
    parses, every field None); with ``client_side_validation`` a missing required
    field or an enum value outside the spec raises.
    """
    config = package.Configuration()
    config.client_side_validation = True
    client = package.ApiClient(configuration=config)
    return client.deserialize(_Raw(payload), model_name)


def test_the_model_check_rejects_a_body_missing_required_fields():
    """The check the tests below rely on can fail: a record without its required fields."""
    model = "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging"
    with pytest.raises(ValueError, match="must not be `None`"):
        deserialize(hubspot.crm.objects, {"results": [{"foo": 1}]}, model)


@pytest.fixture
def seeded(portal: Portal):
    a = portal.add_contact({"email": "a@example.com", "firstname": "Ada"})
    b = portal.add_contact({"email": "b@example.com"})
    email = portal.add_engagement(
        "emails",
        {"hs_timestamp": "2026-01-02T00:00:00Z", "hs_email_direction": "EMAIL"},
        [a, b],
    )
    note = portal.add_engagement("notes", {"hs_timestamp": "2026-01-03T00:00:00Z"}, [])
    return a, b, email, note


def test_list_deserializes_with_the_client_models(server, seeded):
    a, b, email, _ = seeded
    status, body, _ = http(
        server,
        "GET",
        "/crm/v3/objects/emails?limit=1&properties=hs_timestamp&associations=contacts",
    )
    assert status == 200
    model = deserialize(
        hubspot.crm.objects,
        body,
        "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging",
    )
    record = model.results[0]
    assert record.id == str(email)
    assert record.properties["hs_timestamp"] == "2026-01-02T00:00:00.000Z"
    assert [x.id for x in record.associations["contacts"].results] == [str(a), str(b)]
    assert record.updated_at.year == 2026
    status, body, _ = http(server, "GET", "/crm/v3/objects/contacts?limit=1&properties=email")
    page = deserialize(
        hubspot.crm.contacts,
        body,
        "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging",
    )
    assert page.results[0].properties["email"] == "a@example.com"
    assert page.paging.next.after == str(b)


def test_search_batch_and_associations_deserialize(server, seeded):
    a, b, email, note = seeded
    status, body, _ = http(
        server,
        "POST",
        "/crm/v3/objects/contacts/search",
        {
            "filterGroups": [
                {"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": str(a)}]}
            ],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": ["email"],
            "limit": 10,
        },
    )
    model = deserialize(
        hubspot.crm.contacts, body, "CollectionResponseWithTotalSimplePublicObjectForwardPaging"
    )
    assert model.total == 1 and model.results[0].id == str(b)

    status, body, _ = http(
        server,
        "POST",
        "/crm/v3/objects/contacts/batch/update",
        {
            "inputs": [
                {"id": str(a), "properties": {"firstname": "Z"}},
                {"id": "999", "properties": {}},
            ]
        },
    )
    assert status == 207
    model = deserialize(hubspot.crm.contacts, body, "BatchResponseSimplePublicObjectWithErrors")
    assert model.num_errors == 1 and model.errors[0].context == {"ids": ["999"]}
    assert model.results[0].properties["firstname"] == "Z"
    status, body, _ = http(
        server,
        "POST",
        "/crm/v3/objects/contacts/batch/update",
        {"inputs": [{"id": str(a), "properties": {"firstname": "Y"}}]},
    )
    assert status == 200
    ok = deserialize(hubspot.crm.contacts, body, "BatchResponseSimplePublicObject")
    assert ok.status == "COMPLETE" and ok.results[0].id == str(a)

    status, body, _ = http(
        server,
        "POST",
        "/crm/v4/associations/emails/contacts/batch/read",
        {"inputs": [{"id": str(email)}, {"id": str(note)}]},
    )
    assert status == 207  # the note has no contacts: HubSpot's NO_ASSOCIATIONS_FOUND
    v4 = hubspot.crm.associations.v4
    model = deserialize(v4, body, "BatchResponsePublicAssociationMultiWithLabelWithErrors")
    assert [t.to_object_id for t in model.results[0].to] == [str(a), str(b)]
    assert model.results[0].to[0].association_types[0].type_id == 198
    assert model.errors[0].sub_category == "crm.associations.NO_ASSOCIATIONS_FOUND"


def test_properties_and_groups_deserialize(server):
    status, body, _ = http(
        server, "POST", "/crm/v3/properties/contacts/groups", {"name": "g", "label": "G"}
    )
    assert status == 201
    group = deserialize(hubspot.crm.properties, body, "PropertyGroup")
    assert group.name == "g"
    status, body, _ = http(
        server,
        "POST",
        "/crm/v3/properties/contacts",
        {"name": "x_band", "label": "Band", "type": "enumeration", "fieldType": "select",
         "groupName": "g", "options": [{"label": "Mutual", "value": "mutual"}]},
    )  # fmt: skip
    assert status == 201
    prop = deserialize(hubspot.crm.properties, body, "ModelProperty")
    assert prop.type == "enumeration" and prop.options[0].value == "mutual"
    status, body, _ = http(server, "GET", "/crm/v3/properties/contacts")
    listing = deserialize(hubspot.crm.properties, body, "CollectionResponsePropertyNoPaging")
    assert "x_band" in {p.name for p in listing.results}
    status, body, _ = http(
        server,
        "POST",
        "/crm/v3/properties/contacts",
        {"name": "x_band", "label": "B", "type": "string", "fieldType": "text", "groupName": "g"},
    )
    assert status == 409 and body["category"] == "CONFLICT"


def test_documented_limits_are_enforced(server, portal):
    for _ in range(3):
        portal.add_contact()
    too_many = {"inputs": [{"id": str(i), "properties": {}} for i in range(101)]}
    assert http(server, "POST", "/crm/v3/objects/contacts/batch/update", too_many)[0] == 400
    assert http(server, "POST", "/crm/v3/objects/contacts/batch/read", too_many)[0] == 400
    assert http(server, "POST", "/crm/v3/objects/contacts/search", {"limit": 201})[0] == 400
    assert http(server, "POST", "/crm/v3/objects/contacts/search", {"after": "10000"})[0] == 400
    assert http(server, "GET", "/crm/v3/objects/contacts?limit=101")[0] == 400
    assocs = {"inputs": [{"id": str(i)} for i in range(1001)]}
    assert http(server, "POST", "/crm/v4/associations/emails/contacts/batch/read", assocs)[0] == 400
    two_sorts = {"sorts": ["a", "b"]}
    assert http(server, "POST", "/crm/v3/objects/contacts/search", two_sorts)[0] == 400


def test_search_stops_at_ten_thousand_results(server, portal):
    for _ in range(10_050):
        portal.add_contact(modified_ms=5)
    status, body, _ = http(
        server, "POST", "/crm/v3/objects/contacts/search", {"limit": 200, "after": "9900"}
    )
    assert status == 200 and body["total"] == 10_050
    assert len(body["results"]) == 100 and "paging" not in body


def test_updates_are_stateful_and_move_lastmodifieddate(server, portal, wall):
    cid = portal.add_contact({"firstname": "A"})
    before = portal.get("contacts", cid).updated_ms
    wall.advance(60)
    http(
        server,
        "POST",
        "/crm/v3/objects/contacts/batch/update",
        {"inputs": [{"id": str(cid), "properties": {"firstname": "B"}}]},
    )
    _, body, _ = http(server, "GET", f"/crm/v3/objects/contacts/{cid}?properties=firstname")
    assert body["properties"]["firstname"] == "B"
    assert before + 60_000 <= portal.get("contacts", cid).updated_ms < before + 61_000
    assert body["properties"]["lastmodifieddate"] == body["updatedAt"]


def test_unknown_and_read_only_properties_are_rejected(server, portal):
    cid = portal.add_contact()
    bad = {"inputs": [{"id": str(cid), "properties": {"no_such_thing": "1"}}]}
    status, body, _ = http(server, "POST", "/crm/v3/objects/contacts/batch/update", bad)
    assert status == 400 and "PROPERTY_DOESNT_EXIST" in body["message"]
    ro = {"inputs": [{"id": str(cid), "properties": {"lastmodifieddate": "1"}}]}
    assert http(server, "POST", "/crm/v3/objects/contacts/batch/update", ro)[0] == 400


def test_auth_scopes_rate_limits_and_faults():
    portal = Portal()
    limits = RateLimits(per_window=2, window_seconds=60, per_day=5, search_per_second=1)
    with running_fake_hubspot(
        portal=portal, scopes={"crm.objects.contacts.read"}, limits=limits
    ) as srv:
        srv.app.monotonic = lambda: 1000.0  # a frozen clock: a slow machine cannot reopen a window
        assert http(srv, "GET", "/crm/v3/objects/contacts", token=None)[0] == 401
        status, body, _ = http(srv, "POST", "/crm/v3/objects/contacts/batch/update", {"inputs": []})
        assert status == 403
        assert body["errors"][0]["context"]["requiredGranularScopes"] == [
            "crm.objects.contacts.write"
        ]
        ok, _, response = http(srv, "GET", "/crm/v3/objects/contacts")
        assert ok == 200 and response.headers["X-HubSpot-RateLimit-Max"] == "2"
        assert http(srv, "GET", "/crm/v3/objects/contacts")[0] == 200
        status, body, response = http(srv, "GET", "/crm/v3/objects/contacts")
        assert status == 429 and body["policyName"] == "TEN_SECONDLY_ROLLING"
        # HubSpot documents the rate-limit headers, not a Retry-After, on a 429
        assert "Retry-After" not in response.headers
        assert response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "60000"
        assert http(srv, "POST", "/crm/v3/objects/contacts/search", {})[0] == 200
        status, body, response = http(srv, "POST", "/crm/v3/objects/contacts/search", {})
        assert status == 429 and body["policyName"] == "SECONDLY"
        assert "Retry-After" not in response.headers
        assert "X-HubSpot-RateLimit-Max" not in response.headers  # search has no such headers
        srv.app.limits.search_per_second = None
        assert http(srv, "POST", "/crm/v3/objects/contacts/search", {})[0] == 200
        assert http(srv, "POST", "/crm/v3/objects/contacts/search", {})[0] == 200
        status, body, _ = http(srv, "POST", "/crm/v3/objects/contacts/search", {})
        assert status == 429 and body["policyName"] == "DAILY"

    with running_fake_hubspot() as srv:
        srv.app.inject(Fault(status=503, times=2, path="/contacts"))
        srv.app.inject(Fault(status=429, times=1, retry_after=None, path="/emails"))
        assert http(srv, "GET", "/crm/v3/objects/emails")[0] == 429
        assert http(srv, "GET", "/crm/v3/objects/contacts")[0] == 503
        assert http(srv, "GET", "/crm/v3/objects/contacts")[0] == 503
        assert http(srv, "GET", "/crm/v3/objects/contacts")[0] == 200
        status, body, _ = http(srv, "POST", "/_fake/faults", {"status": 502, "times": 1})
        assert status == 200
        assert http(srv, "GET", "/crm/v3/objects/notes")[0] == 502
        stats = http(srv, "GET", "/_fake/stats")[1]
        assert stats["requests"]["total"] == 5 and stats["requests"]["status 503"] == 2


def test_seeding_from_the_files_format(tmp_path: Path):
    (tmp_path / "contacts.csv").write_text(
        "id,email,first_name,last_name,company\nc1,a@x.com,Ada,L,Acme\n7,b@x.com,Bo,,\n"
    )
    (tmp_path / "activities.csv").write_text(
        "id,contact_id,occurred_at,channel,direction,outcome,thread_id,duration_seconds,automated,tags\n"
        "a1,c1,2026-01-01T10:00:00Z,email,inbound,completed,t1,,false,\n"
        "a1,7,2026-01-01T10:00:00Z,email,inbound,completed,t1,,false,\n"
        "a2,7,2026-01-02T10:00:00+00:00,call,outbound,no_answer,,30,false,voicemail\n"
        "a3,c1,2026-01-03T10:00:00Z,meeting,mutual,completed,,3600,false,\n"
    )
    portal = Portal()
    result = seed_from_files(portal, tmp_path)
    assert result.contact_ids["7"] == 7
    ada = result.contact_ids["c1"]
    email_type, email_id = result.engagement_ids["a1"]
    assert email_type == "emails"
    assert sorted(portal.associated("emails", email_id, "contacts")) == sorted([ada, 7])
    assert portal.get("emails", email_id).properties["hs_email_direction"] == "INCOMING_EMAIL"
    call = portal.get("calls", result.engagement_ids["a2"][1])
    assert call.properties["hs_call_disposition"] == "b2cf5968-551e-4856-9783-52b3da59a7d0"
    assert call.properties["hs_call_duration"] == "30000"
    meeting = portal.get("meetings", result.engagement_ids["a3"][1])
    assert meeting.properties["hs_meeting_outcome"] == "COMPLETED"


def test_error_bodies_deserialize_as_the_client_error_model(server, portal):
    status, body, _ = http(server, "POST", "/crm/v3/objects/contacts/search", {"limit": 500})
    assert status == 400
    error = deserialize(hubspot.crm.contacts, body, "Error")
    assert error.category == "VALIDATION_ERROR" and error.correlation_id and error.message
    server.app.inject(Fault(status=429, times=1, retry_after=1))
    status, body, response = http(server, "GET", "/crm/v3/objects/contacts")
    assert status == 429 and response.headers["Retry-After"] == "1"
    # The documented 429 body (status, message, errorType, correlationId, policyName) has
    # no ``category``, which the client's Error model requires: the adapter reads it as JSON.
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"].startswith("You have reached") and body["correlationId"]


def test_seeding_writes_senders_tags_and_meeting_sources_as_a_portal_holds_them(
    server, tmp_path: Path
):
    portal = server.portal
    folder = tmp_path
    (folder / "contacts.csv").write_text(
        "id,email,first_name,last_name,company\nc1,ana@buyer.example,Ana,,\n"
    )
    (folder / "activities.csv").write_text(
        "id,contact_id,occurred_at,channel,direction,outcome,thread_id,duration_seconds,automated,tags\n"
        "n1,c1,2026-01-01T10:00:00Z,email,outbound,completed,,,true,newsletter\n"
        "s1,c1,2026-01-01T11:00:00Z,email,outbound,completed,,,true,sequence\n"
        "p1,c1,2026-01-01T12:00:00Z,email,inbound,completed,,,false,ask;give\n"
        "m1,c1,2026-01-02T10:00:00Z,meeting,inbound,no_show,,,false,\n"
        "m2,c1,2026-01-02T11:00:00Z,meeting,outbound,canceled,,,false,\n"
    )  # fmt: skip
    ids = {k: v for k, (_, v) in seed_from_files(portal, folder).engagement_ids.items()}
    props = {k: portal.get(t, ids[k]).properties for k, t in
             (("n1", "emails"), ("s1", "emails"), ("p1", "emails"), ("m1", "meetings"),
              ("m2", "meetings"))}  # fmt: skip
    # HubSpot fills the read-only sender from the headers
    assert props["n1"]["hs_email_from_email"].startswith("noreply@")
    assert props["s1"]["hs_sequence_id"] and not props["s1"]["hs_email_from_email"].startswith("no")
    assert props["p1"]["hs_email_from_email"] == "ana@buyer.example"
    assert props["p1"]["mutuality_tags"] == "ask;give"
    assert props["m1"]["hs_meeting_source"] == "MEETINGS_PUBLIC"
    assert props["m2"]["hs_meeting_source"] == "CRM_UI"
    # the tags property exists in the portal's schema, like one an admin created
    status, body, _ = http(server, "GET", "/crm/v3/properties/meetings/mutuality_tags")
    assert status == 200 and body["name"] == "mutuality_tags" and body["type"] == "string"
    status, body, _ = http(server, "GET", "/crm/v3/properties/emails/hs_email_from_email")
    assert status == 200 and body["modificationMetadata"]["readOnlyValue"] is True
    portal.update("emails", ids["p1"], {"hs_email_headers": '{"from": {"email": "x@y.example"}}'})
    assert portal.get("emails", ids["p1"]).properties["hs_email_from_email"] == "x@y.example"


def test_retry_after_on_rate_limit_429s_is_an_option():
    limits = RateLimits(per_window=1, window_seconds=60, search_per_second=1, retry_after=True)
    with running_fake_hubspot(limits=limits) as srv:
        srv.app.monotonic = lambda: 1000.0
        for path, body in (("/crm/v3/objects/contacts", None),
                           ("/crm/v3/objects/contacts/search", {})):  # fmt: skip
            method = "GET" if body is None else "POST"
            assert http(srv, method, path, body)[0] == 200
            status, _, response = http(srv, method, path, body)
            assert status == 429 and float(response.headers["Retry-After"]) > 0


def test_a_new_day_resets_the_daily_limit_by_request_or_by_day_length():
    now = [1000.0]
    with running_fake_hubspot(limits=RateLimits(per_day=2)) as srv:
        srv.app.monotonic = lambda: now[0]
        srv.app.new_day()
        for _ in range(2):
            assert http(srv, "GET", "/crm/v3/objects/contacts")[0] == 200
        status, body, _ = http(srv, "GET", "/crm/v3/objects/contacts")
        assert status == 429 and body["policyName"] == "DAILY"
        assert http(srv, "POST", "/_fake/reset-stats")[0] == 200  # counters only, not the day
        assert http(srv, "GET", "/crm/v3/objects/contacts")[0] == 429
        assert http(srv, "POST", "/_fake/new-day")[0] == 200
        assert http(srv, "GET", "/crm/v3/objects/contacts")[0] == 200

        srv.app.limits = RateLimits(per_day=1, day_seconds=60)
        srv.app.new_day()
        assert http(srv, "GET", "/crm/v3/objects/contacts")[0] == 200
        now[0] += 59
        assert http(srv, "GET", "/crm/v3/objects/contacts")[0] == 429
        now[0] += 1
        assert http(srv, "GET", "/crm/v3/objects/contacts")[0] == 200


def test_a_bad_control_request_is_a_400_naming_the_allowed_keys(server):
    status, body, _ = http(server, "POST", "/_fake/faults", {"status": 503, "count": 2})
    assert status == 400 and "unknown key(s) count" in body["message"]
    assert "times" in body["message"] and "retry_after" in body["message"]
    status, body, _ = http(server, "POST", "/_fake/fail-updates", {"times": 1})
    assert status == 400 and "missing key(s) ids" in body["message"]
    assert not server.app.faults and not server.app.update_failures
