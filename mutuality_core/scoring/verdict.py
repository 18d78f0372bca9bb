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

from mutuality_core.config import ScoringConfig
from mutuality_core.model import Band, Component, _trusted_component
from mutuality_core.scoring.tally import Tally

__all__ = ["SIGNALS", "Verdict", "judge"]

#: The balance signals, in the order used to break ties between equally important ones.
SIGNALS = ("initiation", "responsiveness", "commitment", "effort", "ledger")
_DAY = 86400.0


def signed_round(value: float, digits: int) -> float:
    """Round half away from zero, but never to zero: the sign of a lean is information.

    Symmetric (``signed_round(-x) == -signed_round(x)``) and monotone, which the mirror
    and monotonicity guarantees rely on; and several times faster than ``round``.
    """
    scale = _SCALES[digits]
    if value >= 0.0:
        steps = int(value * scale + 0.5)
        return (steps if steps or value == 0.0 else 1) / scale
    steps = int(-value * scale + 0.5)
    return -(steps if steps else 1) / scale


def plain_round(value: float, digits: int) -> float:
    """Round a non-negative number half up (monotone, fast)."""
    scale = _SCALES[digits]
    return int(value * scale + 0.5) / scale


_SCALES = {2: 100.0, 3: 1000.0}


class Verdict:
    """The published numbers of one score, plus what the reasons need to order themselves."""

    __slots__ = (
        "band",
        "components",
        "confidence",
        "days_since_last",
        "days_since_two_way",
        "imbalance",
        "lean",
        "score",
        "strength",
    )

    def __init__(
        self,
        score: float,
        lean: float,
        strength: float,
        confidence: float,
        band: Band,
        days_since_last: float | None,
        days_since_two_way: float | None,
        imbalance: tuple[float, ...],
        components: tuple[Component, ...],
    ) -> None:
        self.score = score
        self.lean = lean
        self.strength = strength
        self.confidence = confidence
        self.band = band
        self.days_since_last = days_since_last
        self.days_since_two_way = days_since_two_way
        self.imbalance = imbalance  # |them - you| credits per signal, in SIGNALS order
        self.components = components


#: A signal without evidence: shared, since components are immutable.
_EMPTY = tuple(Component(name=name, value=None, weight=0.0, evidence=0) for name in SIGNALS)
_NO_ENGAGEMENT = Component(name="engagement", value=None, weight=0.0, evidence=0)
_INSUFFICIENT = Band.INSUFFICIENT_DATA
_DORMANT = Band.DORMANT
_MUTUAL = Band.MUTUAL
_YOU_MORE = Band.YOU_INVEST_MORE
_THEY_MORE = Band.THEY_INVEST_MORE


def judge(t: Tally, as_ts: float, config: ScoringConfig) -> Verdict:
    """Turn a tally into the published numbers and the band.

    Written out flat (no helper calls per component): it runs once per contact, and
    at tens of thousands of contacts per second the call overhead shows.
    """
    initiation = t.initiation
    responsiveness = t.responsiveness
    commitment = t.commitment
    effort = t.effort
    ledger = t.ledger
    you = effort[0] + initiation[0] + responsiveness[0] + commitment[0] + ledger[0]
    them = effort[1] + initiation[1] + responsiveness[1] + commitment[1] + ledger[1]
    denominator = you + them + config.prior_credits
    gap = them - you
    # plain_round and signed_round written out: the same arithmetic, without the calls
    if denominator > 0.0:
        lean = signed_round(gap / denominator, 3)
        excess = abs(gap) - config.imbalance_tolerance * t.last_weight
        score = (
            int(100.0 * (1.0 - (excess / denominator if excess > 0.0 else 0.0)) * 100.0 + 0.5)
            / 100.0
        )
    else:
        lean, score = 0.0, 100.0
    strength = (
        int(100.0 * (1.0 - math.exp(-t.engagement / config.strength_scale)) * 100.0 + 0.5) / 100.0
    )
    evidence_total = t.evidence
    confidence = (
        int(evidence_total / (evidence_total + config.confidence_evidence) * 1000.0 + 0.5) / 1000.0
    )

    last_at = t.last_at
    days_since_last = None if last_at is None else (as_ts - last_at.timestamp()) / _DAY
    last_two_way_ts = t.last_two_way_ts
    days_since_two_way = None if last_two_way_ts is None else (as_ts - last_two_way_ts) / _DAY

    if confidence < config.min_confidence:
        band = _INSUFFICIENT
    elif days_since_last is None or days_since_last > config.dormant_after_days:
        band = _DORMANT
    elif lean == 0.0 or (score >= config.mutual_min_score and t.two_way > 0):
        # a history with no two-way exchange at all (no timely reply, no meeting or call
        # held) is not mutual however lenient the score is with thin evidence
        band = _MUTUAL
    elif lean < 0.0:
        band = _YOU_MORE
    else:
        band = _THEY_MORE

    starters = t.starters
    failed = t.failed
    messages = t.messages
    reach_outs = t.reach_outs
    held = t.held
    evidence = (
        len(starters) - starters.count(2),
        reach_outs[0] + reach_outs[1],
        held + failed[0] + failed[1],
        messages[0] + messages[1] + held,
        t.gives[0] + t.gives[1] + t.asks[0] + t.asks[1],
    )
    signals = (initiation, responsiveness, commitment, effort, ledger)
    component = _trusted_component
    components = []
    imbalance = []
    for i in range(5):
        mine, theirs = signals[i]
        total = mine + theirs
        count = evidence[i]
        if total <= 0.0:
            imbalance.append(0.0)
            if count == 0:
                components.append(_EMPTY[i])
            else:
                components.append(component(SIGNALS[i], None, 0.0, count, 0.0, ""))
            continue
        diff = theirs - mine
        imbalance.append(abs(diff))
        share = diff / total  # in [-1, 1]; rounded as signed_round does
        if share >= 0.0:
            side_lean = (int(share * 1000.0 + 0.5) or (1 if share else 0)) / 1000.0
        else:
            side_lean = -(int(-share * 1000.0 + 0.5) or 1) / 1000.0
        components.append(
            component(
                SIGNALS[i],
                int((1.0 - abs(share)) * 1000.0 + 0.5) / 1000.0,
                int(total / denominator * 1000.0 + 0.5) / 1000.0,
                count,
                side_lean,
                "",
            )
        )
    if days_since_two_way is None:
        components.append(_NO_ENGAGEMENT)
    else:
        liveliness = 0.5 ** (max(days_since_two_way, 0.0) / config.half_life_days)
        components.append(
            component(
                "engagement",
                int(liveliness * 1000.0 + 0.5) / 1000.0,
                0.0,
                t.two_way,
                0.0,
                f"last two-way exchange {int(days_since_two_way)} days ago",
            )
        )
    return Verdict(
        score,
        lean,
        strength,
        confidence,
        band,
        days_since_last,
        days_since_two_way,
        tuple(imbalance),
        tuple(components),
    )
