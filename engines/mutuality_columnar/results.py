"""Scored columns, and the core's score objects built from them one contact at a time.

:class:`ScoredBatch` holds a batch's tallies and published numbers as arrays. A
:class:`~mutuality_core.model.MutualityScore` (with its components and reasons) is
built only for a contact that is written or asked for: its tally is rebuilt as the
core's ``Tally`` and handed to the core's own ``judge`` and ``build_reasons``, so
every such object is the reference's, field for field.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa

from mutuality_core.config import ScoringConfig
from mutuality_core.construct import trusted_score
from mutuality_core.explain import build_reasons
from mutuality_core.model import Band, MutualityScore
from mutuality_core.reasons_text import join_reasons
from mutuality_core.scoring import ALGORITHM_VERSION
from mutuality_core.scoring.tally import Tally
from mutuality_core.scoring.verdict import judge
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
            lists = {name: getattr(t, name).tolist() for name in _TALLY_FIELDS}
            lists["last_at"] = [_utc(us) for us in t.last_us.tolist()]
            lists["last_two_way_ts"] = [
                None if ts != ts else ts for ts in t.last_two_way_ts.tolist()
            ]
            lists["starter_side"] = t.starter_side.tolist()
            lists["latency_side"] = t.latency_side.tolist()
            lists["latency_seconds"] = t.latency_seconds.tolist()
            lists["starter_bounds"] = self._starters.tolist()
            lists["latency_bounds"] = self._latencies.tolist()
            self._as_lists = lists
        return self._as_lists

    def tally(self, k: int) -> Tally:
        """Contact ``k``'s tally as the core's ``Tally`` object."""
        f = self._lists()
        s0, s1 = f["starter_bounds"][k], f["starter_bounds"][k + 1]
        l0, l1 = f["latency_bounds"][k], f["latency_bounds"][k + 1]
        latencies: list[list[float]] = [[], []]
        for side, seconds in zip(
            f["latency_side"][l0:l1], f["latency_seconds"][l0:l1], strict=True
        ):
            latencies[side].append(seconds)
        return Tally(
            effort=f["effort"][k],
            initiation=f["initiation"][k],
            responsiveness=f["responsiveness"][k],
            commitment=f["commitment"][k],
            ledger=f["ledger"][k],
            engagement=f["engagement"][k],
            messages=f["messages"][k],
            calls=f["calls"][k],
            reach_outs=f["reach_outs"][k],
            waiting=f["waiting"][k],
            call_reach_outs=f["call_reach_outs"][k],
            email_reach_outs=f["email_reach_outs"][k],
            answered=f["answered"][k],
            latencies=latencies,
            replies=f["replies"][k],
            late=f["late"][k],
            starters=f["starter_side"][s0:s1],
            held=f["held"][k],
            failed=f["failed"][k],
            failed_unattributed=f["failed_unattributed"][k],
            gives=f["gives"][k],
            asks=f["asks"][k],
            evidence=f["evidence"][k],
            weight=f["weight"][k],
            two_way=f["two_way"][k],
            last_at=f["last_at"][k],
            last_two_way_ts=f["last_two_way_ts"][k],
            ties=False,
            last_weight=f["last_weight"][k],
        )

    def score(self, k: int) -> MutualityScore:
        """Contact ``k``'s score object, built by the core's verdict and reasons."""
        t = self.tally(k)
        v = judge(t, self.as_ts, self.config)
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

    def to_table(self, *, reasons: bool = True) -> pa.Table:
        """The scores as :data:`SCORE_SCHEMA` columns (``reasons`` null when not asked for)."""
        n = len(self)
        v = self.verdicts
        if reasons:
            texts = pa.array([join_reasons(self.score(k).reasons) for k in range(n)], pa.string())
        else:
            texts = pa.nulls(n, pa.string())
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
