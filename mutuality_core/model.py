"""The domain model: what a relationship's history and its score are made of.

Every value here is a frozen attrs class so that histories can be shared between
threads, cached, compared and hashed without defensive copies. CRM payloads never
reach this module: adapters map them with explicit functions (see the adapters'
``mapping`` modules), so the model does not change when a CRM's API does.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import attrs

from mutuality_core.reasons_text import join_reasons

__all__ = [
    "Activity",
    "Band",
    "Channel",
    "Component",
    "Contact",
    "Direction",
    "MutualityScore",
    "Outcome",
    "to_band",
    "to_channel",
    "to_direction",
    "to_outcome",
    "to_tags",
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


# The fields' converters, as named functions (attrs and type checkers follow those).
# Each is a dict hit for a member or its exact value and ``parse`` otherwise: adapters
# build millions of activities, and ``Enum.__call__`` is slow on that path. They are
# public so that code which checks values in bulk (an engine, a file parser) accepts and
# refuses exactly what the constructor does, with the same messages.
_CHANNELS: dict[object, Channel] = {m.value: m for m in Channel}
_DIRECTIONS: dict[object, Direction] = {m.value: m for m in Direction}
_OUTCOMES: dict[object, Outcome] = {m.value: m for m in Outcome}
_BANDS: dict[object, Band] = {m.value: m for m in Band}


def to_channel(value: object) -> Channel:
    """A :class:`Channel` from a member or its value in any case (ValueError names the allowed)."""
    try:
        return _CHANNELS[value]
    except (KeyError, TypeError):
        return Channel.parse(value, field="channel")


def to_direction(value: object) -> Direction:
    """A :class:`Direction`, as :func:`to_channel` makes a Channel."""
    try:
        return _DIRECTIONS[value]
    except (KeyError, TypeError):
        return Direction.parse(value, field="direction")


def to_outcome(value: object) -> Outcome:
    """An :class:`Outcome`, as :func:`to_channel` makes a Channel."""
    try:
        return _OUTCOMES[value]
    except (KeyError, TypeError):
        return Outcome.parse(value, field="outcome")


def to_band(value: object) -> Band:
    """A :class:`Band`, as :func:`to_channel` makes a Channel."""
    try:
        return _BANDS[value]
    except (KeyError, TypeError):
        return Band.parse(value, field="band")


def _aware(instance: object, attribute: attrs.Attribute[Any], value: datetime) -> None:
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
        _aware(instance, attribute, value)


_NO_TAGS: frozenset[str] = frozenset()


def to_tags(value: Iterable[str] | str | None) -> frozenset[str]:
    """Tags as ``Activity.tags`` holds them: lower case, trimmed, no empty ones.

    Text is split on ``;`` (how files and CRMs list them). ``None`` and an empty set give
    one shared empty set, for the millions of untagged activities.
    """
    if value is None or (type(value) is frozenset and not value):
        return _NO_TAGS
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
    channel: Channel = attrs.field(converter=to_channel)
    direction: Direction = attrs.field(converter=to_direction)
    outcome: Outcome = attrs.field(default=Outcome.COMPLETED, converter=to_outcome)
    thread_id: str | None = attrs.field(default=None)
    duration_seconds: float | None = attrs.field(default=None)
    automated: bool = attrs.field(default=False)
    tags: frozenset[str] = attrs.field(default=frozenset(), converter=to_tags)

    @duration_seconds.validator
    def _check_duration(
        self, attribute: attrs.Attribute[float | None], value: float | None
    ) -> None:
        if value is not None and value < 0:
            raise ValueError(f"duration_seconds must be >= 0 or None; got {value!r}")

    def __attrs_post_init__(self) -> None:
        _SET_TS(self, self.occurred_at.timestamp())


_SET_TS = _Stamped.__dict__["_ts"].__set__
#: attrs' own __setstate__ (attrs adds one to every slotted class; mypy's plugin does not
#: show it, hence the lookup through __dict__)
_attrs_setstate = Activity.__dict__["__setstate__"]


def _activity_setstate(self: Activity, state: object) -> None:
    """Unpickle (and copy) as attrs does, then stamp the time, which is not pickled."""
    _attrs_setstate(self, state)
    _SET_TS(self, self.occurred_at.timestamp())


type.__setattr__(Activity, "__setstate__", _activity_setstate)


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
    band: Band = attrs.field(converter=to_band)
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
        return join_reasons(self.reasons)
