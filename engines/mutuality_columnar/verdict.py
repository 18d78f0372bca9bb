"""The core's verdict (``mutuality_core.scoring.verdict.judge``) for every contact at once.

Only the published numbers the sync diffs and writes are computed here (score, lean,
strength, confidence, band); components and reasons of a contact come from the
core's own ``judge`` and ``build_reasons`` when its score object is built (see
:mod:`.results`). Each expression keeps the reference's operation order, and
``int(x)`` is ``np.trunc``, so equal tallies give equal numbers; the differential
tests check it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mutuality_core.config import ScoringConfig
from mutuality_core.model import Band

from .tally import Tallies

__all__ = ["BANDS", "Verdicts", "verdicts"]

BANDS = tuple(Band)
_INSUFFICIENT, _DORMANT, _MUTUAL, _YOU_MORE, _THEY_MORE = (
    BANDS.index(b)
    for b in (
        Band.INSUFFICIENT_DATA,
        Band.DORMANT,
        Band.MUTUAL,
        Band.YOU_INVEST_MORE,
        Band.THEY_INVEST_MORE,
    )
)
_DAY = 86400.0


@dataclass
class Verdicts:
    score: np.ndarray
    lean: np.ndarray
    strength: np.ndarray
    confidence: np.ndarray
    band: np.ndarray  # int8 index into BANDS


def _exp(values: np.ndarray) -> np.ndarray:
    return np.array([math.exp(v) for v in values.tolist()], dtype=np.float64)


def verdicts(t: Tallies, as_ts: float, config: ScoringConfig) -> Verdicts:
    """The published numbers and band of every contact in ``t``."""
    e, i, r, c, led = t.effort, t.initiation, t.responsiveness, t.commitment, t.ledger
    you = e[:, 0] + i[:, 0] + r[:, 0] + c[:, 0] + led[:, 0]
    them = e[:, 1] + i[:, 1] + r[:, 1] + c[:, 1] + led[:, 1]
    denominator = you + them + config.prior_credits
    gap = them - you
    positive = denominator > 0.0
    safe = np.where(positive, denominator, 1.0)
    share = gap / safe
    lean_up = np.trunc(share * 1000.0 + 0.5)
    lean_down = np.trunc(-share * 1000.0 + 0.5)
    lean = np.where(
        share >= 0.0,
        np.where((lean_up != 0) | (share == 0.0), lean_up, 1.0) / 1000.0,
        -np.where(lean_down != 0, lean_down, 1.0) / 1000.0,
    )
    excess = np.abs(gap) - config.imbalance_tolerance * t.last_weight
    raw_score = 100.0 * (1.0 - np.where(excess > 0.0, excess / safe, 0.0)) * 100.0 + 0.5
    score = np.where(positive, np.trunc(raw_score) / 100.0, 100.0)
    lean = np.where(positive, lean, 0.0)
    raw_strength = 100.0 * (1.0 - _exp(-t.engagement / config.strength_scale)) * 100.0 + 0.5
    strength = np.trunc(raw_strength) / 100.0
    evidence = t.evidence.astype(np.float64)
    confidence = (
        np.trunc(evidence / (evidence + config.confidence_evidence) * 1000.0 + 0.5) / 1000.0
    )

    with np.errstate(invalid="ignore"):
        days_since_last = (as_ts - t.last_us / 1e6) / _DAY
    has_last = t.last_us != np.iinfo(np.int64).min
    band = np.full(score.shape, _THEY_MORE, np.int8)
    band[lean < 0.0] = _YOU_MORE
    band[(lean == 0.0) | ((score >= config.mutual_min_score) & (t.two_way > 0))] = _MUTUAL
    band[~has_last | (days_since_last > config.dormant_after_days)] = _DORMANT
    band[confidence < config.min_confidence] = _INSUFFICIENT

    return Verdicts(score, lean, strength, confidence, band)
