"""The private fast paths build exactly what the public constructors build."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs
import pytest

from mutuality_core.model import (
    Activity,
    Channel,
    Direction,
    Outcome,
    _to_tags,
    _trusted_activity,
)

WHEN = datetime(2026, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(
    ("kwargs"),
    [
        {},
        {"outcome": "no_show", "thread_id": "t1", "duration_seconds": 60.0},
        {"automated": True, "tags": "Ask; give;;"},
        {"tags": ["by_you", " BY_THEM "], "duration_seconds": 0.0},
    ],
)
def test_trusted_activity_equals_the_public_constructor(kwargs: dict[str, object]) -> None:
    public = Activity("a1", "c1", WHEN, "meeting", "inbound", **kwargs)  # type: ignore[arg-type]
    trusted = _trusted_activity(
        "a1",
        "c1",
        WHEN,
        Channel.MEETING,
        Direction.INBOUND,
        Outcome(kwargs.get("outcome", "completed")),
        kwargs.get("thread_id"),  # type: ignore[arg-type]
        kwargs.get("duration_seconds"),  # type: ignore[arg-type]
        bool(kwargs.get("automated", False)),
        _to_tags(kwargs.get("tags")),  # type: ignore[arg-type]
    )
    assert type(trusted) is Activity
    assert trusted == public
    assert hash(trusted) == hash(public)
    assert repr(trusted) == repr(public)
    assert attrs.asdict(trusted) == attrs.asdict(public)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        trusted.id = "a2"  # type: ignore[misc]


def test_to_tags_keeps_the_shared_empty_set() -> None:
    assert _to_tags(frozenset()) == frozenset()
    assert _to_tags(None) is _to_tags(frozenset())
    assert _to_tags(frozenset({" Ask "})) == frozenset({"ask"})
