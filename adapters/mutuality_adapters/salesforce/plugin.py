"""The entry point object: name, summary, connect() and the CLI commands."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from mutuality_adapters.salesforce.settings import ENVIRONMENT, SalesforceSettings
from mutuality_core.ports import Connection

__all__ = ["SalesforcePlugin", "plugin"]

logger = logging.getLogger(__name__)


class SalesforcePlugin:
    name = "salesforce"
    summary = "Salesforce: Contacts, Tasks, Events and EmailMessages in; Mutuality fields out"
    #: settings read from the environment under names of their own (``config show`` says so)
    environment = ENVIRONMENT

    def connect(
        self,
        settings: Mapping[str, Any],
        *,
        environ: Mapping[str, str],
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
    ) -> Connection:
        """Log in and return the source and writer (simple-salesforce is imported here).

        ``sleep``, ``clock`` and ``rng`` (the retry backoff's jitter) are for tests.
        """
        from mutuality_adapters.salesforce.client import open_client
        from mutuality_adapters.salesforce.reader import SalesforceSource
        from mutuality_adapters.salesforce.writer import SalesforceWriter

        parsed = SalesforceSettings.from_mapping(settings, environ)
        logger.info("connecting to Salesforce with %s", parsed.redacted())
        client = open_client(parsed, sleep=sleep, now=clock, rng=rng)

        writer = SalesforceWriter(client)

        def close() -> None:
            try:
                writer.close()  # raises an error kept from the last write
            finally:
                logger.info("%s", client.budget.summary())
                client.session.close()

        return Connection(
            target=f"salesforce:{client.sf.sf_instance}",
            source=SalesforceSource(client, clock=clock),
            writer=writer,
            close=close,
        )

    def commands(self) -> Mapping[str, Any]:
        from mutuality_adapters.salesforce.commands import fake_command, setup_command

        return {"setup": setup_command, "fake": fake_command}


plugin = SalesforcePlugin()
