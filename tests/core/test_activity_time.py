"""Each activity carries its POSIX time, and nothing public shows or depends on it."""

from __future__ import annotations

import copy
import pickle
import random
from datetime import datetime, timedelta, timezone

import attrs

from mutuality_core import score_activities
from mutuality_core.construct import trusted_activity
from mutuality_core.model import Activity, Channel, Direction, Outcome, to_tags

WHEN = datetime(2026, 3, 1, 14, 30, 0, 123456, tzinfo=timezone(timedelta(hours=-5)))
FIELDS = (
    "id",
    "contact_id",
    "occurred_at",
    "channel",
    "direction",
    "outcome",
    "thread_id",
    "duration_seconds",
    "automated",
    "tags",
)


def test_both_constructors_store_the_timestamp() -> None:
    public = Activity("a1", "c1", WHEN, "email", "outbound")
    trusted = trusted_activity(
        "a1", "c1", WHEN, Channel.EMAIL, Direction.OUTBOUND, Outcome.COMPLETED,
        None, None, False, to_tags(None),
    )  # fmt: skip
    assert public._ts == trusted._ts == WHEN.timestamp()


def test_the_timestamp_is_not_a_public_field() -> None:
    activity = Activity("a1", "c1", WHEN, "email", "outbound", tags="ask")
    assert tuple(f.name for f in attrs.fields(Activity)) == FIELDS
    assert tuple(attrs.asdict(activity)) == FIELDS
    assert Activity.__match_args__ == FIELDS
    assert "_ts" not in repr(activity)


def test_evolve_pickle_and_copy_keep_the_timestamp_right() -> None:
    activity = Activity("a1", "c1", WHEN, "call", "inbound", thread_id="t", tags="give")
    later = WHEN + timedelta(days=3, microseconds=7)
    moved = attrs.evolve(activity, occurred_at=later)
    assert moved._ts == later.timestamp()
    for clone in (
        pickle.loads(pickle.dumps(activity)),
        copy.copy(activity),
        copy.deepcopy(activity),
    ):
        assert clone == activity
        assert hash(clone) == hash(activity)
        assert clone._ts == activity._ts


def test_time_order_of_floats_is_the_datetime_order() -> None:
    """Microsecond instants around now map to distinct floats in the same order."""
    rng = random.Random(5)
    base = datetime(2020, 1, 1, tzinfo=timezone.utc)
    moments = [base + timedelta(microseconds=rng.randrange(10**15)) for _ in range(20_000)]
    moments += [m + timedelta(microseconds=1) for m in moments[:1000]]
    by_datetime = sorted(moments)
    assert sorted(moments, key=datetime.timestamp) == by_datetime
    stamps = [m.timestamp() for m in by_datetime]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(set(by_datetime))


def test_input_order_still_does_not_matter_at_equal_instants() -> None:
    """Same instant in two time zones, one microsecond apart, and exact ties."""
    as_of = datetime(2026, 6, 1, tzinfo=timezone.utc)
    east = timezone(timedelta(hours=9))
    history = [
        Activity("a1", "c1", WHEN, "email", "outbound", thread_id="t"),
        Activity("a2", "c1", WHEN.astimezone(east), "email", "inbound", thread_id="t"),
        Activity("a3", "c1", WHEN + timedelta(microseconds=1), "email", "outbound"),
        Activity("a4", "c1", WHEN + timedelta(microseconds=1), "call", "inbound"),
        Activity("a5", "c1", WHEN + timedelta(hours=1), "email", "inbound", thread_id="t"),
    ]
    expected = list(score_activities(history, as_of=as_of))
    rng = random.Random(3)
    for _ in range(20):
        shuffled = history[:]
        rng.shuffle(shuffled)
        assert repr(list(score_activities(shuffled, as_of=as_of))) == repr(expected)
