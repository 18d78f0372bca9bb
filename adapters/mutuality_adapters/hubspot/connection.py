"""Open a HubSpot connection: settings -> API -> source + writer, with injectable time."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

from mutuality_core.ports import Connection

from .api import HubSpotApi
from .limiter import Clock, Sleep
from .reader import HubSpotSource, NowMs, _wall_ms
from .settings import HubSpotSettings
from .writer import HubSpotScoreWriter


def default_target(settings: HubSpotSettings) -> str:
    """The state key: ``target`` if set, else the API host (one portal per host by default)."""
    if settings.target:
        return str(settings.target)
    host = urlsplit(settings.base_url).netloc or settings.base_url
    return f"hubspot:{host}"


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
        target=default_target(settings), source=source, writer=writer, close=writer.close
    )
