"""A fake Salesforce org for tests and demos: an in-memory subset of the REST API.

Needs no third-party package (stdlib ``http.server``), so users can run it without
the ``salesforce`` extra. See docs/salesforce.md for what it implements.
"""

from mutuality_adapters.salesforce.fake.org import FakeOrg
from mutuality_adapters.salesforce.fake.seed import seed_folder, seed_rows
from mutuality_adapters.salesforce.fake.server import FakeSalesforce

__all__ = ["FakeOrg", "FakeSalesforce", "seed_folder", "seed_rows"]
