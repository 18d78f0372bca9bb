"""The fast-construction API (mutuality_core.construct) builds exactly what the public
constructors build, for every field, over generated values."""

from __future__ import annotations

import copy
import inspect
import pickle
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mutuality_core.construct import trusted_activity, trusted_component, trusted_score
from mutuality_core.model import (
    Activity,
    Band,
    Channel,
    Component,
    Direction,
    MutualityScore,
    Outcome,
    to_band,
    to_channel,
    to_direction,
    to_outcome,
    to_tags,
)

EXAMPLES = settings(max_examples=200, deadline=None)
BUILDERS = [
    (trusted_activity, Activity),
    (trusted_component, Component),
    (trusted_score, MutualityScore),
]


def _spellings(members: type[Any]) -> st.SearchStrategy[object]:
    """A member, its value, or its value in another case with spaces around."""
    member = st.sampled_from(list(members))
    return st.one_of(
        member,
        member.map(lambda m: m.value),
        member.map(lambda m: f" {m.value.upper()} "),
    )


aware_times = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
texts = st.text(min_size=1, max_size=12)
tag_inputs = st.one_of(
    st.none(),
    st.text(alphabet="aAbB ;_", max_size=12),
    st.lists(st.text(alphabet="aAbB _", max_size=6), max_size=4),
    st.frozensets(st.sampled_from(["ask", "give", "by_you", "by_them"])),
)
numbers = st.floats(allow_nan=False, allow_infinity=False)


def _same(trusted: object, public: object) -> None:
    assert type(trusted) is type(public)
    assert trusted == public
    assert hash(trusted) == hash(public)
    assert repr(trusted) == repr(public)
    assert attrs.asdict(trusted) == attrs.asdict(public)
    for field in attrs.fields(type(public)):  # the very objects, not only equal ones
        assert type(getattr(trusted, field.name)) is type(getattr(public, field.name))
    assert pickle.loads(pickle.dumps(trusted)) == public
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        trusted.contact_id = "other"  # type: ignore[attr-defined]


@EXAMPLES
@given(
    id=texts,
    contact_id=texts,
    occurred_at=aware_times,
    channel=_spellings(Channel),
    direction=_spellings(Direction),
    outcome=_spellings(Outcome),
    thread_id=st.none() | texts,
    duration_seconds=st.none() | st.floats(min_value=0, allow_infinity=False),
    automated=st.booleans(),
    tags=tag_inputs,
)
def test_trusted_activity_equals_the_public_constructor(**raw: Any) -> None:
    public = Activity(**raw)
    trusted = trusted_activity(
        id=raw["id"],
        contact_id=raw["contact_id"],
        occurred_at=raw["occurred_at"],
        channel=to_channel(raw["channel"]),
        direction=to_direction(raw["direction"]),
        outcome=to_outcome(raw["outcome"]),
        thread_id=raw["thread_id"],
        duration_seconds=raw["duration_seconds"],
        automated=raw["automated"],
        tags=to_tags(raw["tags"]),
    )
    _same(trusted, public)
    assert trusted._ts == public._ts == raw["occurred_at"].timestamp()
    assert copy.copy(trusted)._ts == public._ts


@EXAMPLES
@given(
    name=st.sampled_from(["initiation", "responsiveness", "engagement"]),
    value=st.none() | st.floats(min_value=0, max_value=1),
    weight=numbers,
    evidence=st.integers(min_value=0, max_value=10**6),
    lean=st.floats(min_value=-1, max_value=1),
    detail=st.text(max_size=20),
)
def test_trusted_component_equals_the_public_constructor(**values: Any) -> None:
    _same(trusted_component(**values), Component(**values))


components = st.lists(
    st.builds(
        Component,
        name=st.sampled_from(["initiation", "effort"]),
        value=st.none() | st.floats(min_value=0, max_value=1),
        weight=numbers,
        evidence=st.integers(min_value=0, max_value=99),
    ),
    max_size=6,
).map(tuple)


@EXAMPLES
@given(
    contact_id=texts,
    score=st.floats(min_value=0, max_value=100),
    lean=st.floats(min_value=-1, max_value=1),
    strength=st.floats(min_value=0, max_value=100),
    band=_spellings(Band),
    confidence=st.floats(min_value=0, max_value=1),
    reasons=st.lists(st.text(max_size=30), max_size=5).map(tuple),
    components=components,
    algorithm=st.just("mutuality-2.0"),
    as_of=aware_times,
    activity_count=st.integers(min_value=0, max_value=10**6),
    last_activity_at=st.none() | aware_times,
)
def test_trusted_score_equals_the_public_constructor(**raw: Any) -> None:
    public = MutualityScore(**raw)
    trusted = trusted_score(**{**raw, "band": to_band(raw["band"])})
    _same(trusted, public)
    assert trusted.reasons_text == public.reasons_text


@pytest.mark.parametrize(("builder", "cls"), BUILDERS)
def test_each_value_lands_in_the_field_of_its_name(builder: Any, cls: type) -> None:
    """Setters are found by field name: no position can send a value to another field."""
    names = [f.name for f in attrs.fields(cls)]
    assert set(inspect.signature(builder).parameters) == set(names)
    sentinels = {name: object() for name in names}
    sentinels["occurred_at"] = datetime(2026, 1, 1, tzinfo=timezone.utc)  # the stamp reads it
    built = builder(**{name: sentinels[name] for name in reversed(names)})
    for name in names:
        assert getattr(built, name) is sentinels[name], name


def test_every_parameter_is_required() -> None:
    """A forgotten field is an error, never a default the caller did not choose."""
    for builder, _ in BUILDERS:
        for parameter in inspect.signature(builder).parameters.values():
            assert parameter.default is inspect.Parameter.empty, (builder, parameter.name)


@pytest.mark.parametrize(
    ("convert", "field", "good", "member"),
    [
        (to_channel, "channel", " Email ", Channel.EMAIL),
        (to_direction, "direction", "INBOUND", Direction.INBOUND),
        (to_outcome, "outcome", "no_show", Outcome.NO_SHOW),
        (to_band, "band", Band.MUTUAL, Band.MUTUAL),
    ],
)
def test_converters_accept_and_refuse_what_the_constructor_does(
    convert: Any, field: str, good: object, member: object
) -> None:
    assert convert(good) is member
    with pytest.raises(ValueError, match=f"^{field} must be one of .*; got 'fax'$"):
        convert("fax")
    with pytest.raises(ValueError, match=f"^{field} must be one of"):
        convert(["unhashable"])
    if field in ("channel", "direction", "outcome"):
        fields = {"channel": "email", "direction": "inbound", field: "fax"}
        with pytest.raises(ValueError, match=f"^{field} must be one of .*; got 'fax'$"):
            Activity("a1", "c1", datetime(2026, 1, 1, tzinfo=timezone.utc), **fields)


def test_to_tags_keeps_the_shared_empty_set() -> None:
    assert to_tags(frozenset()) == frozenset()
    assert to_tags(None) is to_tags(frozenset())
    assert to_tags(frozenset({" Ask "})) == frozenset({"ask"})
    assert to_tags("Ask; give;;") == frozenset({"ask", "give"})
