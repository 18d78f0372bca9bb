"""From a tally's credits to the published numbers: lean, score, strength, confidence, band.

The formulas (docs/scoring.md explains why each has its shape):

* ``you = sum of your credits``, ``them = sum of theirs``, ``total = you + them``
* ``lean = (them - you) / (total + prior_credits)``
* ``score = 100 * (1 - max(0, |them - you| - imbalance_tolerance) / (total + prior_credits))``
* ``strength = 100 * (1 - exp(-engagement / strength_scale))``
* ``confidence = evidence / (evidence + confidence_evidence)``

Every output is rounded, and lean is rounded away from zero (a non-zero lean never
shows as 0), so that mirrored histories give identical numbers and the sign of the
published lean is the sign of the imbalance.
"""

from __future__ import annotations

import math

import attrs

from mutuality_core.config import ScoringConfig
from mutuality_core.model import Band, Component
from mutuality_core.scoring.tally import Tally

__all__ = ["SIGNALS", "Verdict", "judge"]

#: The balance signals, in the order used to break ties between equally important ones.
SIGNALS = ("initiation", "responsiveness", "commitment", "effort", "ledger")
_DAY = 86400.0


def signed_round(value: float, digits: int) -> float:
    """Round half-even, but never to zero or across it: the sign of a lean is information."""
    rounded = round(value, digits)
    step = 10.0**-digits
    if value > 0.0 and rounded <= 0.0:
        return step
    if value < 0.0 and rounded >= 0.0:
        return -step
    return rounded + 0.0  # turns -0.0 into 0.0


@attrs.frozen
class Verdict:
    score: float
    lean: float
    strength: float
    confidence: float
    band: Band
    days_since_last: float | None
    days_since_two_way: float | None
    imbalance: dict[str, float]  # |them - you| credits per signal, for ordering reasons
    components: tuple[Component, ...]


def _balance_component(
    name: str, credits: list[float], evidence: int, denominator: float
) -> Component:
    you, them = credits
    total = you + them
    if total <= 0.0:
        return Component(name=name, value=None, weight=0.0, evidence=evidence)
    return Component(
        name=name,
        value=round(1.0 - abs(them - you) / total, 3),
        weight=round(total / denominator, 3),
        evidence=evidence,
        lean=signed_round((them - you) / total, 3),
    )


def judge(t: Tally, as_ts: float, config: ScoringConfig) -> Verdict:
    """Turn a tally into the published numbers and the band."""
    by_signal = {
        "initiation": t.initiation,
        "responsiveness": t.responsiveness,
        "commitment": t.commitment,
        "effort": t.effort,
        "ledger": t.ledger,
    }
    you = t.effort[0] + t.initiation[0] + t.responsiveness[0] + t.commitment[0] + t.ledger[0]
    them = t.effort[1] + t.initiation[1] + t.responsiveness[1] + t.commitment[1] + t.ledger[1]
    denominator = you + them + config.prior_credits
    gap = them - you
    if denominator > 0.0:
        lean = signed_round(gap / denominator, 3)
        excess = abs(gap) - config.imbalance_tolerance
        score = round(100.0 * (1.0 - (excess / denominator if excess > 0.0 else 0.0)), 2)
    else:
        lean, score = 0.0, 100.0
    strength = round(100.0 * (1.0 - math.exp(-t.engagement / config.strength_scale)), 2)
    confidence = round(t.evidence / (t.evidence + config.confidence_evidence), 3)

    days_since_last = None if t.last_at is None else (as_ts - t.last_at.timestamp()) / _DAY
    days_since_two_way = None if t.last_two_way_ts is None else (as_ts - t.last_two_way_ts) / _DAY

    if confidence < config.min_confidence:
        band = Band.INSUFFICIENT_DATA
    elif days_since_last is None or days_since_last > config.dormant_after_days:
        band = Band.DORMANT
    elif score >= config.mutual_min_score or lean == 0.0:
        band = Band.MUTUAL
    elif lean < 0.0:
        band = Band.YOU_INVEST_MORE
    else:
        band = Band.THEY_INVEST_MORE

    evidence = {
        "initiation": sum(1 for s in t.starters if s != 2),
        "responsiveness": t.reach_outs[0] + t.reach_outs[1],
        "commitment": t.held + t.failed[0] + t.failed[1],
        "effort": t.messages[0] + t.messages[1] + t.held,
        "ledger": t.gives[0] + t.gives[1] + t.asks[0] + t.asks[1],
    }
    components = [
        _balance_component(name, by_signal[name], evidence[name], denominator) for name in SIGNALS
    ]
    if days_since_two_way is None:
        components.append(Component(name="engagement", value=None, weight=0.0, evidence=0))
    else:
        liveliness = 0.5 ** (max(days_since_two_way, 0.0) / config.half_life_days)
        components.append(
            Component(
                name="engagement",
                value=round(liveliness, 3),
                weight=0.0,
                evidence=t.two_way,
                detail=f"strength {strength:g}; last two-way exchange "
                f"{int(days_since_two_way)} days ago",
            )
        )
    imbalance = {name: abs(c[1] - c[0]) for name, c in by_signal.items()}
    return Verdict(
        score=score,
        lean=lean,
        strength=strength,
        confidence=confidence,
        band=band,
        days_since_last=days_since_last,
        days_since_two_way=days_since_two_way,
        imbalance=imbalance,
        components=tuple(components),
    )
