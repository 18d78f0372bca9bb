"""One pass over one contact's sorted history, adding up each side's credits and counts.

This is the hot path (millions of activities per run), so it is one function with
local variables, identity tests on enum members and no per-activity calls beyond
``math.exp`` (each activity's POSIX time is stored on it when it is built).
Everything that is about *a side* is kept in two-slot lists indexed by side
(0 = you, 1 = them) and updated by the same expression for both sides: swapping
inbound and outbound swaps the slots bit for bit, which is what makes the mirror
property exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import attrs

from mutuality_core.config import ScoringConfig
from mutuality_core.model import Activity, Channel, Direction, Outcome

__all__ = ["Rates", "Tally", "rates", "tally"]

YOU, THEM, BOTH = 0, 1, 2

_LN2 = math.log(2.0)
_DAY = 86400.0

_OUTBOUND = Direction.OUTBOUND
_INBOUND = Direction.INBOUND
_MUTUAL = Direction.MUTUAL

_EMAIL = Channel.EMAIL
_MESSAGE = Channel.MESSAGE
_CALL = Channel.CALL
_MEETING = Channel.MEETING
_NOTE = Channel.NOTE
_TASK = Channel.TASK

_COMPLETED = Outcome.COMPLETED
_UNKNOWN_OUTCOME = Outcome.UNKNOWN
_BOUNCED = Outcome.BOUNCED
_SCHEDULED = Outcome.SCHEDULED
_NO_ANSWER = Outcome.NO_ANSWER

#: Effort of a held call or meeting, in email-equivalents: it costs more than an email.
#: Every other activity (email, message, note, other, and a call nobody answered)
#: costs 1.
CHANNEL_EFFORT = {"call": 2.0, "meeting": 3.0}
_CALL_EFFORT = CHANNEL_EFFORT["call"]
_MEETING_EFFORT = CHANNEL_EFFORT["meeting"]

#: The share of a held call's or meeting's effort credited to the side that took part
#: in it when the other side placed or organised it (the direction says who did):
#: picking up a call or turning up costs less than setting it up. With equal credits,
#: a contact you always call and who never calls you looked perfectly balanced. A
#: ``mutual`` call or meeting (nobody known to have set it up) credits both sides fully.
TAKING_PART_SHARE = 0.5

#: Tags that say which side caused a missed, cancelled or declined meeting.
BY_YOU_TAGS = frozenset({"by_you", "by:you", "by-you"})
BY_THEM_TAGS = frozenset({"by_them", "by:them", "by-them"})


@attrs.define(slots=True, eq=False)
class Tally:
    """Aggregates of one history: credits (recency-weighted) and plain counts (for reasons)."""

    # credits per side, recency-weighted and multiplied by the signal's weight
    effort: list[float]
    initiation: list[float]
    responsiveness: list[float]
    commitment: list[float]
    ledger: list[float]
    # (responsiveness holds timely replies for the replier and unanswered reach-outs for
    # the sender: both say the sender's side carries the conversation)
    engagement: float  # recency-weighted effort of both sides together (strength)
    # counts per side
    messages: list[int]  # one-way activities sent (emails, messages, call attempts, notes)
    calls: list[int]  # of those, call attempts nobody picked up
    reach_outs: list[int]  # messages that expected a reply (not themselves replies)
    waiting: list[int]  # reach-outs left out of reach_outs: their reply window is still open
    call_reach_outs: list[int]  # of those, call attempts
    email_reach_outs: list[int]  # of those, emails
    answered: list[int]  # reach-outs of this side that the other side replied to in time
    latencies: list[list[float]]  # seconds this side took to reply to the other's reach-outs
    replies: list[int]  # timely replies this side sent (to any message)
    late: list[int]  # answers this side sent after the reply window to the other's reach-outs
    starters: list[int]  # who started each conversation, oldest first (YOU, THEM, BOTH)
    held: int  # meetings and calls that took place
    failed: list[int]  # meetings and calls missed, cancelled or declined by this side
    failed_unattributed: int
    gives: list[int]
    asks: list[int]
    evidence: int  # activities with a known side that count as evidence
    weight: float  # the same, each counted with its recency weight (the posterior's n)
    two_way: int  # timely replies plus meetings and calls held
    last_at: datetime | None  # the latest activity that counts
    last_two_way_ts: float | None  # POSIX time of the latest two-way exchange
    ties: bool  # two activities share occurred_at: the caller must order them fully
    last_weight: float  # recency weight of the latest evidence (the largest weight)


class Rates(NamedTuple):
    """The configuration's times as the tally uses them: per-second rates and seconds.

    One place for these formulas, shared with the columnar engine's tally, so the two
    cannot drift apart.
    """

    decay: float  # recency: a weight halves every half_life_days
    latency_decay: float  # a reply's credit halves every latency_half_life_hours of delay
    gap: float  # quiet_gap_days in seconds
    window: float  # reply_window_days in seconds


def rates(config: ScoringConfig) -> Rates:
    return Rates(
        _LN2 / (config.half_life_days * _DAY),
        _LN2 / (config.latency_half_life_hours * 3600.0),
        config.quiet_gap_days * _DAY,
        config.reply_window_days * _DAY,
    )


_Settings = tuple[
    float, float, float, float, float, float, float, float, float, float, float, float
]
#: The configuration last seen and its numbers as the tally uses them (one tuple, so
#: that a thread never reads one configuration's numbers for another's).
_SETTINGS: tuple[ScoringConfig | None, _Settings] = (None, (0.0,) * 12)


def _settings(config: ScoringConfig) -> tuple[ScoringConfig, _Settings]:
    global _SETTINGS
    decay, latency_decay, gap, window = rates(config)
    lw = config.ledger_weight
    ew = config.effort_weight
    numbers = (
        decay,
        latency_decay,
        gap,
        window,
        ew,
        TAKING_PART_SHARE * ew,
        config.initiation_weight,
        config.responsiveness_weight,
        config.unanswered_weight,
        config.commitment_weight,
        lw,
        0.5 * lw,
    )
    _SETTINGS = (config, numbers)
    return _SETTINGS


def tally(activities: Sequence[Activity], as_ts: float, config: ScoringConfig) -> Tally:
    """Add up ``activities`` (sorted by occurred_at) as of POSIX time ``as_ts``.

    Activities at the same instant must be in a total order (see ``scoring._full_key``);
    when the tally meets two at the same instant it sets ``ties`` so that a caller who
    sorted by time only can sort fully and tally again.
    """
    settings = _SETTINGS
    if settings[0] is not config:  # one configuration per run: its numbers are kept
        settings = _settings(config)
    decay, latency_decay, gap, window, ew, part_ew, iw, rw, uw, kw, lw, half_lw = settings[1]
    exp = math.exp
    # module constants as locals: the loop below runs millions of times
    outbound_ = _OUTBOUND
    inbound_ = _INBOUND
    mutual_ = _MUTUAL
    email_ = _EMAIL
    message_ = _MESSAGE
    call_ = _CALL
    meeting_ = _MEETING
    note_ = _NOTE
    task_ = _TASK
    completed_ = _COMPLETED
    unknown_outcome_ = _UNKNOWN_OUTCOME
    bounced_ = _BOUNCED
    scheduled_ = _SCHEDULED
    no_answer_ = _NO_ANSWER
    meeting_effort_ = _MEETING_EFFORT
    call_effort_ = _CALL_EFFORT

    effort = [0.0, 0.0]
    initiation = [0.0, 0.0]
    responsiveness = [0.0, 0.0]
    commitment = [0.0, 0.0]
    ledger = [0.0, 0.0]
    engagement = 0.0
    messages = [0, 0]
    calls = [0, 0]
    reach_outs = [0, 0]
    waiting = [0, 0]
    call_reach_outs = [0, 0]
    other_reach_outs = [0, 0]  # neither emails nor calls (emails: the rest, at the end)
    answered = [0, 0]
    latencies: list[list[float]] = [[], []]
    replies = [0, 0]
    late = [0, 0]
    starters: list[int] = []
    held = 0
    failed = [0, 0]
    failed_unattributed = 0
    gives = [0, 0]
    asks = [0, 0]
    evidence = 0
    weight = 0.0
    two_way = 0
    last: Activity | None = None  # the latest activity that counts (its time is last_at)
    last_two_way_ts: float | None = None
    ties = False
    last_weight = 0.0

    # conversation state: [last side (YOU/THEM/BOTH), last time, last weight, expected a
    # reply, what kind of reach-out waits (0 other, 1 email, 2 call attempt)]
    threads: dict[str, list] = {}
    thread_state = threads.get
    loose: list | None = None  # the current conversation of activities without a thread
    prev_ts = -math.inf

    for a in activities:
        if a.automated:
            continue
        channel = a.channel
        if channel is task_:
            continue
        ts = a._ts
        if ts > as_ts:
            continue  # not yet happened
        if ts == prev_ts:
            ties = True  # same instant: the caller re-sorts by the full key and calls again
        prev_ts = ts
        direction = a.direction
        if direction is outbound_:
            side = YOU
        elif direction is inbound_:
            side = THEM
        elif direction is mutual_:
            side = BOTH
        elif channel is note_:
            continue  # an internal note with no side is bookkeeping, not an interaction
        else:
            side = -1
        w = exp((ts - as_ts) * decay)
        if channel is email_ or channel is message_:
            cost = 1.0
            planned = False
        elif channel is meeting_:
            cost = meeting_effort_
            planned = True
        elif channel is call_:
            cost = call_effort_
            planned = True
        else:
            cost = 1.0
            planned = False

        outcome = a.outcome
        if outcome is not completed_ and outcome is not unknown_outcome_:
            if outcome is bounced_ or outcome is scheduled_:
                continue  # never reached them, or not happened yet
            if outcome is no_answer_:
                if planned:
                    cost = 1.0  # an unanswered call is an attempt: one-way, like a message
                    planned = False
            elif not planned:
                continue  # a cancelled or declined email says nothing
            else:
                # A meeting or call that did not happen: evidence about commitment only.
                tags = a.tags
                by_you = bool(tags) and not tags.isdisjoint(BY_YOU_TAGS)
                by_them = bool(tags) and not tags.isdisjoint(BY_THEM_TAGS)
                if by_you and not by_them:
                    culprit = YOU
                elif by_them and not by_you:
                    culprit = THEM
                elif side in (YOU, THEM):  # no tag, or contradictory tags
                    culprit = 1 - side  # whoever was invited let the organiser down
                else:
                    culprit = -1
                if culprit >= 0:
                    # the side let down kept the appointment: its effort and its commitment
                    failed[culprit] += 1
                    effort[1 - culprit] += ew * cost * w
                    commitment[1 - culprit] += kw * w
                    evidence += 1
                    weight += w
                    last_weight = w
                else:
                    failed_unattributed += 1
                if side in (YOU, THEM):  # whoever set it up started a conversation
                    starters.append(side)
                    initiation[side] += iw * w
                last = a
                continue

        last = a
        if side < 0:
            engagement += cost * w
            continue  # happened, but nobody knows who did it: strength only
        evidence += 1
        weight += w
        last_weight = w
        closes = planned or side == BOTH
        if closes:
            cw = cost * w
            engagement += cw
            if side == BOTH:
                effort[0] += ew * cw
                effort[1] += ew * cw
            else:
                # the side that placed or organised it, and the side that took part
                effort[side] += ew * cw
                effort[1 - side] += part_ew * cw
            if planned:
                # kept by both: no commitment credit (symmetric, it says nothing about
                # who invests more); commitment credits only an appointment kept that
                # the other side missed, cancelled or declined
                held += 1
            two_way += 1
            last_two_way_ts = ts
        else:
            # one-way: its cost is 1 (a planned channel that is not held is an
            # unanswered call), and 1.0 * w is w exactly
            engagement += w
            effort[side] += ew * w
            messages[side] += 1
            if channel is call_:  # a call that is not planned: nobody picked up
                calls[side] += 1

        # the conversation this activity belongs to
        thread = a.thread_id
        if thread is None:
            state = loose
            if state is not None and ts - state[1] > gap:
                if state[3]:  # the quiet gap ended it unanswered
                    responsiveness[state[0]] += uw * state[2]
                state = None
        else:
            state = thread_state(thread)
        if state is None:
            starters.append(side)
            if side != BOTH:
                initiation[side] += iw * w
            if closes:
                state = [BOTH, ts, w, False, 0]
            else:
                reach_outs[side] += 1
                if channel is email_:  # emails are counted as what is left (see the end)
                    state = [side, ts, w, True, 1]
                elif channel is call_:
                    state = [side, ts, w, True, 2]
                    call_reach_outs[side] += 1
                else:
                    state = [side, ts, w, True, 0]
                    other_reach_outs[side] += 1
            if thread is None:
                loose = state
            else:
                threads[thread] = state
        else:
            before = state[0]
            waited = ts - state[1]
            if before != BOTH and before != side and waited <= window:
                # a timely reply (a held call or meeting by the other side counts too)
                replier = side if side != BOTH else 1 - before
                responsiveness[replier] += rw * exp(-waited * latency_decay) * state[2]
                replies[replier] += 1
                if state[3]:
                    answered[before] += 1
                    latencies[replier].append(waited)
                if not closes:
                    two_way += 1
                    last_two_way_ts = ts
                expects = False
            else:
                if state[3]:  # followed up, or answered too late: it went unanswered
                    responsiveness[before] += uw * state[2]
                    if before != side and before != BOTH:
                        late[side if side != BOTH else 1 - before] += 1
                # a late answer is still an answer, not a new reach-out
                expects = not closes and before in (side, BOTH)
            if expects:
                reach_outs[side] += 1
                if channel is email_:
                    state[4] = 1
                elif channel is call_:
                    call_reach_outs[side] += 1
                    state[4] = 2
                else:
                    other_reach_outs[side] += 1
                    state[4] = 0
            state[0] = BOTH if closes else side
            state[1] = ts
            state[2] = w
            state[3] = expects

        tags = a.tags
        if tags and side != BOTH:
            if "give" in tags:
                gives[side] += 1
                ledger[side] += lw * w
            if "ask" in tags:
                asks[side] += 1
                ledger[1 - side] += half_lw * w

    # reach-outs still waiting at the end: unanswered once their reply window has passed,
    # not judged yet (and left out of the reply counts) while it is open
    ends = list(threads.values())
    if loose is not None:
        ends.append(loose)
    for state in ends:
        if state[3]:
            if as_ts - state[1] > window:
                responsiveness[state[0]] += uw * state[2]
            else:
                reach_outs[state[0]] -= 1
                waiting[state[0]] += 1
                if state[4] == 2:
                    call_reach_outs[state[0]] -= 1
                elif state[4] == 0:
                    other_reach_outs[state[0]] -= 1
    email_reach_outs = [
        reach_outs[0] - call_reach_outs[0] - other_reach_outs[0],
        reach_outs[1] - call_reach_outs[1] - other_reach_outs[1],
    ]

    # positionally, in field order (tests/core/test_tally.py checks it): keywords would
    # cost a tenth of the tally of a typical history
    return Tally(
        effort,
        initiation,
        responsiveness,
        commitment,
        ledger,
        engagement,
        messages,
        calls,
        reach_outs,
        waiting,
        call_reach_outs,
        email_reach_outs,
        answered,
        latencies,
        replies,
        late,
        starters,
        held,
        failed,
        failed_unattributed,
        gives,
        asks,
        evidence,
        weight,
        two_way,
        None if last is None else last.occurred_at,
        last_two_way_ts,
        ties,
        last_weight,
    )
