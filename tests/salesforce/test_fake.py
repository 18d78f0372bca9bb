"""The shipped fake: its SOQL subset, error shapes and control API."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
import simple_salesforce
from mutuality_adapters.salesforce.fake import FakeSalesforce
from mutuality_adapters.salesforce.fake.soql import MalformedQuery, parse


def test_soql_subset() -> None:
    query = parse(
        "SELECT Id, Account.Name, (SELECT RelationId FROM TaskWhoRelations) FROM Task "
        "WHERE IsChild = false AND (SystemModstamp > 2026-01-01T00:00:00Z OR "
        "(SystemModstamp = 2026-01-01T01:00:00+01:00 AND Id > '00T1')) AND Id NOT IN ('00T9') "
        "ORDER BY SystemModstamp, Id DESC LIMIT 5"
    )
    assert query.object == "Task" and query.fields == ("Id", "Account.Name")
    assert query.subqueries[0].object == "TaskWhoRelations" and query.limit == 5
    assert query.order_by == (("SystemModstamp", False), ("Id", True))
    stamp = "2026-01-01T00:00:00.000+0000"
    row = {"IsChild": False, "SystemModstamp": stamp, "Id": "00T2"}
    assert query.where is not None
    assert query.where(row)  # equal stamp (written with an offset), larger id
    assert not query.where({**row, "Id": "00T0"})
    assert not query.where({**row, "Id": "00T9", "SystemModstamp": "2026-02-01T00:00:00.000+0000"})
    for bad in ("SELECT FROM Task", "SELECT Id FROM Task WHERE", "SELECT Id FROM Task GROUP BY Id"):
        with pytest.raises(MalformedQuery):
            parse(bad)


def test_errors_have_salesforce_shapes(fake: FakeSalesforce, connect: Any) -> None:
    sf = connect().source.client.sf
    with pytest.raises(simple_salesforce.SalesforceMalformedRequest) as bad_field:
        sf.query("SELECT Nope FROM Contact")
    assert bad_field.value.content == [
        {"message": "No such column 'Nope' on entity 'Contact'.", "errorCode": "INVALID_FIELD"}
    ]
    with pytest.raises(simple_salesforce.SalesforceMalformedRequest) as bad_type:
        sf.query("SELECT Id FROM Lead")
    assert bad_type.value.content[0]["errorCode"] == "INVALID_TYPE"
    fake.org.expire_sessions()
    with pytest.raises(simple_salesforce.SalesforceExpiredSession):
        sf.query("SELECT Id FROM Contact")


def test_control_api(fake: FakeSalesforce) -> None:
    def post(path: str, payload: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            fake.url + path, data=json.dumps(payload).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    assert post("/_fake/fault", {"kind": "server_error", "times": 1}) == {"ok": True}
    new = post("/_fake/expire", {})["session_id"]
    assert new == fake.session_id
    stats = post("/_fake/stats", {})
    assert stats["daily_limit"] == 100_000 and stats["records"]["Contact"] == 0


def test_fake_rejects_a_date_literal_against_a_datetime_field_like_salesforce() -> None:
    """SOQL compares a date literal only to date fields and a datetime only to dateTime."""
    import json

    from mutuality_adapters.salesforce.fake import FakeOrg

    org = FakeOrg()
    headers = {"Authorization": f"Bearer {org.session_id}"}
    path = f"/services/data/v{org.api_version}/query"

    def status(soql: str) -> tuple[int, str]:
        from urllib.parse import urlencode

        answer = org.handle("GET", path, urlencode({"q": soql}), headers, b"")
        body = json.loads(answer.body)
        return answer.status, body[0]["errorCode"] if answer.status != 200 else ""

    assert status("SELECT Id FROM Contact WHERE SystemModstamp > 2026-01-01") == (
        400,
        "INVALID_FIELD",
    )
    assert status("SELECT Id FROM Task WHERE ActivityDate > 2026-01-01T00:00:00Z") == (
        400,
        "INVALID_FIELD",
    )
    assert status("SELECT Id FROM Contact WHERE SystemModstamp > 2026-01-01T00:00:00Z")[0] == 200
    assert status("SELECT Id FROM Task WHERE ActivityDate >= 2026-01-01")[0] == 200
