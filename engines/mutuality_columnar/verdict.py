"""The core's verdict (``mutuality_core.scoring.verdict.judge``) for every contact at once.

The published numbers the sync diffs and writes are computed here (score, lean,
strength, confidence, band), and what the core's ``build_reasons`` reads from a
``Verdict`` besides the band (each side's credits, each balance signal's imbalance,
days since the last activity and since the last two-way exchange): a contact's reasons
are the core's own, handed a ``Verdict`` made from these arrays (see :mod:`.results`).
The components' numbers are here too (each balance signal's value, weight, lean and
evidence count, the engagement component's value and count), so a whole score object is
built without running ``judge``; their detail texts are the core's own
(``signal_details``, ``engagement_component``), written from the contact's tally.

The balance probability is ``mutuality_core.scoring.balance`` on arrays: the same
floating-point operations in the same order (numpy's ``+ - * /`` are IEEE operations
like Python's), ``math`` functions for the transcendental ones (``np.log`` and
``np.exp`` may differ from them in the last bit), and the continued fraction run for
every contact at once until each one's own stopping test holds, exactly where the
scalar loop would stop. ``int(x)`` is ``np.trunc``. The differential tests check the
result against the core, field by field.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mutuality_core.config import ScoringConfig
from mutuality_core.model import Band
from mutuality_core.scoring.balance import EPSILON, MAX_STEPS, TINY
from mutuality_core.scoring.verdict import SIGNALS

from .tally import Tallies

__all__ = ["BANDS", "Verdicts", "balanced_probability", "verdicts"]

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
    balanced: np.ndarray  # P(balanced), unrounded
    credits: np.ndarray  # (contacts, 2): yours, theirs (recency-weighted), as judge sums them
    imbalance: np.ndarray  # (contacts, 5): |theirs - yours| per signal, in SIGNALS order
    days_since_last: np.ndarray  # NaN without any activity that counts
    days_since_two_way: np.ndarray  # NaN without a two-way exchange
    # the components, columns in SIGNALS order then engagement (values and counts only)
    component_value: np.ndarray  # (contacts, 6); NaN for judge's None
    component_weight: np.ndarray  # (contacts, 5)
    component_lean: np.ndarray  # (contacts, 5)
    component_evidence: np.ndarray  # (contacts, 6), int64


def _map(function: Callable[[float], float], values: np.ndarray) -> np.ndarray:
    """A ``math`` function element by element (bit for bit the scalar core's)."""
    return np.fromiter(map(function, values.tolist()), np.float64, count=values.size)


def _clamp(v: np.ndarray) -> np.ndarray:
    """``if -TINY < v < TINY: v = TINY``."""
    return np.where((v > -TINY) & (v < TINY), TINY, v)


def _continued_fraction(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``balance._continued_fraction`` (modified Lentz) for arrays; each element stops at
    the step where the scalar loop would break."""
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = np.ones(a.shape)
    d = _clamp(1.0 - qab * x / qap)
    d = 1.0 / d
    h = d.copy()
    active = np.arange(a.size)
    for m in range(1, MAX_STEPS + 1):
        if active.size == 0:
            break
        aa, bb, xx = a[active], b[active], x[active]
        qab_, qap_, qam_ = qab[active], qap[active], qam[active]
        cc, dd, hh = c[active], d[active], h[active]
        m2 = 2.0 * m
        step = m * (bb - m) * xx / ((qam_ + m2) * (aa + m2))
        dd = _clamp(1.0 + step * dd)
        cc = _clamp(1.0 + step / cc)
        dd = 1.0 / dd
        hh = hh * (dd * cc)
        step = -(aa + m) * (qab_ + m) * xx / ((aa + m2) * (qap_ + m2))
        dd = _clamp(1.0 + step * dd)
        cc = _clamp(1.0 + step / cc)
        dd = 1.0 / dd
        delta = dd * cc
        hh = hh * delta
        c[active], d[active], h[active] = cc, dd, hh
        active = active[~(np.abs(delta - 1.0) < EPSILON)]
    return h


def _below(
    a: np.ndarray,
    b: np.ndarray,
    x: float,
    log_beta: np.ndarray,
    log_x: float,
    log_1mx: float,
) -> np.ndarray:
    """``balance._below`` for arrays (``x`` the same for every element)."""
    front = _map(math.exp, log_beta + a * log_x + b * log_1mx)
    lower = x < (a + 1.0) / (a + b + 2.0)
    result = np.empty(a.shape)
    if lower.any():
        i = np.flatnonzero(lower)
        xs = np.full(i.size, x)
        result[i] = front[i] * _continued_fraction(a[i], b[i], xs) / a[i]
    if not lower.all():
        i = np.flatnonzero(~lower)
        xs = np.full(i.size, 1.0 - x)
        result[i] = 1.0 - front[i] * _continued_fraction(b[i], a[i], xs) / b[i]
    return result


def balanced_probability(a: np.ndarray, b: np.ndarray, low: float) -> np.ndarray:
    """``balance.balanced_probability`` for arrays of posterior parameters."""
    log_beta = _map(math.lgamma, a + b) - (_map(math.lgamma, a) + _map(math.lgamma, b))
    log_low = math.log(low)
    log_high = math.log1p(-low)
    below = _below(a, b, low, log_beta, log_low, log_high)
    above = _below(b, a, low, log_beta, log_low, log_high)
    inside = 1.0 - (below + above)
    return np.clip(inside, 0.0, 1.0)


def _signed_round_3(value: np.ndarray) -> np.ndarray:
    """``verdict.signed_round(value, 3)``: half away from zero, never to zero."""
    up = np.trunc(value * 1000.0 + 0.5)
    down = np.trunc(-value * 1000.0 + 0.5)
    return np.where(
        value >= 0.0,
        np.where((up != 0) | (value == 0.0), up, 1.0) / 1000.0,
        -np.where(down != 0, down, 1.0) / 1000.0,
    )


def verdicts(t: Tallies, as_ts: float, config: ScoringConfig) -> Verdicts:
    """The published numbers and band of every contact in ``t``."""
    e, i, r, c, led = t.effort, t.initiation, t.responsiveness, t.commitment, t.ledger
    signals = {"effort": e, "initiation": i, "responsiveness": r, "commitment": c, "ledger": led}
    you = e[:, 0] + i[:, 0] + r[:, 0] + c[:, 0] + led[:, 0]
    them = e[:, 1] + i[:, 1] + r[:, 1] + c[:, 1] + led[:, 1]
    unit = config.credits_per_observation
    a = 1.0 + them / unit  # balance.posterior(them, you, unit)
    b = 1.0 + you / unit
    balanced = balanced_probability(a, b, 1.0 / (1.0 + config.balance_ratio))
    score = np.trunc(balanced * 10000.0 + 0.5) / 100.0
    shrink = 1.0 / (you + them + 2.0 * unit)
    lean = _signed_round_3((them - you) * shrink)
    n = t.weight
    raw_strength = 100.0 * (1.0 - _map(math.exp, -t.engagement / config.strength_scale))
    strength = np.trunc(raw_strength * 100.0 + 0.5) / 100.0
    confidence = np.trunc(n / (n + config.confidence_evidence) * 1000.0 + 0.5) / 1000.0

    has_last = t.last_us != np.iinfo(np.int64).min
    # judge: (as_ts - last_at.timestamp()) / DAY; timestamp() is microseconds / 10**6,
    # correctly rounded like this division
    days_since_last = np.where(has_last, (as_ts - t.last_us / 1e6) / _DAY, np.nan)
    days_since_two_way = (as_ts - t.last_two_way_ts) / _DAY  # NaN stays NaN
    # judge's per-signal imbalance: 0 for a signal without credits, else |theirs - mine|
    imbalance = np.empty((score.size, len(SIGNALS)))
    for column, signal in enumerate(SIGNALS):
        pair = signals[signal]
        imbalance[:, column] = np.where(
            pair[:, 0] + pair[:, 1] <= 0.0, 0.0, np.abs(pair[:, 1] - pair[:, 0])
        )
    # the core's if/elif chain, applied from its last branch to its first
    band = np.full(score.shape, _INSUFFICIENT, np.int8)
    one_sided = (balanced <= config.one_sided_max_probability) & (lean != 0.0)
    band[one_sided & (lean < 0.0)] = _YOU_MORE
    band[one_sided & (lean > 0.0)] = _THEY_MORE
    band[(balanced >= config.mutual_min_probability) & (t.two_way > 0)] = _MUTUAL
    with np.errstate(invalid="ignore"):  # NaN > x is False: no activity is caught by ~has_last
        band[~has_last | (days_since_last > config.dormant_after_days)] = _DORMANT
    band[t.evidence == 0] = _INSUFFICIENT
    credits = np.stack([you, them], axis=1)
    value, weight, side_lean, evidence = _components(t, signals, shrink, days_since_two_way, config)
    return Verdicts(
        score, lean, strength, confidence, band, balanced, credits, imbalance,
        days_since_last, days_since_two_way, value, weight, side_lean, evidence,
    )  # fmt: skip


def _components(
    t: Tallies,
    signals: dict[str, np.ndarray],
    shrink: np.ndarray,
    days_since_two_way: np.ndarray,
    config: ScoringConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """judge's components' numbers: value, weight, lean and evidence count per signal."""
    n = shrink.size
    held, failed = t.held, t.failed
    counts = {
        "initiation": t.started,  # len(starters) - together
        "responsiveness": t.reach_outs[:, 0] + t.reach_outs[:, 1],
        "commitment": held + failed[:, 0] + failed[:, 1],
        "effort": t.messages[:, 0] + t.messages[:, 1] + held,
        "ledger": t.gives[:, 0] + t.gives[:, 1] + t.asks[:, 0] + t.asks[:, 1],
    }
    value = np.full((n, len(SIGNALS) + 1), np.nan)
    weight = np.zeros((n, len(SIGNALS)))
    side_lean = np.zeros((n, len(SIGNALS)))
    evidence = np.zeros((n, len(SIGNALS) + 1), np.int64)
    for column, signal in enumerate(SIGNALS):
        pair = signals[signal]
        mine, theirs = pair[:, 0], pair[:, 1]
        total = mine + theirs
        some = total > 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            share = (theirs - mine) / total
        value[:, column] = np.where(
            some, np.trunc((1.0 - np.abs(share)) * 1000.0 + 0.5) / 1000.0, np.nan
        )
        weight[:, column] = np.where(some, np.trunc(total * shrink * 1000.0 + 0.5) / 1000.0, 0.0)
        side_lean[:, column] = np.where(some, _signed_round_3(np.where(some, share, 0.0)), 0.0)
        evidence[:, column] = counts[signal]
        if signal == "commitment":
            # every appointment that took place was kept by both: value 1, weight 0
            kept = ~some & (held > 0) & (failed[:, 0] == 0) & (failed[:, 1] == 0)
            value[kept, column] = 1.0
    two_way = ~np.isnan(days_since_two_way)
    days = np.maximum(days_since_two_way[two_way], 0.0) / config.half_life_days
    liveliness = _map(_half_to_the, days)
    value[two_way, len(SIGNALS)] = np.trunc(liveliness * 1000.0 + 0.5) / 1000.0
    evidence[:, len(SIGNALS)] = t.two_way
    return value, weight, side_lean, evidence


def _half_to_the(power: float) -> float:
    """``0.5 ** power`` as Python computes it (``np.power`` may differ in the last bit)."""
    return 0.5**power
