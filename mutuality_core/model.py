"""The domain model: what a relationship's history and its score are made of.

Every value here is a frozen attrs class so that histories can be shared between
threads, cached, compared and hashed without defensive copies. CRM payloads never
reach this module: adapters map them with explicit functions (see the adapters'
``mapping`` modules), so the model does not change when a CRM's API does.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TypeVar

import attrs

__all__ = [
    "Activity",
    "Band",
    "Channel",
    "Component",
    "Contact",
    "Direction",
    "MutualityScore",
    "Outcome",
]


class _StrEnum(str, enum.Enum):
    """A str-valued enum that accepts its value in any case and explains bad input."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def _missing_(cls, value: object) -> _StrEnum | None:
        if isinstance(value, str):
            lowered = value.strip().lower()
            for member in cls:
                if member.value == lowered:
                    return member
        return None

    @classmethod
    def parse(cls: type[_E], value: object, *, field: str | None = None) -> _E:
        """Like ``cls(value)`` but with an error that lists the allowed values."""
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            name = field or cls.__name__.lower()
            raise ValueError(f"{name} must be one of {allowed}; got {value!r}") from None


_E = TypeVar("_E", bound=_StrEnum)


class Channel(_StrEnum):
    """How the two people interacted."""

    EMAIL = "email"
    CALL = "call"
    MEETING = "meeting"
    MESSAGE = "message"
    NOTE = "note"
    TASK = "task"
    OTHER = "other"


class Direction(_StrEnum):
    """Who reached out, seen from the CRM user ("you")."""

    OUTBOUND = "outbound"  # you to them
    INBOUND = "inbound"  # them to you
    MUTUAL = "mutual"  # both took part, e.g. a meeting that was held
    UNKNOWN = "unknown"


class Outcome(_StrEnum):
    """What became of the activity. Only some outcomes are evidence of effort."""

    COMPLETED = "completed"
    SCHEDULED = "scheduled"
    NO_SHOW = "no_show"
    CANCELED = "canceled"
    DECLINED = "declined"
    BOUNCED = "bounced"
    NO_ANSWER = "no_answer"
    UNKNOWN = "unknown"


class Band(_StrEnum):
    """The one-word verdict written to the CRM, for lists, views and workflows."""

    MUTUAL = "mutual"
    YOU_INVEST_MORE = "you_invest_more"
    THEY_INVEST_MORE = "they_invest_more"
    DORMANT = "dormant"
    INSUFFICIENT_DATA = "insufficient_data"


def _enum_converter(enum_cls: type[_E], field: str) -> Callable[[object], _E]:
    """A fast converter: a dict hit for members and exact values, ``parse`` otherwise.

    Adapters build millions of activities; ``Enum.__call__`` is slow on that path.
    """
    table: dict[object, _E] = {m.value: m for m in enum_cls}

    def convert(value: object) -> _E:
        try:
            return table[value]
        except (KeyError, TypeError):
            return enum_cls.parse(value, field=field)

    return convert


_to_channel = _enum_converter(Channel, "channel")
_to_direction = _enum_converter(Direction, "direction")
_to_outcome = _enum_converter(Outcome, "outcome")


def _aware(instance: object, attribute: attrs.Attribute[datetime], value: datetime) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{attribute.name} must be a datetime; got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{attribute.name} must be timezone-aware (got naive {value.isoformat()}); "
            "add an offset such as +00:00 or use datetime.now(timezone.utc)"
        )


def _optional_aware(
    instance: object, attribute: attrs.Attribute[datetime | None], value: datetime | None
) -> None:
    if value is not None:
        _aware(instance, attribute, value)  # type: ignore[arg-type]


_NO_TAGS: frozenset[str] = frozenset()


def _to_tags(value: Iterable[str] | str | None) -> frozenset[str]:
    if value is None or (type(value) is frozenset and not value):
        return _NO_TAGS  # one shared empty set for the millions of untagged activities
    if isinstance(value, str):
        value = value.split(";")
    return frozenset(t.strip().lower() for t in value if t and t.strip())


def _non_empty_str(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must be a non-empty string; got {value!r}")


class _Stamped:
    """Holds an activity's POSIX time, computed once when the activity is built.

    The scorer sorts and tallies millions of activities by time; a float compares and
    reads several times faster than ``datetime.timestamp()``. The slot lives outside
    attrs so that ``attrs.fields``, ``attrs.asdict``, equality, hashing and ``repr``
    see exactly the public fields.
    """

    __slots__ = ("_ts",)

    _ts: float


@attrs.frozen(slots=True)
class Activity(_Stamped):
    """One interaction between you and one contact.

    An activity that involves several contacts (a group meeting, an email with
    several recipients) is represented once per contact, with the same ``id``.
    """

    id: str = attrs.field(validator=_non_empty_str)
    contact_id: str = attrs.field(validator=_non_empty_str)
    occurred_at: datetime = attrs.field(validator=_aware)
    channel: Channel = attrs.field(converter=_to_channel)
    direction: Direction = attrs.field(converter=_to_direction)
    outcome: Outcome = attrs.field(default=Outcome.COMPLETED, converter=_to_outcome)
    thread_id: str | None = attrs.field(default=None)
    duration_seconds: float | None = attrs.field(default=None)
    automated: bool = attrs.field(default=False)
    tags: frozenset[str] = attrs.field(default=frozenset(), converter=_to_tags)

    @duration_seconds.validator
    def _check_duration(
        self, attribute: attrs.Attribute[float | None], value: float | None
    ) -> None:
        if value is not None and value < 0:
            raise ValueError(f"duration_seconds must be >= 0 or None; got {value!r}")

    def __attrs_post_init__(self) -> None:
        _SET_TS(self, self.occurred_at.timestamp())


_SET_TS = _Stamped.__dict__["_ts"].__set__
_attrs_setstate = Activity.__setstate__


def _activity_setstate(self: Activity, state: object) -> None:
    """Unpickle (and copy) as attrs does, then stamp the time, which is not pickled."""
    _attrs_setstate(self, state)
    _SET_TS(self, self.occurred_at.timestamp())


Activity.__setstate__ = _activity_setstate  # type: ignore[method-assign]

_new_object = object.__new__
(_SET_ID, _SET_CONTACT_ID, _SET_OCCURRED_AT, _SET_CHANNEL, _SET_DIRECTION, _SET_OUTCOME,
 _SET_THREAD_ID, _SET_DURATION, _SET_AUTOMATED, _SET_TAGS) = (
    Activity.__dict__[f.name].__set__ for f in attrs.fields(Activity)
)  # fmt: skip


def _trusted_activity(
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
    """An Activity from values that already are what ``Activity(...)`` would store.

    A private fast path for adapters that parse millions of rows and have checked
    every value themselves: enum members (not text), an aware datetime, non-empty
    ids, a duration >= 0 or None, normalised tags (see ``_to_tags``). It skips the
    converters and validators, which cost three quarters of the constructor's time.
    The result is equal to, and indistinguishable from, the public constructor's.
    """
    activity = _new_object(Activity)
    _SET_ID(activity, id)
    _SET_CONTACT_ID(activity, contact_id)
    _SET_OCCURRED_AT(activity, occurred_at)
    _SET_CHANNEL(activity, channel)
    _SET_DIRECTION(activity, direction)
    _SET_OUTCOME(activity, outcome)
    _SET_THREAD_ID(activity, thread_id)
    _SET_DURATION(activity, duration_seconds)
    _SET_AUTOMATED(activity, automated)
    _SET_TAGS(activity, tags)
    _SET_TS(activity, occurred_at.timestamp())
    return activity


@attrs.frozen(slots=True)
class Contact:
    """A person in the CRM whose relationship with you is scored.

    ``modified_at`` is the CRM's own last-modified stamp, used by adapters for
    incremental reads. ``extra`` carries columns the source had that the model does
    not know (they pass through to file outputs).
    """

    id: str = attrs.field(validator=_non_empty_str)
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    modified_at: datetime | None = attrs.field(default=None, validator=_optional_aware)
    extra: Mapping[str, str] = attrs.field(factory=dict, eq=False, hash=False)


@attrs.frozen(slots=True)
class Component:
    """One signal's part in a score: its value, how much it counts, and how much evidence it had.

    ``value`` is in [0, 1] where 1 means fully mutual for that signal, or ``None``
    when the history holds no evidence for it (then it does not count).
    ``lean`` is the signal's own direction in [-1, 1] (-1: only you invest).
    """

    name: str
    value: float | None
    weight: float
    evidence: int
    lean: float = 0.0
    detail: str = ""


@attrs.frozen(slots=True)
class MutualityScore:
    """The result for one contact. Every number is deterministic given the history and ``as_of``."""

    contact_id: str
    score: float  # 0-100: how mutual
    lean: float  # -1..+1: -1 = only you invest, +1 = only they invest
    strength: float  # 0-100: how active or strong, kept apart from balance
    band: Band = attrs.field(converter=_enum_converter(Band, "band"))
    confidence: float  # 0-1
    reasons: tuple[str, ...]
    components: tuple[Component, ...]
    algorithm: str
    as_of: datetime = attrs.field(validator=_aware)
    activity_count: int = 0
    last_activity_at: datetime | None = None

    @property
    def reasons_text(self) -> str:
        """The reasons joined for a CRM text field (at most 255 characters)."""
        join = _JOIN_REASONS
        if not join:  # explain imports this module, so it is looked up on first use
            from mutuality_core.explain import join_reasons

            join.append(join_reasons)
        return join[0](self.reasons)


_JOIN_REASONS: list[Callable[[tuple[str, ...]], str]] = []


(_SET_C_NAME, _SET_C_VALUE, _SET_C_WEIGHT, _SET_C_EVIDENCE, _SET_C_LEAN, _SET_C_DETAIL) = (
    Component.__dict__[f.name].__set__ for f in attrs.fields(Component)
)


def _trusted_component(
    name: str, value: float | None, weight: float, evidence: int, lean: float, detail: str
) -> Component:
    """A Component without attrs' per-field ``object.__setattr__`` calls (the scorer's path)."""
    component = _new_object(Component)
    _SET_C_NAME(component, name)
    _SET_C_VALUE(component, value)
    _SET_C_WEIGHT(component, weight)
    _SET_C_EVIDENCE(component, evidence)
    _SET_C_LEAN(component, lean)
    _SET_C_DETAIL(component, detail)
    return component


(_SET_S_CONTACT_ID, _SET_S_SCORE, _SET_S_LEAN, _SET_S_STRENGTH, _SET_S_BAND, _SET_S_CONFIDENCE,
 _SET_S_REASONS, _SET_S_COMPONENTS, _SET_S_ALGORITHM, _SET_S_AS_OF, _SET_S_ACTIVITY_COUNT,
 _SET_S_LAST_ACTIVITY_AT) = (
    MutualityScore.__dict__[f.name].__set__ for f in attrs.fields(MutualityScore)
)  # fmt: skip


def _trusted_score(
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
    """A MutualityScore from the scorer, whose ``band`` is a member and ``as_of`` checked.

    Skips the band converter and the as_of validator (the scorer checked as_of once
    per run); equal to what the public constructor builds.
    """
    result = _new_object(MutualityScore)
    _SET_S_CONTACT_ID(result, contact_id)
    _SET_S_SCORE(result, score)
    _SET_S_LEAN(result, lean)
    _SET_S_STRENGTH(result, strength)
    _SET_S_BAND(result, band)
    _SET_S_CONFIDENCE(result, confidence)
    _SET_S_REASONS(result, reasons)
    _SET_S_COMPONENTS(result, components)
    _SET_S_ALGORITHM(result, algorithm)
    _SET_S_AS_OF(result, as_of)
    _SET_S_ACTIVITY_COUNT(result, activity_count)
    _SET_S_LAST_ACTIVITY_AT(result, last_activity_at)
    return result
