"""The HubSpot adapter: contacts and engagements in, mutuality properties out.

Importing this package needs neither hubspot-api-client nor a network: the
client is imported when a connection is opened (a missing client raises
MissingDependencyError naming the ``hubspot`` extra). See docs/hubspot.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mutuality_core.ports import Connection

from .settings import HubSpotSettings

__all__ = ["HubSpotPlugin", "HubSpotSettings", "plugin"]


class HubSpotPlugin:
    name = "hubspot"
    summary = "HubSpot CRM: reads contacts and engagements, writes mutuality contact properties"

    def connect(self, settings: Mapping[str, Any], *, environ: Mapping[str, str]) -> Connection:
        from .connection import open_connection

        return open_connection(HubSpotSettings.from_mapping(settings, environ=environ))

    def commands(self) -> Mapping[str, Any]:
        from .commands import fake_command, setup_command

        return {"setup": setup_command, "fake": fake_command}


plugin = HubSpotPlugin()
