"""Fixtures for the HubSpot adapter tests: a fake portal on 127.0.0.1 and fast fake time."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from mutuality_adapters.hubspot.api import HubSpotApi
from mutuality_adapters.hubspot.fake import FakeHubSpotServer, Portal, running_fake_hubspot
from mutuality_adapters.hubspot.settings import HubSpotSettings

TOKEN = "pat-na1-00000000-test-token-do-not-log"


class FakeTime:
    """A monotonic clock that ``sleep`` advances instantly; records every wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ManualMs:
    """A wall clock in epoch ms shared by the fake portal and the adapter.

    Each reading moves it on by 1 ms, so things that happen one after another
    (a read, then our writes) get later stamps, as they would in real time.
    """

    def __init__(self, start: int = 1_767_225_600_000) -> None:  # 2026-01-01T00:00:00Z
        self.ms = start

    def __call__(self) -> int:
        self.ms += 1
        return self.ms

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)


@pytest.fixture
def wall() -> ManualMs:
    return ManualMs()


@pytest.fixture
def portal(wall: ManualMs) -> Portal:
    return Portal(clock_ms=wall)


@pytest.fixture
def server(portal: Portal) -> Iterator[FakeHubSpotServer]:
    with running_fake_hubspot(portal=portal) as running:
        yield running


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_settings(base_url: str, **overrides: Any) -> HubSpotSettings:
    values: dict[str, Any] = {"base_url": base_url, "search_lag_seconds": 0}
    values.update(overrides)
    return HubSpotSettings.from_mapping(values, environ={"HUBSPOT_ACCESS_TOKEN": TOKEN})


@pytest.fixture
def token() -> str:
    return TOKEN


@pytest.fixture
def settings_for():
    """``settings_for(base_url, **overrides)`` -> HubSpotSettings with the test token."""
    return make_settings


@pytest.fixture
def rng() -> random.Random:
    """The backoff's jitter, seeded: the same waits on every run."""
    return random.Random(14)


@pytest.fixture
def api(
    server: FakeHubSpotServer, fake_time: FakeTime, wall: ManualMs, rng: random.Random
) -> HubSpotApi:
    return HubSpotApi(
        make_settings(server.base_url),
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        now_ms=wall,
        rng=rng,
    )
