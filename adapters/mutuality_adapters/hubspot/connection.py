"""Open a HubSpot connection: settings -> API -> source + writer, with injectable time."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from mutuality_core.ports import Connection

from .api import HubSpotApi
from .clock import Clock, NowMs, Sleep, wall_ms
from .reader import HubSpotSource
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
    now_ms: NowMs = wall_ms,
    rng: random.Random | None = None,
    api_factory: Callable[..., HubSpotApi] = HubSpotApi,
) -> Connection:
    """``rng``: the random source of the retry backoff's jitter (a seeded one in tests)."""
    api = api_factory(settings, clock=clock, sleep=sleep, now_ms=now_ms, rng=rng)
    source = HubSpotSource(api, settings, now_ms=now_ms)
    writer = HubSpotScoreWriter(api, settings, now_ms=now_ms)
    return Connection(
        target=default_target(settings, api), source=source, writer=writer, close=writer.close
    )
