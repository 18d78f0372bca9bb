"""A pytest fixture for a fresh fake HubSpot per test.

Use it with ``pytest_plugins = ["mutuality_adapters.hubspot.fake.pytest_plugin"]`` in
your conftest.py; then ``fake_hubspot.base_url`` is where to point the adapter
(``base_url`` setting or ``MUTUALITY_HUBSPOT_BASE_URL``) and ``fake_hubspot.portal``
is the data to seed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import FakeHubSpotServer, running_fake_hubspot


@pytest.fixture
def fake_hubspot() -> Iterator[FakeHubSpotServer]:
    with running_fake_hubspot() as server:
        yield server
