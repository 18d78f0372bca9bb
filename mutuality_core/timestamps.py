"""ISO 8601 text to datetimes, the same way on every Python we support; aware instants checked.

CRMs, files and the command line all hand us ISO 8601, but in different dialects:
``Z`` for UTC, ``+0000`` without a colon (Salesforce), one to nine fraction digits
(HubSpot), a space instead of ``T``. Python 3.10's ``datetime.fromisoformat`` refuses
most of these, and 3.11's accepts them, so one parser here keeps a file that loads on
one interpreter from failing on another, and keeps the error wording in one place.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = [
    "EPOCH",
    "check_as_of",
    "epoch_microseconds",
    "format_utc_milliseconds",
    "from_epoch_microseconds",
    "parse_aware_datetime",
    "parse_iso_datetime",
]

#: The POSIX epoch, aware: what engines count microseconds from.
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_LOOSE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?$",
    re.IGNORECASE,
)
EXAMPLE = "2026-03-01T14:30:00Z"


def parse_iso_datetime(text: str, *, naive_as_utc: bool = False) -> datetime:
    """A datetime from ISO 8601 text; naive when the text has no offset (UTC with
    ``naive_as_utc``, for APIs that document their times as UTC).

    Raises ``ValueError`` whose message quotes the text and shows a valid example.
    """
    parsed = _parse(text)
    if naive_as_utc and parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed


def _parse(text: str) -> datetime:
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    elif len(value) > 15 and value[-5] in "+-" and value[-4:].isdigit():
        value = f"{value[:-2]}:{value[-2:]}"  # Salesforce's +0000; cheaper than the fallback
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        pass
    match = _LOOSE.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 timestamp (expected e.g. {EXAMPLE})")
    day, clock, fraction, zone = match.groups()
    clock = clock or "00:00"
    if clock.count(":") == 1:
        clock += ":00"
    micro = (fraction or "0")[:6].ljust(6, "0")
    if zone is None:
        offset = ""
    elif zone in ("Z", "z"):
        offset = "+00:00"
    else:
        digits = zone[1:].replace(":", "").ljust(4, "0")
        offset = f"{zone[0]}{digits[:2]}:{digits[2:]}"
    try:
        return datetime.fromisoformat(f"{day}T{clock}.{micro}{offset}")
    except ValueError:  # a well-formed but impossible date, e.g. 2026-02-30
        raise ValueError(f"{text!r} is not a valid date-time (expected e.g. {EXAMPLE})") from None


def parse_aware_datetime(text: str) -> datetime:
    """Like ``parse_iso_datetime``, but a time without a zone is refused rather than guessed.

    Guessing UTC (or the machine's zone) would shift every reply-latency and quiet-gap
    measurement by hours without anyone noticing.
    """
    parsed = parse_iso_datetime(text)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(
            f"{text.strip()!r} has no time zone; add Z for UTC or an offset such as +01:00"
        )
    return parsed


def format_utc_milliseconds(value: datetime) -> str:
    """``2026-03-01T14:30:00.000Z``: UTC, milliseconds, ``Z``, as HubSpot and SOQL write times."""
    utc = value.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def check_as_of(as_of: datetime) -> float:
    """``as_of`` as a POSIX time, after checking it is an aware datetime.

    Every scoring entry point (the core's and each engine's) starts with this, so a
    naive or missing ``as_of`` gives the same error whichever engine was asked.
    """
    if not isinstance(as_of, datetime):
        raise TypeError(f"as_of must be a datetime; got {type(as_of).__name__}")
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError(
            f"as_of must be timezone-aware (got naive {as_of.isoformat()}); "
            "pass e.g. datetime.now(timezone.utc) from the caller"
        )
    return as_of.timestamp()


def epoch_microseconds(moment: datetime) -> int:
    """An aware datetime as whole microseconds since the epoch, exactly (no float on the way).

    Arrow and Spark store timestamps so; ``moment.timestamp() * 1e6`` would round.
    """
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_microseconds(us: int) -> datetime:
    """The UTC datetime ``us`` microseconds after the epoch (the inverse of the above)."""
    return EPOCH + timedelta(microseconds=us)
