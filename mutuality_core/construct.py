"""Fast construction of model objects, for engines and adapters that validated in bulk.

``Activity(...)``, ``Component(...)`` and ``MutualityScore(...)`` convert and check every
field; for an adapter parsing millions of rows, or an engine building a score per
contact, that is three quarters of the time. The ``trusted_*`` functions here build the
same objects WITHOUT running any converter or validator: **they skip validation; use
them only where every value already is what the public constructor would store**:

* enum members, not text (``Channel.EMAIL``, not ``"email"``): map text with the
  model's converters :func:`~mutuality_core.model.to_channel` and friends, which
  accept and refuse exactly what the constructor does, with its messages;
* aware datetimes; non-empty ids; a ``duration_seconds`` of None or >= 0;
* tags as :func:`~mutuality_core.model.to_tags` returns them (a ``frozenset`` of
  trimmed lower-case tags).

The result is equal to, and indistinguishable from, what the public constructor builds
from the same values (the test suite checks this for every field, over generated
values). Each field is set through its slot by field NAME, so reordering or adding
attrs fields cannot silently swap values: a field the builder does not set fails at
import.

An example a user can paste is in docs/adapters.md ("Building millions of activities").

Every parameter is required (no defaults: a forgotten field is an error, not a silent
default). Hot loops may pass them by position, in the order of the signatures below.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from mutuality_core.model import (
    Activity,
    Band,
    Channel,
    Component,
    Direction,
    MutualityScore,
    Outcome,
)

__all__ = ["trusted_activity", "trusted_component", "trusted_score"]

_Setter = Callable[[Any, Any], None]


def _slot_setters(cls: type) -> dict[str, _Setter]:
    """Every attrs field's slot setter, keyed by the field's name."""
    return {f.name: inspect.getattr_static(cls, f.name).__set__ for f in attrs.fields(cls)}


def _check_sets_every_field(builder: Callable[..., object], cls: type) -> None:
    """Refuse at import a builder whose parameters are not exactly ``cls``'s fields."""
    parameters = set(inspect.signature(builder).parameters)
    fields = {f.name for f in attrs.fields(cls)}
    if parameters != fields:
        raise TypeError(
            f"{builder.__name__} does not match {cls.__name__}'s fields: "
            f"missing {sorted(fields - parameters)}, unknown {sorted(parameters - fields)}"
        )


_new = object.__new__

_ACTIVITY = _slot_setters(Activity)
_set_activity_id = _ACTIVITY["id"]
_set_activity_contact_id = _ACTIVITY["contact_id"]
_set_activity_occurred_at = _ACTIVITY["occurred_at"]
_set_activity_channel = _ACTIVITY["channel"]
_set_activity_direction = _ACTIVITY["direction"]
_set_activity_outcome = _ACTIVITY["outcome"]
_set_activity_thread_id = _ACTIVITY["thread_id"]
_set_activity_duration_seconds = _ACTIVITY["duration_seconds"]
_set_activity_automated = _ACTIVITY["automated"]
_set_activity_tags = _ACTIVITY["tags"]
#: the POSIX time every Activity keeps beside its fields (see ``model._Stamped``)
_set_activity_stamp: _Setter = inspect.getattr_static(Activity, "_ts").__set__


def trusted_activity(
    id: str,
    contact_id: str,
    occurred_at: datetime,
    channel: Channel,
    direction: Direction,
    outcome: Outcome,
    thread_id: str | None,
    duration_seconds: float | None,
    automated: bool,
    tags: frozenset[str],
) -> Activity:
    """An :class:`~mutuality_core.model.Activity` from values already checked (see above)."""
    activity = _new(Activity)
    _set_activity_id(activity, id)
    _set_activity_contact_id(activity, contact_id)
    _set_activity_occurred_at(activity, occurred_at)
    _set_activity_channel(activity, channel)
    _set_activity_direction(activity, direction)
    _set_activity_outcome(activity, outcome)
    _set_activity_thread_id(activity, thread_id)
    _set_activity_duration_seconds(activity, duration_seconds)
    _set_activity_automated(activity, automated)
    _set_activity_tags(activity, tags)
    _set_activity_stamp(activity, occurred_at.timestamp())
    return activity


_COMPONENT = _slot_setters(Component)
_set_component_name = _COMPONENT["name"]
_set_component_value = _COMPONENT["value"]
_set_component_weight = _COMPONENT["weight"]
_set_component_evidence = _COMPONENT["evidence"]
_set_component_lean = _COMPONENT["lean"]
_set_component_detail = _COMPONENT["detail"]


def trusted_component(
    name: str, value: float | None, weight: float, evidence: int, lean: float, detail: str
) -> Component:
    """A :class:`~mutuality_core.model.Component` (it has no validators; this skips attrs'
    per-field ``object.__setattr__`` calls, the scorer's path)."""
    component = _new(Component)
    _set_component_name(component, name)
    _set_component_value(component, value)
    _set_component_weight(component, weight)
    _set_component_evidence(component, evidence)
    _set_component_lean(component, lean)
    _set_component_detail(component, detail)
    return component


_SCORE = _slot_setters(MutualityScore)
_set_score_contact_id = _SCORE["contact_id"]
_set_score_score = _SCORE["score"]
_set_score_lean = _SCORE["lean"]
_set_score_strength = _SCORE["strength"]
_set_score_band = _SCORE["band"]
_set_score_confidence = _SCORE["confidence"]
_set_score_reasons = _SCORE["reasons"]
_set_score_components = _SCORE["components"]
_set_score_algorithm = _SCORE["algorithm"]
_set_score_as_of = _SCORE["as_of"]
_set_score_activity_count = _SCORE["activity_count"]
_set_score_last_activity_at = _SCORE["last_activity_at"]


def trusted_score(
    contact_id: str,
    score: float,
    lean: float,
    strength: float,
    band: Band,
    confidence: float,
    reasons: tuple[str, ...],
    components: tuple[Component, ...],
    algorithm: str,
    as_of: datetime,
    activity_count: int,
    last_activity_at: datetime | None,
) -> MutualityScore:
    """A :class:`~mutuality_core.model.MutualityScore` whose ``band`` is a member and
    ``as_of`` an aware datetime (a scorer checks ``as_of`` once per run)."""
    result = _new(MutualityScore)
    _set_score_contact_id(result, contact_id)
    _set_score_score(result, score)
    _set_score_lean(result, lean)
    _set_score_strength(result, strength)
    _set_score_band(result, band)
    _set_score_confidence(result, confidence)
    _set_score_reasons(result, reasons)
    _set_score_components(result, components)
    _set_score_algorithm(result, algorithm)
    _set_score_as_of(result, as_of)
    _set_score_activity_count(result, activity_count)
    _set_score_last_activity_at(result, last_activity_at)
    return result


_check_sets_every_field(trusted_activity, Activity)
_check_sets_every_field(trusted_component, Component)
_check_sets_every_field(trusted_score, MutualityScore)
