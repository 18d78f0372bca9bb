"""Every failure says what to do next (review item 9)."""

from __future__ import annotations

from typing import Any

import pytest
from mutuality_adapters.salesforce.fake import FakeSalesforce, seed_rows

from mutuality_core.errors import (
    AuthenticationError,
    CrmUnavailableError,
    QuotaExhaustedError,
)

from .conftest import contact_rows, read_all
from .test_writer import relogging_writer


def test_a_concurrent_request_limit_is_not_called_the_daily_allowance(
    fake: FakeSalesforce, connect: Any
) -> None:
    fake.org.fail_next("concurrent_limit")
    with pytest.raises(QuotaExhaustedError) as caught:
        read_all(connect().source, None)
    message = str(caught.value)
    assert "daily" not in message and "concurrent" in message and "few minutes" in message


def test_query_timeout_says_what_to_do(fake: FakeSalesforce, connect: Any) -> None:
    fake.org.fail_next("query_timeout", path_contains="query")
    with pytest.raises(CrmUnavailableError) as caught:
        read_all(connect().source, None)
    message = str(caught.value)
    assert "QUERY_TIMEOUT" in message and "rerun" in message and "page_size" in message


def test_a_field_the_user_cannot_read_says_which_and_how(
    fake: FakeSalesforce, connect: Any
) -> None:
    client = connect().source.client
    with pytest.raises(CrmUnavailableError) as caught:
        client.call(lambda sf: sf.query("SELECT Id, Nope FROM Contact"), what="reading Contacts")
    message = str(caught.value)
    assert "Nope" in message and "field-level security" in message


def test_an_overlong_request_is_not_told_to_rerun_later(fake: FakeSalesforce, connect: Any) -> None:
    client = connect().source.client
    ids = ", ".join(f"'003{i:015d}'" for i in range(700))
    with pytest.raises(CrmUnavailableError) as caught:
        client.call(
            lambda sf: sf.query(f"SELECT Id FROM Contact WHERE Id IN ({ids})"),
            what="reading Contacts",
        )
    message = str(caught.value)
    assert "414" in message and "rerun later" not in message and "report" in message


def test_session_expiring_mid_query_does_not_claim_a_relogin_was_tried(
    fake: FakeSalesforce, sleeps: list[float]
) -> None:
    from mutuality_adapters.salesforce.reader import SalesforceSource

    seed_rows(fake.org, contact_rows(450), [])
    writer = relogging_writer(fake, sleeps, page_size=200)
    fake.org.fail_next("expired_session", path_contains="query/")  # the second page
    with pytest.raises(AuthenticationError) as caught:
        read_all(SalesforceSource(writer.client), None)
    message = str(caught.value)
    assert "did not help" not in message and "rerun" in message


def test_a_session_expired_before_the_first_page_is_renewed(
    fake: FakeSalesforce, sleeps: list[float]
) -> None:
    """The first page is fetched inside the call that may log in again."""
    from mutuality_adapters.salesforce.reader import SalesforceSource

    seed_rows(fake.org, contact_rows(3), [])
    writer = relogging_writer(fake, sleeps)
    fake.org.fail_next("expired_session", path_contains="queryAll")
    pages, _ = read_all(SalesforceSource(writer.client), None)
    assert len([c for p in pages for c in p.contacts]) == 3
    assert len(writer.logins) == 2
