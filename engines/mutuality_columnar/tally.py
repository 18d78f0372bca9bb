"""The core's tally (``mutuality_core.scoring.tally``) over every contact at once, in columns.

The reference walks one contact's history in time order and keeps a small state per
conversation. That state turns out to depend only on the activity before in the same
conversation (who spoke last, when, with what weight, and whether it expected a reply,
which in turn depends only on the one before it), so every step here is a whole-array
operation: find each activity's predecessor in its conversation, derive what the
reference's loop would have done, and add the contributions per contact with
``np.bincount``, which adds in array order, one after the other, exactly as the loop
does. Sums therefore come out bit for bit as the reference's whenever the recency
weights do (see ``exact`` below).

Every step is written next to the line of the reference it reproduces; the
differential tests (tests/columnar) compare every field for generated histories.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mutuality_core.config import ScoringConfig

from .codes import (
    ASK_BIT,
    BY_THEM_BIT,
    BY_YOU_BIT,
    CALL,
    EMAIL,
    FAILED_OUTCOMES,
    GIVE_BIT,
    INBOUND,
    MEETING,
    MUTUAL,
    NO_ANSWER,
    NOTE,
    OUTBOUND,
    SKIPPED_OUTCOMES,
    TAGGED_BIT,
    TASK,
    Batch,
    sort_key,
)

__all__ = ["Tallies", "exact_exp", "tally_batch", "tally_in_parts"]

#: Rows tallied at a time: the tally's temporaries (a few dozen arrays as long as the
#: part) stay small and in cache, whatever the size of the input.
PART_ROWS = 200_000


YOU, THEM, BOTH = 0, 1, 2

#: The effort of each channel, from the reference's own table.
from mutuality_core.scoring.tally import CHANNEL_EFFORT, TAKING_PART_SHARE, rates  # noqa: E402

_MEETING_EFFORT = CHANNEL_EFFORT["meeting"]
_CALL_EFFORT = CHANNEL_EFFORT["call"]


def exact_exp(x: np.ndarray) -> np.ndarray:
    """``math.exp`` of each element: bit for bit the reference's weights.

    ``np.exp`` is ~20 times faster, but its AVX-512 code differs from ``math.exp`` in
    the last bit for ~5 % of inputs, and a last bit can decide a rounding step or
    the order of two reasons; ``math.exp`` mapped over the values costs ~70 ns each.
    """
    return np.fromiter(map(math.exp, x.tolist()), np.float64, count=x.size)


@dataclass
class Tallies:
    """The reference's ``Tally`` fields for ``n`` contacts, one row (or row pair) each.

    Two-slot fields are ``(n, 2)`` arrays (column 0 = you, 1 = them). ``starter_*`` and
    ``latency_*`` keep what the reasons need (the lists of the reference), as flat
    arrays in history order with the contact of each entry.
    """

    effort: np.ndarray
    initiation: np.ndarray
    responsiveness: np.ndarray
    commitment: np.ndarray
    ledger: np.ndarray
    engagement: np.ndarray
    messages: np.ndarray
    calls: np.ndarray
    reach_outs: np.ndarray
    waiting: np.ndarray
    call_reach_outs: np.ndarray
    email_reach_outs: np.ndarray
    answered: np.ndarray
    replies: np.ndarray
    late: np.ndarray
    held: np.ndarray
    failed: np.ndarray
    failed_unattributed: np.ndarray
    gives: np.ndarray
    asks: np.ndarray
    evidence: np.ndarray
    weight: np.ndarray  # recency-weighted evidence
    two_way: np.ndarray
    last_us: np.ndarray  # microseconds of the latest activity that counts; -2**63 for none
    last_two_way_ts: np.ndarray  # POSIX seconds, NaN for none
    last_weight: np.ndarray
    started: np.ndarray  # conversations started by one side (len(starters) - starters.count(2))
    starter_contact: np.ndarray
    starter_side: np.ndarray
    latency_contact: np.ndarray
    latency_side: np.ndarray
    latency_seconds: np.ndarray


_NO_TIME = np.iinfo(np.int64).min


def _sums(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Per-slot sums, added in array order (``bincount`` is one sequential loop)."""
    return np.bincount(index, weights=values, minlength=size).astype(np.float64, copy=False)


def _counts(index: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(index, minlength=size).astype(np.int64)


def _pairs(contact: np.ndarray, side: np.ndarray, values: np.ndarray | None, n: int) -> np.ndarray:
    index = contact.astype(np.int64) * 2 + side
    if values is None:
        return _counts(index, 2 * n).reshape(n, 2)
    return _sums(index, values, 2 * n).reshape(n, 2)


def _last_per_contact(contact: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(contacts, position of each one's last row) for rows sorted by contact."""
    if contact.size == 0:
        return contact.astype(np.int64), contact.astype(np.int64)
    ends = np.flatnonzero(np.diff(contact)) if contact.size > 1 else np.empty(0, np.int64)
    last = np.append(ends, contact.size - 1)
    return contact[last].astype(np.int64), last


def tally_batch(
    batch: Batch,
    as_ts: float,
    config: ScoringConfig,
    exp: Callable[[np.ndarray], np.ndarray] = exact_exp,
) -> Tallies:
    """Tally every contact of ``batch`` (rows sorted by contact, then the full key).

    ``exp`` computes the recency and latency weights: ``math.exp`` itself by default
    (:func:`exact_exp`); the tests also run ``np.exp`` to bound its difference.
    """
    n = batch.contacts
    decay, latency_decay, gap, window = rates(config)
    ew = config.effort_weight
    part_ew = TAKING_PART_SHARE * ew
    iw = config.initiation_weight
    rw = config.responsiveness_weight
    uw = config.unanswered_weight
    kw = config.commitment_weight
    lw = config.ledger_weight
    half_lw = 0.5 * lw

    channel = batch.channel
    direction = batch.direction
    outcome = batch.outcome
    ts_all = batch.ts
    # if a.automated / channel is task / ts > as_ts: continue
    keep = ~batch.automated & (channel != TASK) & (ts_all <= as_ts)
    # direction unknown on a note: bookkeeping, continue
    side_all = np.full(channel.shape, -1, np.int8)
    side_all[direction == OUTBOUND] = YOU
    side_all[direction == INBOUND] = THEM
    side_all[direction == MUTUAL] = BOTH
    keep &= ~((side_all < 0) & (channel == NOTE))
    planned_channel = (channel == MEETING) | (channel == CALL)
    failed_outcome = np.isin(outcome, FAILED_OUTCOMES)
    # bounced or scheduled: continue; a cancelled or declined email: continue
    keep &= ~np.isin(outcome, SKIPPED_OUTCOMES) & ~(failed_outcome & ~planned_channel)
    rows = np.flatnonzero(keep)

    contact = batch.contact[rows]
    ts = ts_all[rows]
    side = side_all[rows]
    ch = channel[rows]
    tags = batch.tags[rows]
    failed_row = failed_outcome[rows]
    no_answer = outcome[rows] == NO_ANSWER
    planned = planned_channel[rows] & ~no_answer  # an unanswered call is an attempt
    cost = np.ones(rows.size)
    cost[(ch == MEETING) & ~no_answer] = _MEETING_EFFORT
    cost[(ch == CALL) & ~no_answer] = _CALL_EFFORT
    w = exp((ts - as_ts) * decay)

    # the latest activity that counts: every row kept so far sets ``last``
    last_us = np.full(n, _NO_TIME, np.int64)
    who, at = _last_per_contact(contact, n)
    last_us[who] = batch.us[rows][at]

    # -- a meeting or call that did not happen: evidence about commitment only ------------
    by_you = (tags & BY_YOU_BIT) != 0
    by_them = (tags & BY_THEM_BIT) != 0
    culprit = np.where((side == YOU) | (side == THEM), 1 - side, -1).astype(np.int8)
    culprit[by_you & ~by_them] = YOU
    culprit[by_them & ~by_you] = THEM
    blamed = failed_row & (culprit >= 0)
    failed = _pairs(contact[blamed], culprit[blamed], None, n)
    failed_unattributed = _counts(contact[failed_row & (culprit < 0)], n)

    # -- activities that happened -----------------------------------------------------------
    normal = ~failed_row
    cw = cost * w
    engagement = _sums(contact[normal], cw[normal], n)
    evident = normal & (side >= 0)
    evidence_row = evident | blamed
    evidence = _counts(contact[evidence_row], n)
    last_weight = np.zeros(n)
    who, at = _last_per_contact(contact[evidence_row], n)
    last_weight[who] = w[evidence_row][at]

    weight = _sums(contact[evidence_row], w[evidence_row], n)

    closes = evident & ((side == BOTH) | planned)
    one_way = evident & ~closes
    # a failed appointment credits the effort of the side let down: ew * cost * w; a
    # held one with a known side credits its placer ew * cw and the side that took part
    # part_ew * cw; a mutual one both sides ew * cw
    effort_value = np.where(blamed, (ew * cost) * w, ew * cw)
    part_value = part_ew * cw
    taking_part = closes & (side != BOTH)
    effort = np.empty((n, 2))
    for s in (YOU, THEM):
        gets = closes | (one_way & (side == s)) | (blamed & (culprit == 1 - s))
        values = np.where(taking_part & (side != s), part_value, effort_value)
        effort[:, s] = _sums(contact[gets], values[gets], n)
    messages = _pairs(contact[one_way], side[one_way], None, n)
    unanswered_call = one_way & (ch == CALL)  # a call that is not planned: nobody picked up
    calls = _pairs(contact[unanswered_call], side[unanswered_call], None, n)
    held_row = closes & planned
    held = _counts(contact[held_row], n)
    # commitment: only an appointment kept that the other side missed, cancelled or
    # declined (one held by both credits nobody)
    commit_value = kw * w
    commitment = np.empty((n, 2))
    for s in (YOU, THEM):
        gets = blamed & (culprit == 1 - s)
        commitment[:, s] = _sums(contact[gets], commit_value[gets], n)

    # -- conversations ----------------------------------------------------------------------
    conv = np.flatnonzero(evident)  # rows (within ``rows``) that reach the conversation step
    c_contact = contact[conv]
    c_thread = batch.thread[rows][conv]
    c_ts = ts[conv]
    c_w = w[conv]
    c_side = side[conv].astype(np.int64)
    c_closes = closes[conv]
    loose = c_thread < 0
    # each row's predecessor in its conversation key (contact, thread or none)
    key = c_contact * (batch.threads + 1) + (c_thread + 1)
    # by conversation, then history order: one int64 key with the position when it fits
    positioned = sort_key(key, np.arange(conv.size), conv.size)
    order = np.argsort(key, kind="stable") if positioned is None else np.argsort(positioned)
    sorted_key = key[order]
    prev = np.full(conv.size, -1, np.int64)
    same = np.flatnonzero(sorted_key[1:] == sorted_key[:-1])
    prev[order[same + 1]] = order[same]
    has_prev = prev >= 0
    p = np.where(has_prev, prev, 0)
    waited = c_ts - c_ts[p]
    gap_ended = has_prev & loose & (waited > gap)
    new = ~has_prev | gap_ended
    label = np.where(c_closes, BOTH, c_side)
    before = label[p]
    timely = ~new & (before != BOTH) & (before != c_side) & (waited <= window)
    expects = np.where(
        new, ~c_closes, ~timely & ~c_closes & ((before == c_side) | (before == BOTH))
    )
    expected = has_prev & expects[p]  # the predecessor was waiting for a reply
    replier = np.where(c_side != BOTH, c_side, 1 - before)

    # responsiveness: one contribution per row at most, then the open ends
    unanswered_before = ~timely & expected  # followed up, answered too late, or quiet gap
    resp_row = timely | unanswered_before
    resp_slot = np.where(timely, replier, before)
    resp_value = uw * c_w[p]
    resp_value[timely] = rw * exp(-waited[timely] * latency_decay) * c_w[p][timely]
    # conversations still open at the end: the last row of each key
    is_end = np.ones(conv.size, bool)
    is_end[order[same]] = False
    end_rows = np.flatnonzero(is_end & expects)
    overdue = as_ts - c_ts[end_rows] > window
    closing = end_rows[overdue]
    # the reference walks its threads in first-seen order, then the loose conversation
    first_seen = np.zeros(conv.size, np.int64)
    run_start = np.ones(conv.size, bool)
    run_start[same + 1] = False
    starts = order[np.flatnonzero(run_start)]
    owner = np.repeat(starts, np.diff(np.append(np.flatnonzero(run_start), conv.size)))
    first_seen[order] = owner
    end_order = np.lexsort((first_seen[closing], loose[closing], c_contact[closing]))
    closing = closing[end_order]
    resp_contact = np.concatenate((c_contact[resp_row], c_contact[closing]))
    resp_slots = np.concatenate((resp_slot[resp_row], label[closing]))
    resp_values = np.concatenate((resp_value[resp_row], uw * c_w[closing]))
    by_contact = np.argsort(resp_contact, kind="stable")
    responsiveness = _pairs(
        resp_contact[by_contact], resp_slots[by_contact], resp_values[by_contact], n
    )

    c_channel = ch[conv]
    reach_outs = _pairs(c_contact[expects], c_side[expects], None, n)
    email_out = expects & (c_channel == EMAIL)
    call_out = expects & (c_channel == CALL)
    email_reach_outs = _pairs(c_contact[email_out], c_side[email_out], None, n)
    call_reach_outs = _pairs(c_contact[call_out], c_side[call_out], None, n)
    # reach-outs whose reply window is still open: waiting, not judged yet
    still_open = end_rows[~overdue]
    waiting = _pairs(c_contact[still_open], label[still_open], None, n)
    reach_outs -= waiting
    for kind, counts in ((EMAIL, email_reach_outs), (CALL, call_reach_outs)):
        of_kind = still_open[c_channel[still_open] == kind]
        counts -= _pairs(c_contact[of_kind], label[of_kind], None, n)
    replies = _pairs(c_contact[timely], replier[timely], None, n)
    answered_row = timely & expected
    answered = _pairs(c_contact[answered_row], before[answered_row], None, n)
    late_row = unanswered_before & ~new & (before != c_side) & (before != BOTH)
    late = _pairs(c_contact[late_row], replier[late_row], None, n)
    # who started what, in history order: new conversations, and failed appointments
    # (whoever set one up started a conversation, whatever became of it)
    set_up = failed_row & ((side == YOU) | (side == THEM))
    starter_rows = np.concatenate((conv[new], np.flatnonzero(set_up)))
    starter_rows.sort()  # positions in ``rows``: contact, then history order
    starter_side = side[starter_rows].astype(np.int64)
    starter_contact = contact[starter_rows]
    one_side = starter_side != BOTH
    initiation = _pairs(
        starter_contact[one_side], starter_side[one_side], iw * w[starter_rows][one_side], n
    )
    started = _counts(starter_contact[one_side], n)
    two_way_row = c_closes | (timely & ~c_closes)
    two_way = _counts(c_contact[two_way_row], n)
    last_two_way_ts = np.full(n, np.nan)
    who, at = _last_per_contact(c_contact[two_way_row], n)
    last_two_way_ts[who] = c_ts[two_way_row][at]

    # the ledger: tagged give/ask of one side
    tagged = evident & (side != BOTH) & ((tags & TAGGED_BIT) != 0)
    gives_row = tagged & ((tags & GIVE_BIT) != 0)
    asks_row = tagged & ((tags & ASK_BIT) != 0)
    side64 = side.astype(np.int64)
    gives = _pairs(contact[gives_row], side64[gives_row], None, n)
    asks = _pairs(contact[asks_row], side64[asks_row], None, n)
    ledger_index = np.concatenate(
        (
            contact[gives_row].astype(np.int64) * 2 + side64[gives_row],
            contact[asks_row].astype(np.int64) * 2 + (1 - side64[asks_row]),
        )
    )
    ledger_values = np.concatenate((lw * w[gives_row], half_lw * w[asks_row]))
    # in row order, the give of a row before its ask (as the reference adds them)
    ledger_rows = np.concatenate((np.flatnonzero(gives_row), np.flatnonzero(asks_row)))
    ledger_order = np.lexsort((np.repeat([0, 1], [gives_row.sum(), asks_row.sum()]), ledger_rows))
    ledger = _sums(ledger_index[ledger_order], ledger_values[ledger_order], 2 * n).reshape(n, 2)

    latency_row = timely & expected
    return Tallies(
        effort=effort,
        initiation=initiation,
        responsiveness=responsiveness,
        commitment=commitment,
        ledger=ledger,
        engagement=engagement,
        messages=messages,
        calls=calls,
        reach_outs=reach_outs,
        waiting=waiting,
        call_reach_outs=call_reach_outs,
        email_reach_outs=email_reach_outs,
        answered=answered,
        replies=replies,
        late=late,
        held=held,
        failed=failed,
        failed_unattributed=failed_unattributed,
        gives=gives,
        asks=asks,
        evidence=evidence,
        weight=weight,
        two_way=two_way,
        last_us=last_us,
        last_two_way_ts=last_two_way_ts,
        last_weight=last_weight,
        started=started,
        starter_contact=starter_contact,
        starter_side=starter_side,
        latency_contact=c_contact[latency_row],
        latency_side=replier[latency_row],
        latency_seconds=waited[latency_row],
    )


def tally_in_parts(
    batch: Batch,
    as_ts: float,
    config: ScoringConfig,
    exp: Callable[[np.ndarray], np.ndarray] = exact_exp,
    part_rows: int = PART_ROWS,
) -> Tallies:
    """:func:`tally_batch` over runs of whole contacts of about ``part_rows`` rows each.

    Contacts are independent, so the parts' results are simply put end to end; what
    this saves is memory (and cache misses): the tally's temporaries are as long as a
    part, not as the input.
    """
    rows = batch.contact.size
    if rows <= part_rows:
        return tally_batch(batch, as_ts, config, exp)
    starts = np.searchsorted(batch.contact, np.arange(batch.contacts + 1))
    cuts = np.unique(np.searchsorted(starts, np.arange(part_rows, rows, part_rows)))
    bounds = [0, *[int(k) for k in cuts if 0 < k < batch.contacts], batch.contacts]
    parts = []
    for k0, k1 in itertools.pairwise(bounds):
        r0, r1 = int(starts[k0]), int(starts[k1])
        part = Batch(
            contact_ids=batch.contact_ids[k0:k1],
            contact=batch.contact[r0:r1] - k0,
            us=batch.us[r0:r1],
            ts=batch.ts[r0:r1],
            channel=batch.channel[r0:r1],
            direction=batch.direction[r0:r1],
            outcome=batch.outcome[r0:r1],
            thread=batch.thread[r0:r1],
            threads=batch.threads,
            automated=batch.automated[r0:r1],
            tags=batch.tags[r0:r1],
            order=batch.order[r0:r1],
            activity_count=batch.activity_count[k0:k1],
        )
        t = tally_batch(part, as_ts, config, exp)
        t.starter_contact = t.starter_contact + k0
        t.latency_contact = t.latency_contact + k0
        parts.append(t)
    return Tallies(
        **{
            field.name: np.concatenate([getattr(t, field.name) for t in parts])
            for field in dataclasses.fields(Tallies)
        }
    )
