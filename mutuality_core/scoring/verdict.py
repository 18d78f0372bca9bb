"""From a tally's credits to the published numbers: score, lean, strength, confidence, band.

The formulas (docs/scoring.md explains why each has its shape):

* ``you`` / ``them``: the sums of each side's credits (recency-weighted); ``k``:
  ``credits_per_observation``; ``n``: the recency-weighted evidence (each activity
  that counts, weighted by its age)
* their share ``p ~ Beta(1 + them / k, 1 + you / k)``
* ``score = 100 * P(low <= p <= 1 - low)`` with ``low = 1 / (1 + balance_ratio)``
* ``lean = (them - you) / (them + you + 2k)``: the posterior mean of ``2p - 1``
* ``strength = 100 * (1 - exp(-engagement / strength_scale))``
* ``confidence = n / (n + confidence_evidence)``

Every output is rounded, and lean is rounded away from zero (a non-zero lean never
shows as 0), so that mirrored histories give identical numbers and the sign of the
published lean is the sign of the imbalance.
"""

from __future__ import annotations

import math

from mutuality_core.config import ScoringConfig
from mutuality_core.construct import trusted_component as _trusted_component
from mutuality_core.model import Band, Component
from mutuality_core.scoring.balance import balanced_probability, posterior
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
        "balanced",
        "band",
        "components",
        "confidence",
        "credits",
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
        balanced: float,
        credits: tuple[float, float],
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
        self.balanced = balanced  # P(balanced), unrounded
        self.credits = credits  # (yours, theirs), recency-weighted


#: No two-way exchange yet: shared, since components are immutable.
_NO_ENGAGEMENT = Component(
    name="engagement", value=None, weight=0.0, evidence=0, detail="no two-way exchange yet"
)
_INSUFFICIENT = Band.INSUFFICIENT_DATA
_DORMANT = Band.DORMANT
_MUTUAL = Band.MUTUAL
_YOU_MORE = Band.YOU_INVEST_MORE
_THEY_MORE = Band.THEY_INVEST_MORE


def judge(t: Tally, as_ts: float, config: ScoringConfig) -> Verdict:
    """Turn a tally into the published numbers and the band.

    Written out flat (few helper calls per component): it runs once per contact, and
    at tens of thousands of contacts per second the call overhead shows.
    """
    initiation = t.initiation
    responsiveness = t.responsiveness
    commitment = t.commitment
    effort = t.effort
    ledger = t.ledger
    you = effort[0] + initiation[0] + responsiveness[0] + commitment[0] + ledger[0]
    them = effort[1] + initiation[1] + responsiveness[1] + commitment[1] + ledger[1]
    unit = config.credits_per_observation
    a, b = posterior(them, you, unit)
    balanced = balanced_probability(a, b, 1.0 / (1.0 + config.balance_ratio))
    score = int(balanced * 10000.0 + 0.5) / 100.0
    # the posterior mean of 2p - 1, (a - b) / (a + b), from the credits' difference so
    # that it negates exactly when the sides swap
    shrink = 1.0 / (you + them + 2.0 * unit)
    gap = them - you
    lean = signed_round(gap * shrink, 3)
    n = t.weight
    strength = (
        int(100.0 * (1.0 - math.exp(-t.engagement / config.strength_scale)) * 100.0 + 0.5) / 100.0
    )
    confidence = int(n / (n + config.confidence_evidence) * 1000.0 + 0.5) / 1000.0

    last_at = t.last_at
    days_since_last = None if last_at is None else (as_ts - last_at.timestamp()) / _DAY
    last_two_way_ts = t.last_two_way_ts
    days_since_two_way = None if last_two_way_ts is None else (as_ts - last_two_way_ts) / _DAY

    if t.evidence == 0:
        band = _INSUFFICIENT
    elif days_since_last is None or days_since_last > config.dormant_after_days:
        band = _DORMANT
    elif balanced >= config.mutual_min_probability and t.two_way > 0:
        # a history with no two-way exchange at all (no timely reply, no meeting or call
        # held) is not mutual, however even the two sides' one-way efforts are
        band = _MUTUAL
    elif balanced <= config.one_sided_max_probability and lean != 0.0:
        band = _YOU_MORE if lean < 0.0 else _THEY_MORE
    else:
        band = _INSUFFICIENT

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
    details = _details(t)
    signals = (initiation, responsiveness, commitment, effort, ledger)
    component = _trusted_component
    components = []
    imbalance = []
    for i in range(5):
        mine, theirs = signals[i]
        signal_total = mine + theirs
        count = evidence[i]
        if signal_total <= 0.0:
            imbalance.append(0.0)
            components.append(component(SIGNALS[i], None, 0.0, count, 0.0, details[i]))
            continue
        diff = theirs - mine
        imbalance.append(abs(diff))
        share = diff / signal_total  # in [-1, 1]; rounded as signed_round does
        if share >= 0.0:
            side_lean = (int(share * 1000.0 + 0.5) or (1 if share else 0)) / 1000.0
        else:
            side_lean = -(int(-share * 1000.0 + 0.5) or 1) / 1000.0
        components.append(
            component(
                SIGNALS[i],
                int((1.0 - abs(share)) * 1000.0 + 0.5) / 1000.0,
                # lean = sum(weight * component lean): each signal's part of the shrunk gap
                int(signal_total * shrink * 1000.0 + 0.5) / 1000.0,
                count,
                side_lean,
                details[i],
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
        balanced,
        (you, them),
    )


def _details(t: Tally) -> tuple[str, str, str, str, str]:
    """The counts behind each balance signal, one clause per side ("; " between them).

    Built from the same template for both sides, so that a mirrored history gives the
    same clauses with "you" and "they" swapped.
    """
    started = (t.starters.count(0), t.starters.count(1))
    together = t.starters.count(2)
    initiation = f"you started {started[0]}; they started {started[1]}"
    if together:
        initiation += f"; {together} started together"
    replies = "; ".join(
        f"{_WHO[side]} replied in time to {t.answered[1 - side]} of "
        f"{_WHOSE[1 - side]} {t.reach_outs[1 - side]} reach-outs, {t.late[side]} late"
        for side in (0, 1)
    )
    commitment = (
        f"{t.held} held; you missed, cancelled or declined {t.failed[0]}; "
        f"they missed, cancelled or declined {t.failed[1]}"
    )
    if t.failed_unattributed:
        commitment += f"; {t.failed_unattributed} not held, cause unknown"
    effort = (
        f"you sent {t.messages[0]} one-way ({t.calls[0]} unanswered calls); "
        f"they sent {t.messages[1]} one-way ({t.calls[1]} unanswered calls); "
        f"{t.held} meetings or calls held"
    )
    ledger = (
        f"you asked {t.asks[0]} and gave {t.gives[0]}; they asked {t.asks[1]} and gave {t.gives[1]}"
    )
    return initiation, replies, commitment, effort, ledger


_WHO = ("you", "they")
_WHOSE = ("your", "their")
