from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

pytest.importorskip("simple_salesforce")

from mutuality_adapters.salesforce import plugin
from mutuality_adapters.salesforce.fake import FakeSalesforce


class Clock:
    """A controllable clock for the fake org (SystemModstamp, Date header)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc))


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeSalesforce]:
    with FakeSalesforce(clock=clock) as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def connect(fake: FakeSalesforce, sleeps: list[float], clock: Clock) -> Any:
    def _connect(**settings: Any) -> Any:
        settings.setdefault("bulk_poll_seconds", 0)
        return plugin.connect(
            settings,
            environ=fake.environ(),
            sleep=sleeps.append,
            clock=clock,
            rng=random.Random(14),  # the backoff's jitter: the same waits on every run
        )

    return _connect


def contact_rows(n: int, prefix: str = "c") -> list[dict[str, str]]:
    return [
        {
            "id": f"{prefix}{i}",
            "email": f"{prefix}{i}@example.com",
            "first_name": f"F{i}",
            "last_name": f"L{i}",
            "company": "Acme",
        }
        for i in range(n)
    ]


def activity(
    activity_id: str,
    contact_id: str,
    when: str = "2026-10-01T10:00:00+00:00",
    channel: str = "email",
    direction: str = "outbound",
    outcome: str = "completed",
    **extra: str,
) -> dict[str, str]:
    return {
        "id": activity_id,
        "contact_id": contact_id,
        "occurred_at": when,
        "channel": channel,
        "direction": direction,
        "outcome": outcome,
        **extra,
    }


def read_all(source: Any, cursor: str | None) -> tuple[list[Any], str | None]:
    pages = list(source.read(cursor))
    last = cursor
    for page in pages:
        if page.cursor is not None:
            last = page.cursor
    return pages, last
