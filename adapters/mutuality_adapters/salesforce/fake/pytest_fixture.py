"""A pytest fixture for your own tests.

In your conftest.py:
``from mutuality_adapters.salesforce.fake.pytest_fixture import fake_salesforce``.

Yields a started :class:`FakeSalesforce` on a free port and stops it afterwards;
``fake_salesforce.environ()`` gives the variables that point the adapter at it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mutuality_adapters.salesforce.fake.server import FakeSalesforce

__all__ = ["fake_salesforce"]


@pytest.fixture
def fake_salesforce() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as fake:
        yield fake
