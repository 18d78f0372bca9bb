"""A fake HubSpot CRM API for tests and demos (in memory, on 127.0.0.1).

``running_fake_hubspot()`` starts one for a ``with`` block; ``mutuality fake hubspot``
runs one from the command line; the pytest fixture ``fake_hubspot`` lives in
``mutuality_adapters.hubspot.fake.pytest_plugin``. Only the standard library and
attrs are used, so the fake runs without hubspot-api-client installed.
"""

from .app import FakeHubSpotApp, Fault, RateLimits, Response
from .portal import Portal
from .seed import engagement_for, seed_example, seed_from_files
from .server import FakeHubSpotServer, running_fake_hubspot

__all__ = [
    "FakeHubSpotApp",
    "FakeHubSpotServer",
    "Fault",
    "Portal",
    "RateLimits",
    "Response",
    "engagement_for",
    "running_fake_hubspot",
    "seed_example",
    "seed_from_files",
]
