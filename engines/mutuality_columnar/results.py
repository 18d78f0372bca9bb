"""Scored columns, and the core's score objects built from them one contact at a time.

:class:`ScoredBatch` holds a batch's tallies and published numbers as arrays. A
:class:`~mutuality_core.model.MutualityScore` (with its components and reasons) is
built only for a contact that is written or asked for, from a core ``Verdict`` made
from the engine's arrays (:meth:`ScoredBatch.verdict`), which hold the same numbers
as the core's ``judge`` (components' numbers included), and the contact's tally
rebuilt as the core's ``Tally``: the reasons and the components' detail texts are
written by the core's own ``build_reasons`` and ``signal_details``, so every such
object is the reference's, field for field, without running ``judge`` per contact.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

import attrs
import numpy as np
import pyarrow as pa

from mutuality_core.config import ScoringConfig
from mutuality_core.construct import trusted_component, trusted_score
from mutuality_core.explain import build_reasons
from mutuality_core.model import Band, Component, MutualityScore
from mutuality_core.reasons_text import join_reasons
from mutuality_core.scoring import ALGORITHM_VERSION
from mutuality_core.scoring.tally import Tally
from mutuality_core.scoring.verdict import (
    NO_ENGAGEMENT,
    SIGNALS,
    Verdict,
    engagement_component,
    signal_details,
)
from mutuality_core.timestamps import epoch_microseconds, from_epoch_microseconds

from .codes import Batch, encode
from .tally import Tallies, tally_in_parts
from .verdict import BANDS, Verdicts, verdicts

__all__ = ["SCORE_SCHEMA", "PendingScore", "ScoredBatch", "score_batch"]

_NO_TIME = np.iinfo(np.int64).min

#: The columns ``score_table`` returns: the scores file's, typed.
SCORE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("score", pa.float64()),
        ("band", pa.string()),
        ("lean", pa.float64()),
        ("strength", pa.float64()),
        ("confidence", pa.float64()),
        ("reasons", pa.string()),
        ("scored_at", pa.timestamp("us", tz="UTC")),
        ("algorithm", pa.string()),
        ("activity_count", pa.int64()),
        ("last_activity_at", pa.timestamp("us", tz="UTC")),
    ]
)


#: Tally fields read per contact when its score object is built.
_TALLY_FIELDS = (
    "effort", "initiation", "responsiveness", "commitment", "ledger", "engagement", "messages",
    "calls", "reach_outs", "waiting", "call_reach_outs", "email_reach_outs", "answered",
    "replies", "late", "held", "failed", "failed_unattributed", "gives", "asks", "evidence",
    "weight", "two_way", "last_weight",
)  # fmt: skip


#: The core ``Tally``'s fields in its constructor's order; each is read from the list of
#: that name in ``ScoredBatch._lists`` (a field added to ``Tally`` fails loudly there).
_TALLY_ORDER = tuple(field.name for field in attrs.fields(Tally))


def _make_tally(values: Iterable) -> Tally:
    return Tally(*values)


def _utc(us: int) -> datetime | None:
    return None if us == _NO_TIME else from_epoch_microseconds(us)


class PendingScore:
    """One contact's published score and band, with its score object built on demand.

    What the sync needs to decide whether to write (``score``, ``band``) costs
    nothing; :meth:`build` makes the full :class:`MutualityScore` (components,
    reasons) for a contact that is written or shown.
    """

    __slots__ = ("_k", "_scored", "band", "contact_id", "score")

    #: the model that computed it, as the score object says (old written scores of
    #: another model are rewritten)
    algorithm = ALGORITHM_VERSION

    def __init__(self, scored: ScoredBatch, k: int, score: float, band: Band) -> None:
        self._scored = scored
        self._k = k
        self.contact_id = scored.batch.contact_ids[k]
        self.score = score
        self.band = band

    def build(self) -> MutualityScore:
        return self._scored.score(self._k)


class ScoredBatch:
    """Every contact of one batch, scored: published numbers as arrays, objects on demand."""

    #: the model that computed every score of the batch (each score object says the same)
    algorithm = ALGORITHM_VERSION

    def __init__(
        self, batch: Batch, tallies: Tallies, verdicts: Verdicts, as_of: datetime,
        config: ScoringConfig,
    ) -> None:  # fmt: skip
        self.batch = batch
        self.tallies = tallies
        self.verdicts = verdicts
        self.as_of = as_of
        self.as_ts = as_of.timestamp()
        self.config = config
        t = tallies
        self._starters = np.searchsorted(t.starter_contact, np.arange(batch.contacts + 1))
        self._latencies = np.searchsorted(t.latency_contact, np.arange(batch.contacts + 1))
        self._as_lists: dict[str, list] | None = None
        self._verdict_as_lists: dict[str, list] | None = None
        self._pairs: set[str] = set()  # the tally fields with a value per side

    @property
    def contact_ids(self) -> list[str]:
        return self.batch.contact_ids

    def __len__(self) -> int:
        return self.batch.contacts

    def band_values(self) -> list[str]:
        """Each contact's band as text."""
        names = [b._value_ for b in BANDS]
        return [names[b] for b in self.verdicts.band.tolist()]

    def _lists(self) -> dict[str, list]:
        """The tallies as Python lists, made once (per-contact numpy reads cost more)."""
        if self._as_lists is None:
            t = self.tallies
            lists: dict[str, list] = {}
            for name in _TALLY_FIELDS:
                values = getattr(t, name)
                # a side pair as two flat lists: a contact's own [you, them] list is made
                # when its tally is (millions of small lists made up front keep the
                # garbage collector busy walking them)
                lists[name] = values.tolist() if values.ndim == 1 else values.T.tolist()
                if values.ndim == 2:
                    self._pairs.add(name)
            lists["last_at"] = [_utc(us) for us in t.last_us.tolist()]
            lists["last_two_way_ts"] = [
                None if ts != ts else ts for ts in t.last_two_way_ts.tolist()
            ]
            lists["starter_side"] = t.starter_side.tolist()
            lists["latency_side"] = t.latency_side.tolist()
            lists["latency_seconds"] = t.latency_seconds.tolist()
            lists["starter_bounds"] = self._starters.tolist()
            lists["latency_bounds"] = self._latencies.tolist()
            # set per contact (latencies, starters) or the same for all (ties: the
            # engine sorts by the full key, so the caller never has to settle ties)
            lists["latencies"] = lists["starters"] = [None] * len(self)
            lists["ties"] = [False] * len(self)
            self._as_lists = lists
        return self._as_lists

    def tally(self, k: int) -> Tally:
        """Contact ``k``'s tally as the core's ``Tally`` object."""
        return next(self.core_tallies([k]))

    def core_tallies(self, rows: Iterable[int] | None = None) -> Iterator[Tally]:
        """The core's ``Tally`` of each contact in ``rows`` (default: all), in that order.

        One pass that reads the prepared lists by position: a fifth of the cost of
        looking every field up by name for each contact.
        """
        f = self._lists()
        s_bounds, l_bounds = f["starter_bounds"], f["latency_bounds"]
        starter_side = f["starter_side"]
        latency_side, latency_seconds = f["latency_side"], f["latency_seconds"]
        pairs = [(f[name], name in self._pairs) for name in _TALLY_ORDER]
        for k in range(len(self)) if rows is None else rows:
            t = _make_tally([[v[0][k], v[1][k]] if pair else v[k] for v, pair in pairs])
            l0, l1 = l_bounds[k], l_bounds[k + 1]
            latencies: list[list[float]] = [[], []]
            if l0 != l1:
                for side, seconds in zip(latency_side[l0:l1], latency_seconds[l0:l1], strict=True):
                    latencies[side].append(seconds)
            t.latencies = latencies
            t.starters = starter_side[s_bounds[k] : s_bounds[k + 1]]
            yield t

    def verdict(self, k: int, t: Tally | None = None) -> Verdict:
        """Contact ``k``'s core ``Verdict`` made from the arrays; with its components
        when its core ``Tally`` ``t`` is given (their detail texts are written from it)."""
        components = () if t is None else self.components(k, t)
        return next(self._verdicts([k], self._verdict_lists(), components))

    def core_verdicts(self, rows: Iterable[int] | None = None) -> Iterator[Verdict]:
        """The core's ``Verdict`` of each contact in ``rows`` (default: all), in that order,
        made from the engine's arrays (no re-computation) with empty ``components``.

        Everything ``build_reasons`` reads (band, credits, imbalance, days since the last
        activity and the last two-way exchange) and the published numbers are there;
        :meth:`verdict` adds the components.
        """
        return self._verdicts(range(len(self)) if rows is None else rows, self._verdict_lists(), ())

    @staticmethod
    def _verdicts(
        rows: Iterable[int], f: dict[str, list], components: tuple[Component, ...]
    ) -> Iterator[Verdict]:
        score, lean, strength = f["score"], f["lean"], f["strength"]
        confidence, band, balanced = f["confidence"], f["band"], f["balanced"]
        since_last, since_two_way = f["days_since_last"], f["days_since_two_way"]
        imbalance, credits = f["imbalance"], f["credits"]
        bands = BANDS
        for k in rows:
            yield Verdict(
                score[k],
                lean[k],
                strength[k],
                confidence[k],
                bands[band[k]],
                since_last[k],
                since_two_way[k],
                imbalance[k],
                components,
                balanced[k],
                credits[k],
            )

    def components(self, k: int, t: Tally) -> tuple[Component, ...]:
        """Contact ``k``'s components: the numbers from the arrays, the detail texts the
        core's own (``signal_details`` of its tally ``t``, ``engagement_component``)."""
        v = self.verdicts
        # one contact's rows, read when its components are made: the whole arrays as
        # Python lists up front would add ~50 MiB at 50,000 contacts for a few ms saved
        values = v.component_value[k].tolist()
        weights = v.component_weight[k].tolist()
        leans = v.component_lean[k].tolist()
        evidence = v.component_evidence[k].tolist()
        details = signal_details(t, t.starters.count(2))
        made = [
            trusted_component(
                signal,
                None if values[j] != values[j] else values[j],  # NaN: judge's None
                weights[j],
                evidence[j],
                leans[j],
                details[j],
            )
            for j, signal in enumerate(SIGNALS)
        ]
        n = len(SIGNALS)
        days = self._verdict_lists()["days_since_two_way"][k]
        made.append(
            NO_ENGAGEMENT if days is None else engagement_component(values[n], evidence[n], days)
        )
        return tuple(made)

    def _verdict_lists(self) -> dict[str, list]:
        """The verdict arrays as Python lists (None for NaN days; tuples per row), made once."""
        if self._verdict_as_lists is None:
            v = self.verdicts
            lists: dict[str, list] = {
                name: getattr(v, name).tolist()
                for name in ("score", "lean", "strength", "confidence", "band", "balanced")
            }
            for name in ("days_since_last", "days_since_two_way"):
                lists[name] = [None if d != d else d for d in getattr(v, name).tolist()]
            lists["imbalance"] = list(map(tuple, v.imbalance.tolist()))
            lists["credits"] = list(map(tuple, v.credits.tolist()))
            self._verdict_as_lists = lists
        return self._verdict_as_lists

    def reasons(self, rows: Iterable[int] | None = None) -> Iterator[tuple[str, ...]]:
        """The reasons of each contact in ``rows`` (default: all), by the core's own code.

        The core's ``build_reasons`` on each contact's tally and its ``Verdict`` made
        from the arrays (:meth:`core_verdicts`): what a writer needs when the
        published numbers come from the arrays, without a score object.
        """
        config = self.config
        rows = None if rows is None else list(rows)
        for t, v in zip(self.core_tallies(rows), self.core_verdicts(rows), strict=True):
            yield build_reasons(t, v, config)

    def score(self, k: int) -> MutualityScore:
        """Contact ``k``'s score object: the verdict from the arrays, with its components,
        and the core's reasons."""
        t = self.tally(k)
        v = self.verdict(k, t)
        return trusted_score(
            contact_id=self.batch.contact_ids[k],
            score=v.score,
            lean=v.lean,
            strength=v.strength,
            band=v.band,
            confidence=v.confidence,
            reasons=build_reasons(t, v, self.config),
            components=v.components,
            algorithm=ALGORITHM_VERSION,
            as_of=self.as_of,
            activity_count=self._counts()[k],
            last_activity_at=t.last_at,
        )

    def _counts(self) -> list[int]:
        f = self._lists()
        if "activity_count" not in f:
            f["activity_count"] = self.batch.activity_count.tolist()
        return f["activity_count"]

    def pending(self) -> list[PendingScore]:
        """Every contact's :class:`PendingScore`, in contact_id order."""
        return [
            PendingScore(self, k, score, BANDS[band])
            for k, (score, band) in enumerate(
                zip(self.verdicts.score.tolist(), self.verdicts.band.tolist(), strict=True)
            )
        ]

    def scores(self) -> list[MutualityScore]:
        return [self.score(k) for k in range(len(self))]

    def reason_texts(self, rows: Iterable[int] | None = None) -> list[str]:
        """The reasons of each contact in ``rows`` (default: all) as one text field each."""
        return [join_reasons(reasons) for reasons in self.reasons(rows)]

    def to_table(self, *, reasons: bool = True) -> pa.Table:
        """The scores as :data:`SCORE_SCHEMA` columns (``reasons`` null when not asked for)."""
        n = len(self)
        v = self.verdicts
        texts = pa.array(self.reason_texts(), pa.string()) if reasons else pa.nulls(n, pa.string())
        last = self.tallies.last_us
        return pa.table(
            [
                pa.array(self.batch.contact_ids, pa.string()),
                pa.array(v.score),
                pa.array(self.band_values(), pa.string()),
                pa.array(v.lean),
                pa.array(v.strength),
                pa.array(v.confidence),
                texts,
                pa.array(np.full(n, epoch_microseconds(self.as_of), np.int64)).cast(
                    pa.timestamp("us", tz="UTC")
                ),
                pa.array([ALGORITHM_VERSION] * n, pa.string()),
                pa.array(self.batch.activity_count),
                pa.array(last, mask=last == _NO_TIME).cast(pa.timestamp("us", tz="UTC")),
            ],
            schema=SCORE_SCHEMA,
        )


def score_batch(batch: Batch, as_of: datetime, config: ScoringConfig) -> ScoredBatch:
    """Tally and judge every contact of ``batch``."""
    as_ts = as_of.timestamp()
    t = tally_in_parts(batch, as_ts, config)
    return ScoredBatch(batch, t, verdicts(t, as_ts, config), as_of, config)


def score_valid_table(table: pa.Table, as_of: datetime, config: ScoringConfig) -> ScoredBatch:
    return score_batch(encode(table), as_of, config)
