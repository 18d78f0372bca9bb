"""The book of relationships a report shows, and the figures drawn from it.

Pure functions over plain values: the report can be built from a state file, from a
fresh scoring, or from a library user's own rows, and tested without any of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

#: The bands in the order the report lists them, with the words it shows for them.
BAND_LABELS: Mapping[str, str] = {
    "mutual": "Mutual",
    "you_invest_more": "You invest more",
    "they_invest_more": "They invest more",
    "dormant": "Dormant",
    "insufficient_data": "Insufficient data",
}
ONE_SIDED = ("you_invest_more", "they_invest_more")
#: Strength from which a relationship counts as "strong" on the map (strength is 0-100).
STRONG_FROM = 50.0


def band_label(band: str | None) -> str:
    if band is None:
        return "new"
    return BAND_LABELS.get(band, band.replace("_", " ").capitalize())


def _as_tuple(values: Iterable[str]) -> tuple[str, ...]:
    """``Entry.reasons`` from any iterable of reasons (a typed converter for mypy)."""
    return tuple(values)


@attrs.frozen(slots=True)
class Entry:
    """One contact's current values, as the report shows them."""

    contact_id: str
    score: float
    band: str
    lean: float
    strength: float
    confidence: float
    reasons: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)
    name: str | None = None
    company: str | None = None

    @property
    def display_name(self) -> str:
        """The name, else the contact id (a contact without a name still gets a row)."""
        return self.name or self.contact_id


@attrs.frozen(slots=True)
class Before:
    """A contact's value before the compared run; ``band=None``: it had none (new)."""

    band: str | None
    score: float | None = None
    lean: float | None = None


@attrs.frozen
class History:
    """What the book is compared with, and the run history shown at the end.

    ``changes``: the contacts whose value changed since ``since`` (e.g. "run 12"),
    each with its value before; contacts not in it did not change.
    ``runs``: run records newest first, as ``mutuality runs --json`` prints them.
    """

    since: str | None = None
    changes: Mapping[str, Before] = attrs.field(factory=dict)
    runs: Sequence[Mapping[str, Any]] = ()


@attrs.frozen(slots=True)
class BandRow:
    band: str
    count: int
    share: float
    before: int | None  # the count before the compared run (None: no comparison)
    moved_in: int
    moved_out: int


def band_rows(entries: Sequence[Entry], history: History) -> list[BandRow]:
    """Counts and shares per band, and how many contacts moved in and out since the last run.

    A new contact counts as moved in; a band change moves a contact out of one band and
    into another. Contacts that left the CRM are not in the book, so they move out of
    nothing (the runs table shows how many contacts each run scored).
    """
    counts = Counter(e.band for e in entries)
    moved_in: Counter[str] = Counter()
    moved_out: Counter[str] = Counter()
    for entry in entries:
        before = history.changes.get(entry.contact_id)
        if before is None or before.band == entry.band:
            continue
        moved_in[entry.band] += 1
        if before.band is not None:
            moved_out[before.band] += 1
    total = len(entries) or 1
    compared = history.since is not None
    bands = list(BAND_LABELS) + sorted((set(counts) | set(moved_out)) - set(BAND_LABELS))
    return [
        BandRow(
            band,
            counts[band],
            counts[band] / total,
            counts[band] - moved_in[band] + moved_out[band] if compared else None,
            moved_in[band],
            moved_out[band],
        )
        for band in bands
    ]


def most_one_sided(entries: Iterable[Entry], band: str, top: int) -> list[Entry]:
    """The ``top`` contacts of ``band``, most one-sided first (largest |lean|, then score)."""
    chosen = [e for e in entries if e.band == band]
    chosen.sort(key=lambda e: (-abs(e.lean), e.score, e.contact_id))
    return chosen[:top]


def turned_one_sided(entries: Iterable[Entry], history: History) -> list[tuple[Entry, Before]]:
    """Contacts one-sided now that were in another band before, most one-sided first.

    A contact that swapped sides (you invest more -> they invest more) is listed too.
    """
    found = [
        (e, b)
        for e in entries
        if e.band in ONE_SIDED
        and (b := history.changes.get(e.contact_id)) is not None
        and b.band is not None
        and b.band != e.band
    ]
    found.sort(key=lambda pair: (-abs(pair[0].lean), pair[0].contact_id))
    return found


def recovered(entries: Iterable[Entry], history: History) -> list[tuple[Entry, Before]]:
    """Contacts mutual now that were one-sided before, strongest first."""
    found = [
        (e, b)
        for e in entries
        if e.band == "mutual"
        and (b := history.changes.get(e.contact_id)) is not None
        and b.band in ONE_SIDED
    ]
    found.sort(key=lambda pair: (-pair[0].strength, pair[0].contact_id))
    return found


QUADRANTS = (
    ("you_strong", "You invest more, strong"),
    ("they_strong", "They invest more, strong"),
    ("you_weak", "You invest more, weak"),
    ("they_weak", "They invest more, weak"),
)


def quadrant(entry: Entry) -> str:
    """Which named quadrant of the map the contact's dot is in (lean 0 counts as "they")."""
    side = "you" if entry.lean < 0 else "they"
    return f"{side}_{'strong' if entry.strength >= STRONG_FROM else 'weak'}"


def quadrant_counts(entries: Iterable[Entry]) -> dict[tuple[str, str], int]:
    """How many contacts of each band are in each quadrant: ``{(quadrant, band): n}``."""
    return dict(Counter((quadrant(e), e.band) for e in entries))
