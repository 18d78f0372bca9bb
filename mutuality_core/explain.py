"""Reasons a person can check: short sentences with counts, built only from a tally's totals.

Each sentence about one side is produced by the same template for both sides, so a
mirrored history yields the mirrored sentences ("You started ..." becomes "They
started ..."). Reasons are ordered by how much their signal moves the score; ties
keep a fixed signal order, so the order is deterministic.

How the reasons fit one CRM text field (``join_reasons``, ``MAX_REASONS_TEXT``) lives in
:mod:`mutuality_core.reasons_text`; both names stay importable from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mutuality_core.model import Band
from mutuality_core.reasons_text import MAX_REASONS_TEXT, REASONS_SEPARATOR, join_reasons

if TYPE_CHECKING:
    from mutuality_core.config import ScoringConfig
    from mutuality_core.scoring.tally import Tally
    from mutuality_core.scoring.verdict import Verdict

__all__ = ["MAX_REASONS_TEXT", "build_reasons", "format_duration", "join_reasons"]

_PLANNED = ("planned meeting or call", "planned meetings or calls")

_SUBJECT = ("You", "They")
_SUBJECT_LOWER = ("you", "they")
_POSSESSIVE = ("your", "their")


def format_duration(seconds: float) -> str:
    """A reply delay as people say it: "40 minutes", "6 hours", "3 days"."""
    if seconds < 3600.0:
        minutes = max(1, round(seconds / 60.0))
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    if seconds < 48 * 3600.0:
        hours = round(seconds / 3600.0)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    days = round(seconds / 86400.0)
    return f"{days} days"


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2.0


def _times(n: int) -> str:
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _initiation(t: Tally, recent: int) -> str | None:
    started = [s for s in t.starters if s != 2]
    if not started:
        return None
    window = started[-recent:]
    n = len(window)
    counts = (window.count(0), window.count(1))
    scope = f"the last {n}" if len(started) > n else ("the only" if n == 1 else f"{n}")
    noun = "conversation" if n == 1 else "conversations"
    if n == 1:
        return f"{_SUBJECT[0 if counts[0] else 1]} started the only conversation"
    if counts[0] == counts[1]:
        return f"Each side started {counts[0]} of {scope} {noun}"
    lead = 0 if counts[0] > counts[1] else 1
    return f"{_SUBJECT[lead]} started {counts[lead]} of {scope} {noun}"


def _reach_out_noun(t: Tally, side: int) -> tuple[str, str, str]:
    """What ``side``'s reach-outs were, by channel: (verb, singular, plural)."""
    asked = t.reach_outs[side]
    calls = t.call_reach_outs[side]
    if calls == asked:
        return "answered", "call", "calls"
    if calls == 0:
        if t.email_reach_outs[side] == asked:
            return "replied to", "email", "emails"
        return "replied to", "message", "messages"
    return "replied to", "message or call", "messages and calls"


def _reply_clause(t: Tally, side: int, subject: str) -> str:
    other = 1 - side
    asked = t.reach_outs[other]
    got = t.answered[other]
    verb, one, many = _reach_out_noun(t, other)
    if asked == 1:
        done = verb if got else _NOT_DONE[verb]
        text = f"{subject} {done} {_POSSESSIVE[other]} only {one}"
    else:
        text = f"{subject} {verb} {got or 'none'} of {_POSSESSIVE[other]} {asked} {many}"
    waiting = t.waiting[other]
    latencies = t.latencies[side]
    late = t.late[side]
    late_text = f"{late} late {'reply' if late == 1 else 'replies'}"
    notes = []
    if latencies:
        notes.append(f"median {format_duration(_median(latencies))}")
    if late:
        notes.append(late_text)
    if waiting:
        notes.append(f"{waiting} more too recent to judge")
    if notes:
        text += f" ({', '.join(notes)})"
    return text


_NOT_DONE = {"answered": "did not answer", "replied to": "did not reply to"}


def _responsiveness(t: Tally) -> str | None:
    reach, answered = t.reach_outs, t.answered
    if reach[0] and reach[1]:
        # the side that answers the smaller share comes first; an exact tie puts "they" first
        if answered[1] * reach[0] < answered[0] * reach[1]:
            return f"{_reply_clause(t, 0, 'You')}, while {_reply_clause(t, 1, 'they')}"
        return f"{_reply_clause(t, 1, 'They')}, while {_reply_clause(t, 0, 'you')}"
    if reach[0]:
        return _reply_clause(t, 1, "They")
    if reach[1]:
        return _reply_clause(t, 0, "You")
    return None


def _commitment(t: Tally) -> str | None:
    planned = t.held + t.failed[0] + t.failed[1] + t.failed_unattributed
    if planned == 0:
        return None
    if t.failed[0] == 0 and t.failed[1] == 0:
        if t.failed_unattributed:
            return f"{t.held} of {_plural(planned, *_PLANNED)} held"
        return f"{_plural(t.held, 'meeting or call', 'meetings or calls')} held, none missed"
    order = sorted((s for s in (0, 1) if t.failed[s]), key=lambda s: -t.failed[s])
    clauses = []
    for i, side in enumerate(order):
        subject = (_SUBJECT if i == 0 else _SUBJECT_LOWER)[side]
        clauses.append(
            f"{subject} missed, cancelled or declined {t.failed[side]} of "
            f"{_plural(planned, *_PLANNED)}"
        )
    return REASONS_SEPARATOR.join(clauses)


def _effort(t: Tally) -> str | None:
    counts = t.messages
    total = counts[0] + counts[1]
    if total == 0:
        return None
    calls = t.calls[0] + t.calls[1]
    if calls == 0:
        verb, one, many = "sent", "message", "messages"
    elif calls == total:
        verb, one, many = "made", "unanswered call", "unanswered calls"
    else:
        verb, one, many = "sent or made", "message or call", "messages and unanswered calls"
    if counts[0] == counts[1]:
        return f"Each side {verb} {counts[0]} {one if counts[0] == 1 else many}"
    lead = 0 if counts[0] > counts[1] else 1
    if total == 1:
        return f"{_SUBJECT[lead]} {verb} the only {one}"
    if counts[1 - lead] == 0:
        return f"{_SUBJECT[lead]} {verb} all {total} {many}"
    return f"{_SUBJECT[lead]} {verb} {counts[lead]} of the {total} {many}"


def _balance(v: Verdict) -> str | None:
    """The balance in one plain sentence: who does how much for the other's every unit."""
    you, them = v.credits
    if you <= 0.0 and them <= 0.0:
        return None
    if you <= 0.0 or them <= 0.0:
        return f"Only {_SUBJECT_LOWER[0 if them <= 0.0 else 1]} have invested so far"
    less = 0 if you < them else 1
    ratio = (them / you) if less == 0 else (you / them)
    if ratio < 1.25:
        return "Both sides invest about equally"
    if ratio < 1.75:
        return f"{_SUBJECT[less]} do about 2 for every 3 of {_POSSESSIVE_ALONE[1 - less]}"
    if ratio >= 100.0:  # also keeps an overflowing ratio (tiny, very old credits) out of round()
        return f"{_SUBJECT[less]} do less than 1 for every 100 of {_POSSESSIVE_ALONE[1 - less]}"
    return f"{_SUBJECT[less]} do about 1 for every {round(ratio)} of {_POSSESSIVE_ALONE[1 - less]}"


_POSSESSIVE_ALONE = ("yours", "theirs")


def _ledger(t: Tally) -> str | None:
    asks, gives = t.asks, t.gives
    if not (asks[0] or asks[1] or gives[0] or gives[1]):
        return None
    you = f"asked {_times(asks[0])} and gave {_times(gives[0])}"
    them = f"asked {_times(asks[1])} and gave {_times(gives[1])}"
    # the side that takes more comes first; a tie puts "you" first
    if asks[1] - gives[1] > asks[0] - gives[0]:
        return f"They {them}, while you {you}"
    return f"You {you}, while they {them}"


def _days(days: float) -> str:
    whole = int(days)
    return "today" if whole <= 0 else ("1 day ago" if whole == 1 else f"{whole} days ago")


def _no_two_way(t: Tally, config: ScoringConfig) -> str:
    late = t.late[0] + t.late[1]
    if late:
        window = f"{config.reply_window_days:g}"
        return (
            f"Only late replies so far ({late} after more than {window} "
            f"day{'' if window == '1' else 's'})"
        )
    return "No two-way exchange yet"


def build_reasons(t: Tally, v: Verdict, config: ScoringConfig) -> tuple[str, ...]:
    """The reasons for one score, most important first."""
    reasons: list[str] = []
    if v.band is Band.INSUFFICIENT_DATA:
        if t.evidence == 0:
            reasons.append("No two-sided activity to go on")
        else:
            reasons.append(
                "Not enough evidence yet to call it "
                f"({_plural(t.evidence, 'activity', 'activities')})"
            )
    elif v.band is Band.DORMANT and v.days_since_last is not None:
        reasons.append(f"No activity for {int(v.days_since_last)} days")
    balance = _balance(v)
    if balance:
        reasons.append(balance)

    texts = (
        _initiation(t, config.recent_conversations),
        _responsiveness(t),
        _commitment(t),
        _effort(t),
        _ledger(t),
    )  # in SIGNALS order, like v.imbalance
    # most imbalanced signal first; sorted() is stable, so ties keep the SIGNALS order
    ranked = [
        text
        for i in sorted(range(5), key=v.imbalance.__getitem__, reverse=True)
        if (text := texts[i])
    ]
    # recency comes right after the two strongest signals: the least telling reasons sit
    # at the end, where join_reasons drops them first when the CRM field is full
    reasons.extend(ranked[:2])
    if v.days_since_two_way is not None:
        reasons.append(f"Last two-way exchange {_days(v.days_since_two_way)}")
    elif t.evidence:
        reasons.append(_no_two_way(t, config))
    reasons.extend(ranked[2:])
    return tuple(reasons)
