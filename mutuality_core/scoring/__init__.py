"""Score how mutual relationships are: the public entry points of the scoring core.

``score_contact`` scores one contact's history; ``score_activities`` groups a flat,
unordered stream of activities by contact and scores each. Both need ``as_of``: the
core never reads the clock, so the same history and ``as_of`` always give the same
score, on any machine, in any order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from operator import attrgetter

from mutuality_core.config import ScoringConfig
from mutuality_core.construct import trusted_score
from mutuality_core.engines import PYTHON, check_engine_choice, select_engine
from mutuality_core.explain import build_reasons
from mutuality_core.model import Activity, MutualityScore
from mutuality_core.scoring.tally import Tally, tally
from mutuality_core.scoring.verdict import Verdict, judge
from mutuality_core.timestamps import check_as_of

__all__ = ["ALGORITHM_VERSION", "score_activities", "score_contact"]

#: Written next to every score so a change of model is visible in the CRM.
ALGORITHM_VERSION = "mutuality-2.0"

logger = logging.getLogger(__name__)

_DEFAULT_CONFIG = ScoringConfig()
# Activity._ts is occurred_at.timestamp(), stored when the activity is built: equal
# instants give equal floats, and a later instant never a smaller float, so this order
# is the datetime order; instants that share a float are ties, which the tally reports
# and _full_key (datetime first) then settles exactly as before.
_BY_TIME = attrgetter("_ts")
_BLOCK = 1024  # activities grouped per block (see _score_groups)
_BATCH = 32  # contacts scored together (see _score_batch)


def _full_key(a: Activity) -> tuple[object, ...]:
    """A total order for activities, used when some share the same instant.

    Input order must never matter, so every field takes part, direction included: a
    pair that differs only by inbound/outbound is a contradiction in the source, and
    for it order independence wins over mirror symmetry (see docs/scoring.md, Limits).
    """
    return (
        a.occurred_at,
        a.id,
        a.channel.value,
        a.direction.value,
        a.outcome.value,
        a.thread_id or "",
        -1.0 if a.duration_seconds is None else a.duration_seconds,
        a.automated,
        tuple(sorted(a.tags)),
    )


def _tally_sorted(history: list[Activity], as_ts: float, config: ScoringConfig) -> Tally:
    """Sort one contact's ``history`` in place and tally it."""
    history.sort(key=_BY_TIME)
    t = tally(history, as_ts, config)
    if t.ties:  # rare: activities at the same instant, whose input order must not matter
        history.sort(key=_full_key)
        t = tally(history, as_ts, config)
    return t


def _score_sorted(
    contact_id: str,
    history: list[Activity],
    as_of: datetime,
    as_ts: float,
    config: ScoringConfig,
) -> MutualityScore:
    """Score one contact (its ``history`` is sorted in place)."""
    t = _tally_sorted(history, as_ts, config)
    return _result(contact_id, history, t, judge(t, as_ts, config), as_of, config)


def _score_batch(
    batch: list[tuple[str, list[Activity]]],
    as_of: datetime,
    as_ts: float,
    config: ScoringConfig,
) -> Iterator[MutualityScore]:
    """Score a few contacts, one step for all of them at a time.

    Tallying every contact of the batch, then judging every one, then writing their
    reasons runs each step's code many times in a row: CPython's interpreter and the
    processor's caches and branch predictors stay warm on it, which makes the whole
    about a fifth faster than taking each contact through every step in turn (see
    docs/performance.md). The results are the same.
    """
    tallies = [_tally_sorted(history, as_ts, config) for _, history in batch]
    verdicts = [judge(t, as_ts, config) for t in tallies]
    for (contact_id, history), t, v in zip(batch, tallies, verdicts, strict=True):
        yield _result(contact_id, history, t, v, as_of, config)


def _result(
    contact_id: str,
    history: list[Activity],
    t: Tally,
    v: Verdict,
    as_of: datetime,
    config: ScoringConfig,
) -> MutualityScore:
    # by position, in trusted_score's order (this runs once per contact)
    return trusted_score(
        contact_id,
        v.score,
        v.lean,
        v.strength,
        v.band,
        v.confidence,
        build_reasons(t, v, config),
        v.components,
        ALGORITHM_VERSION,
        as_of,
        len(history),
        t.last_at,
    )


def score_contact(
    activities: Iterable[Activity],
    *,
    as_of: datetime,
    config: ScoringConfig | None = None,
    contact_id: str | None = None,
) -> MutualityScore:
    """Score one contact's history as of ``as_of``.

    ``activities`` may come in any order. ``contact_id`` is required when there are
    none (the result is then ``insufficient_data``). Raises ValueError when the
    activities belong to several contacts, or to another contact than ``contact_id``.
    """
    as_ts = check_as_of(as_of)
    history = list(activities)
    ids = {a.contact_id for a in history}
    if contact_id is not None:
        ids.add(contact_id)
    if not ids:
        raise ValueError("contact_id is required when there are no activities to score")
    if len(ids) > 1:
        shown = ", ".join(sorted(ids)[:5])
        raise ValueError(
            f"score_contact scores one contact but got activities of {len(ids)}: {shown}; "
            "use score_activities to score several"
        )
    (only,) = ids
    return _score_sorted(only, history, as_of, as_ts, config or _DEFAULT_CONFIG)


def score_activities(
    activities: Iterable[Activity],
    *,
    as_of: datetime,
    config: ScoringConfig | None = None,
    engine: str = "auto",
) -> Iterator[MutualityScore]:
    """Score every contact that has activities, one score each, in contact_id order.

    ``as_of`` is checked at once; the activities are read when iteration starts.
    ``engine``: ``"python"`` (this reference), an installed engine's name such as
    ``"columnar"``, or ``"auto"``: an installed engine for large inputs (see
    :mod:`mutuality_core.engines`); the scores are the same either way.
    """
    as_ts = check_as_of(as_of)
    config = config or _DEFAULT_CONFIG
    if engine == PYTHON:
        return _score_groups(activities, as_of, as_ts, config)
    check_engine_choice(engine)
    return _score_with_engine(activities, as_of, as_ts, config, engine)


def _score_with_engine(
    activities: Iterable[Activity],
    as_of: datetime,
    as_ts: float,
    config: ScoringConfig,
    choice: str,
) -> Iterator[MutualityScore]:
    history = activities if isinstance(activities, (list, tuple)) else list(activities)
    chosen = select_engine(choice, len(history))
    if chosen is None:
        yield from _score_groups(history, as_of, as_ts, config)
    else:
        logger.debug("scoring %d activities with the %s engine", len(history), chosen.name)
        yield from chosen.score_activities(history, as_of=as_of, config=config)


def _group_by_contact(groups: dict[str, list[Activity]], activities: Iterable[Activity]) -> None:
    """Append each activity to its contact's list in ``groups`` (the order is kept)."""
    get = groups.get
    for a in activities:
        cid = a.contact_id
        group = get(cid)
        if group is None:
            groups[cid] = [a]
        else:
            group.append(a)


def _score_groups(
    activities: Iterable[Activity], as_of: datetime, as_ts: float, config: ScoringConfig
) -> Iterator[MutualityScore]:
    groups: dict[str, list[Activity]] = {}
    stream = iter(activities)
    # Taken in blocks: copying a block touches its activities in one C loop, where the
    # processor overlaps the cache misses that a shuffled million-object input costs;
    # the Python loop below then finds them in the cache (a quarter less time).
    while block := list(islice(stream, _BLOCK)):
        _group_by_contact(groups, block)
    logger.debug("scoring %d contacts as of %s", len(groups), as_of.isoformat())
    ids = sorted(groups)
    for start in range(0, len(ids), _BATCH):
        batch = [(cid, groups.pop(cid)) for cid in ids[start : start + _BATCH]]
        yield from _score_batch(batch, as_of, as_ts, config)
