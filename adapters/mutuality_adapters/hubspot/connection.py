"""Open a HubSpot connection: settings -> API -> source + writer, with injectable time."""

from __future__ import annotations

import time
from collections.abc import Callable

from mutuality_core.ports import Connection

from .api import HubSpotApi
from .limiter import Clock, Sleep
from .reader import HubSpotSource, NowMs, _wall_ms
from .settings import HubSpotSettings
from .writer import HubSpotScoreWriter


def default_target(settings: HubSpotSettings, api: HubSpotApi) -> str:
    """The state key: ``target`` if set, else the token's portal id (one request).

    Not the host: api.hubapi.com serves every portal, so two portals synced into one
    state file would share a cursor and a cache, and scores could land on the wrong
    portal's contacts.
    """
    if settings.target:
        return str(settings.target)
    return f"hubspot:portal-{api.portal_id()}"


def open_connection(
    settings: HubSpotSettings,
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
    now_ms: NowMs = _wall_ms,
    api_factory: Callable[..., HubSpotApi] = HubSpotApi,
) -> Connection:
    api = api_factory(settings, clock=clock, sleep=sleep)
    source = HubSpotSource(api, settings, now_ms=now_ms)
    writer = HubSpotScoreWriter(api, settings, now_ms=now_ms)
    return Connection(
        target=default_target(settings, api), source=source, writer=writer, close=writer.close
    )
