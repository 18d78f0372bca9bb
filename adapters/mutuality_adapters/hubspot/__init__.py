"""The HubSpot adapter: contacts and engagements in, mutuality properties out.

Importing this package needs neither hubspot-api-client nor a network: the
client is imported when a connection is opened (a missing client raises
MissingDependencyError naming the ``hubspot`` extra). See docs/hubspot.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from mutuality_core.ports import Connection

from .settings import TOKEN_ENV, HubSpotSettings

__all__ = ["HubSpotPlugin", "HubSpotSettings", "plugin"]


class HubSpotPlugin:
    name = "hubspot"
    summary = "HubSpot CRM: reads contacts and engagements, writes mutuality contact properties"
    #: settings read from the environment under names of their own (``config show`` says so)
    environment: ClassVar[Mapping[str, str]] = {"access_token": TOKEN_ENV}

    def connect(self, settings: Mapping[str, Any], *, environ: Mapping[str, str]) -> Connection:
        from .connection import open_connection

        return open_connection(HubSpotSettings.from_mapping(settings, environ=environ))

    def commands(self) -> Mapping[str, Any]:
        from .commands import fake_command, setup_command

        return {"setup": setup_command, "fake": fake_command}


plugin = HubSpotPlugin()
