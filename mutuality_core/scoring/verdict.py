"""From a tally's credits to the published numbers: score, lean, strength, confidence, band.

What ``judge`` computes, operation for operation (docs/scoring.md explains why each
has its shape; ``k`` is ``credits_per_observation``):

* ``you`` / ``them``: each side's credits, ``effort + initiation + responsiveness +
  commitment + ledger`` in that order (recency-weighted)
* ``a, b = 1 + them / k, 1 + you / k`` (``balance.posterior``): their share
  ``p ~ Beta(a, b)``
* ``P = balanced_probability(a, b, 1 / (1 + balance_ratio))``:
  ``P(low <= p <= 1 - low)``, unrounded
* ``score = int(P * 10000 + 0.5) / 100``: ``100 * P``, half up, two decimals
* ``lean = signed_round((them - you) * (1 / (you + them + 2k)), 3)``: the posterior
  mean of ``2p - 1``, half away from zero, never rounded to 0 unless it is 0
* ``strength = int(100 * (1 - exp(-engagement / strength_scale)) * 100 + 0.5) / 100``
* ``confidence = int(n / (n + confidence_evidence) * 1000 + 0.5) / 1000`` with ``n``
  the tally's ``weight`` (the recency weights of the activities that count)
* the band, first match: ``insufficient_data`` without any evidence; ``dormant`` when
  the latest activity that counts (``last_at``, an activity whose side is unknown
  included) is more than ``dormant_after_days`` days old; ``mutual`` when
  ``P >= mutual_min_probability`` and there was a two-way exchange;
  ``you_invest_more`` / ``they_invest_more`` (by the sign of ``lean``) when
  ``P <= one_sided_max_probability`` and ``lean != 0``; ``insufficient_data`` otherwise.
  The thresholds apply to ``P`` before rounding.
* each balance signal's component, with ``share = (theirs - mine) / (mine + theirs)``:
  ``value = int((1 - |share|) * 1000 + 0.5) / 1000``, ``weight = int((mine + theirs) *
  (1 / (you + them + 2k)) * 1000 + 0.5) / 1000``, ``lean`` = ``share`` rounded like
  ``lean`` above; ``value = None`` and weight 0 for a signal without credits, except
  commitment when meetings or calls were held and none was missed by a known side:
  value 1 (both kept them), weight 0 (a held one credits nobody). The engagement
  component's value is ``0.5 ** (days since the last two-way exchange /
  half_life_days)``, rounded to three decimals.

Rounding is the same for both sides (lean away from zero), so mirrored histories give
identical numbers and the sign of the published lean is the sign of the imbalance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mutuality_core.config import ScoringConfig
from mutuality_core.construct import trusted_component as _trusted_component
from mutuality_core.model import Band, Component
from mutuality_core.scoring.balance import balanced_probability, posterior
from mutuality_core.scoring.tally import Tally, tally

__all__ = ["NO_ENGAGEMENT", "SIGNALS", "Verdict", "engagement_component", "judge", "signal_details"]

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
NO_ENGAGEMENT = Component(
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
    together = starters.count(2)
    evidence = (
        len(starters) - together,
        reach_outs[0] + reach_outs[1],
        held + failed[0] + failed[1],
        messages[0] + messages[1] + held,
        t.gives[0] + t.gives[1] + t.asks[0] + t.asks[1],
    )
    component = _trusted_component
    components = []
    imbalance = []
    for signal, (mine, theirs), count, detail, empty in zip(
        SIGNALS,
        (initiation, responsiveness, commitment, effort, ledger),
        evidence,
        signal_details(t, together),
        _EMPTY,
        strict=True,
    ):
        signal_total = mine + theirs
        if signal_total <= 0.0:
            imbalance.append(0.0)
            if count == 0 and detail == empty.detail:  # nothing at all: the shared one
                components.append(empty)
            elif signal == "commitment" and held and not (failed[0] or failed[1]):
                # every appointment that took place was kept by both: even on this
                # signal (value 1), though a held one credits nobody (weight 0)
                components.append(component(signal, 1.0, 0.0, count, 0.0, detail))
            else:
                components.append(component(signal, None, 0.0, count, 0.0, detail))
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
                signal,
                int((1.0 - abs(share)) * 1000.0 + 0.5) / 1000.0,
                # lean = sum(weight * component lean): each signal's part of the shrunk gap
                int(signal_total * shrink * 1000.0 + 0.5) / 1000.0,
                count,
                side_lean,
                detail,
            )
        )
    if days_since_two_way is None:
        components.append(NO_ENGAGEMENT)
    else:
        liveliness = 0.5 ** (max(days_since_two_way, 0.0) / config.half_life_days)
        components.append(
            engagement_component(
                int(liveliness * 1000.0 + 0.5) / 1000.0, t.two_way, days_since_two_way
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


def engagement_component(value: float, two_way: int, days_since_two_way: float) -> Component:
    """The engagement component of a history with a two-way exchange (``NO_ENGAGEMENT``
    without one): its rounded liveliness ``value``, the count of two-way exchanges."""
    return _trusted_component(
        "engagement",
        value,
        0.0,
        two_way,
        0.0,
        f"last two-way exchange {int(days_since_two_way)} days ago",
    )


def signal_details(t: Tally, together: int) -> tuple[str, str, str, str, str]:
    """The counts behind each balance signal, one clause per side ("; " between them).

    ``together`` is ``t.starters.count(BOTH)``. Each clause of a side is the other
    side's template with "you" and "they" swapped, so that a mirrored history gives
    the same clauses swapped. Meetings and the ask/give ledger are absent from most
    histories: their text without any count is built once (``_NO_COMMITMENT``,
    ``_NO_LEDGER``), and ``judge`` then shares the whole component (``_EMPTY``). The
    other texts are looked up by their counts first (``_TEXTS``).
    """
    texts = _TEXTS
    starters = t.starters
    you_started = starters.count(0)
    they_started = starters.count(1)
    key: tuple[int, ...] = (0, you_started, they_started, together)
    initiation = texts.get(key)
    if initiation is None:
        initiation = f"you started {you_started}; they started {they_started}"
        if together:
            initiation += f"; {together} started together"
        _remember(key, initiation)
    answered = t.answered
    reach_outs = t.reach_outs
    late = t.late
    key = (1, answered[0], answered[1], reach_outs[0], reach_outs[1], late[0], late[1])
    replies = texts.get(key)
    if replies is None:
        replies = (
            f"you replied in time to {answered[1]} of their {reach_outs[1]} reach-outs, "
            f"{late[0]} late; "
            f"they replied in time to {answered[0]} of your {reach_outs[0]} reach-outs, "
            f"{late[1]} late"
        )
        _remember(key, replies)
    held = t.held
    failed = t.failed
    unattributed = t.failed_unattributed
    if held or failed[0] or failed[1] or unattributed:
        commitment = _commitment_detail(held, failed, unattributed)
    else:
        commitment = _NO_COMMITMENT
    messages = t.messages
    calls = t.calls
    key = (2, messages[0], messages[1], calls[0], calls[1], held)
    effort = texts.get(key)
    if effort is None:
        effort = (
            f"you sent {messages[0]} one-way ({calls[0]} unanswered calls); "
            f"they sent {messages[1]} one-way ({calls[1]} unanswered calls); "
            f"{held} meetings or calls held"
        )
        _remember(key, effort)
    asks = t.asks
    gives = t.gives
    if asks[0] or asks[1] or gives[0] or gives[1]:
        ledger = _ledger_detail(asks, gives)
    else:
        ledger = _NO_LEDGER
    return initiation, replies, commitment, effort, ledger


#: Detail texts already written, by a kind and their counts. Most contacts share their
#: counts with many others (a CRM of 50,000 contacts has a few hundred different
#: ones), and writing integers into text is most of a detail's cost; the results
#: share the strings, too. Bounded: a full table is emptied and filled again.
_TEXTS: dict[tuple[int, ...], str] = {}
_MAX_TEXTS = 20_000


def _remember(key: tuple[int, ...], text: str) -> None:
    if len(_TEXTS) >= _MAX_TEXTS:
        _TEXTS.clear()
    _TEXTS[key] = text


def _commitment_detail(held: int, failed: Sequence[int], unattributed: int) -> str:
    text = (
        f"{held} held; you missed, cancelled or declined {failed[0]}; "
        f"they missed, cancelled or declined {failed[1]}"
    )
    if unattributed:
        text += f"; {unattributed} not held, cause unknown"
    return text


def _ledger_detail(asks: Sequence[int], gives: Sequence[int]) -> str:
    return f"you asked {asks[0]} and gave {gives[0]}; they asked {asks[1]} and gave {gives[1]}"


_NO_COMMITMENT = _commitment_detail(0, (0, 0), 0)
_NO_LEDGER = _ledger_detail((0, 0), (0, 0))
#: Each signal's component when the history holds nothing for it: shared, since
#: components are immutable (judge uses it when the detail is this very text).
_EMPTY = tuple(
    _trusted_component(signal, None, 0.0, 0, 0.0, detail)
    for signal, detail in zip(
        SIGNALS, signal_details(tally((), 0.0, ScoringConfig()), 0), strict=True
    )
)
