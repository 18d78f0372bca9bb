"""The columnar engine against the reference core, field by field, on generated histories.

Histories are built to reach the corners of the model: several contacts sharing
thread ids, activities at the same instant, gaps and reply delays exactly at the
configured quiet gap and reply window, future, bounced, automated and unattributed
activities, every channel, direction, outcome and tag, random valid configurations
and ``as_of``.

Checked for every contact:

* the score object the engine builds equals the core's (``==`` over every field:
  score, lean, strength, band, confidence, reasons, components, counts, times);
* the published numbers the engine computes as columns (what the sync diffs and the
  scores file gets) equal the core's;
* raw tallies: bit for bit (the engine's weights are ``math.exp``'s). With ``np.exp``
  weights instead, whose AVX-512 code differs from ``math.exp`` in the last bit for
  ~5 % of inputs, they stay within 1e-12 relative; but a last bit can decide a
  rounding step or the order of two reasons (found by these tests: reasons are ordered
  by comparing signals' imbalances), which is why the engine does not use it.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

np = pytest.importorskip("numpy")
pytest.importorskip("pyarrow")

from mutuality_columnar import score_valid  # noqa: E402
from mutuality_columnar.codes import activities_table, encode  # noqa: E402
from mutuality_columnar.tally import exact_exp, tally_batch, tally_in_parts  # noqa: E402

from mutuality_core import Activity, ScoringConfig, score_activities  # noqa: E402
from mutuality_core.config import _RANGES  # noqa: E402
from mutuality_core.scoring import _full_key  # noqa: E402
from mutuality_core.scoring.tally import tally as core_tally  # noqa: E402

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
CHANNELS = ["email", "call", "meeting", "message", "note", "task", "other"]
DIRECTIONS = ["outbound", "inbound", "mutual", "unknown"]
OUTCOMES = [
    "completed", "scheduled", "no_show", "canceled", "declined", "bounced", "no_answer",
    "unknown",
]  # fmt: skip
TAGS = ["ask", "give", "by_you", "by_them", "by:you", "by-them", "other"]
RELATIVE = 1e-12
EXAMPLES = settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))

FLOAT_FIELDS = ("effort", "initiation", "responsiveness", "commitment", "ledger")
COUNT_FIELDS = (
    "messages", "calls", "reach_outs", "waiting", "call_reach_outs", "email_reach_outs",
    "answered", "replies", "late", "failed", "gives", "asks",
)  # fmt: skip


@st.composite
def configs(draw) -> ScoringConfig:
    """Any valid configuration; the windows in whole hours so boundaries can be hit exactly."""
    if draw(st.booleans()):
        return ScoringConfig()
    values = {}
    for name, (low, high, low_ok, _) in _RANGES.items():
        if name == "recent_conversations":
            values[name] = draw(st.integers(1, 20))
        elif name in ("quiet_gap_days", "reply_window_days"):
            values[name] = draw(st.integers(1, 24 * 20)) / 24.0
        elif high <= 1.0:
            values[name] = draw(st.floats(low, high))
        else:
            # the lowest itself (where allowed) or from 0.01 above it: the core fails on
            # subnormal settings (a half-life of 5e-324 days gives NaN in judge, a weight
            # of 5e-324 an infinite ratio in the reasons), which no real setting has
            above = st.floats(low + 0.01, min(high, 50.0))
            values[name] = draw(st.one_of(st.just(low), above) if low_ok else above)
    low, high = sorted((values["one_sided_max_probability"], values["mutual_min_probability"]))
    if low == high:
        low, high = 0.2, 0.8
    values["one_sided_max_probability"], values["mutual_min_probability"] = low, high
    return ScoringConfig(**values)


@st.composite
def crms(draw, config: ScoringConfig):
    """Activities of a few contacts, on a time grid that makes exact boundaries likely."""
    steps = [
        config.reply_window_days * 86400.0,
        config.quiet_gap_days * 86400.0,
        3600.0,
        86400.0,
        1.0,
    ]
    contacts = draw(st.integers(1, 4))
    count = draw(st.integers(0, 40))
    activities = []
    for i in range(count):
        step = draw(st.sampled_from(steps))
        seconds = draw(st.integers(-3, 60)) * step + draw(st.sampled_from([0, 0, 0, 1, 7200]))
        tags = draw(st.sets(st.sampled_from(TAGS), max_size=3))
        activities.append(
            Activity(
                id=draw(st.sampled_from([f"a{i}", "shared"])),
                contact_id=f"c{draw(st.integers(0, contacts - 1))}",
                occurred_at=AS_OF - timedelta(seconds=seconds),
                channel=draw(st.sampled_from(CHANNELS)),
                direction=draw(st.sampled_from(DIRECTIONS)),
                outcome=draw(st.sampled_from(OUTCOMES)),
                thread_id=draw(st.sampled_from([None, None, "t0", "t1", "t2"])),
                duration_seconds=draw(st.sampled_from([None, 60.0, 0.0])),
                automated=draw(st.sampled_from([False, False, False, True])),
                tags=tags,
            )
        )
    # (contact, id) pairs are unique in real inputs (the files adapter rejects repeats)
    unique = {(a.contact_id, a.id): a for a in activities}
    return list(unique.values())


@st.composite
def cases(draw):
    config = draw(configs())
    activities = draw(crms(config))
    as_of = AS_OF + timedelta(seconds=draw(st.sampled_from([0, 1, -3600, 86400 * 3])))
    return config, activities, as_of


def _reference_tallies(activities, as_of, config):
    by_contact: dict[str, list[Activity]] = {}
    for a in activities:
        by_contact.setdefault(a.contact_id, []).append(a)
    return {
        cid: core_tally(sorted(history, key=_full_key), as_of.timestamp(), config)
        for cid, history in sorted(by_contact.items())
    }


def _assert_published(scored, expected) -> None:
    v = scored.verdicts
    bands = scored.band_values()
    objects = [scored.score(k) for k in range(len(scored))]
    assert objects == expected
    for k, score in enumerate(expected):
        assert (v.score[k], v.lean[k], v.strength[k], v.confidence[k], bands[k]) == (
            score.score,
            score.lean,
            score.strength,
            score.confidence,
            score.band.value,
        ), score.contact_id


@EXAMPLES
@given(cases())
def test_every_published_field_equals_the_core(case):
    config, activities, as_of = case
    expected = list(score_activities(activities, as_of=as_of, config=config))
    scored = score_valid(activities_table(activities), as_of=as_of, config=config)
    assert scored.contact_ids == [s.contact_id for s in expected]
    _assert_published(scored, expected)


@EXAMPLES
@given(cases())
def test_raw_tallies_bit_for_bit_with_math_exp_and_within_tolerance_with_np_exp(case):
    config, activities, as_of = case
    reference = _reference_tallies(activities, as_of, config)
    batch = encode(activities_table(activities))
    exact = tally_batch(batch, as_of.timestamp(), config, exp=exact_exp)
    fast = tally_batch(batch, as_of.timestamp(), config, exp=np.exp)
    # in parts of whole contacts (what large inputs use): the same arrays end to end
    parts = tally_in_parts(batch, as_of.timestamp(), config, part_rows=3)
    for field in dataclasses.fields(exact):
        assert np.array_equal(
            getattr(parts, field.name), getattr(exact, field.name), equal_nan=True
        ), field.name
    assert batch.contact_ids == list(reference)
    for k, t in enumerate(reference.values()):
        for name in FLOAT_FIELDS:
            assert getattr(exact, name)[k].tolist() == getattr(t, name), name
            for got, want in zip(getattr(fast, name)[k].tolist(), getattr(t, name), strict=True):
                assert got == pytest.approx(want, rel=RELATIVE, abs=0.0), name
        for name in COUNT_FIELDS:
            assert getattr(exact, name)[k].tolist() == getattr(t, name), name
        assert exact.engagement[k] == t.engagement
        assert fast.engagement[k] == pytest.approx(t.engagement, rel=RELATIVE, abs=0.0)
        assert exact.last_weight[k] == t.last_weight
        assert exact.weight[k] == t.weight
        assert (exact.held[k], exact.failed_unattributed[k]) == (t.held, t.failed_unattributed)
        assert (exact.evidence[k], exact.two_way[k]) == (t.evidence, t.two_way)
        assert exact.started[k] == len(t.starters) - t.starters.count(2)
        last = None if t.last_two_way_ts is None else t.last_two_way_ts
        got = exact.last_two_way_ts[k]
        assert (None if math.isnan(got) else got) == last


def test_numpy_exp_and_math_exp_may_differ_in_the_last_bit_only() -> None:
    """On AVX-512 machines ``np.exp`` differs from ``math.exp`` for a few % of inputs, by an
    ulp at most; the engine's ``exact_exp`` is ``math.exp`` itself, bit for bit."""
    x = -np.random.default_rng(7).random(200_000) * 20.0
    reference = np.array([math.exp(v) for v in x.tolist()])
    assert exact_exp(x).tolist() == reference.tolist()
    fast = np.exp(x)
    ulps = np.abs(fast.view(np.int64) - reference.view(np.int64))
    assert ulps.max() <= 1
    # a published rounding step is never decided by it: 1e-12 is ~4,500 ulps
    assert np.all(np.abs(fast - reference) <= RELATIVE * reference)


def test_same_instant_ties_settle_by_the_full_key_whatever_the_input_order() -> None:
    moment = AS_OF - timedelta(days=2)
    base = [
        Activity("b", "c1", moment, "email", "inbound", thread_id="t"),
        Activity("a", "c1", moment, "email", "outbound", thread_id="t"),
        Activity("a", "c2", moment, "email", "outbound", thread_id="t"),
        Activity("c", "c1", moment, "meeting", "mutual"),
        Activity("d", "c2", moment + timedelta(hours=1), "email", "inbound", thread_id="t"),
    ]
    expected = list(score_activities(base, as_of=AS_OF))
    for rotation in range(len(base)):
        shuffled = base[rotation:] + base[:rotation]
        scored = score_valid(activities_table(shuffled), as_of=AS_OF)
        _assert_published(scored, expected)


def test_balance_probability_on_arrays_is_the_core_function_bit_for_bit() -> None:
    """Posterior parameters from no evidence to a million units, both sides, many ratios."""
    from mutuality_columnar.verdict import balanced_probability

    from mutuality_core.scoring.balance import balanced_probability as reference

    rng = np.random.default_rng(11)
    a = np.concatenate(([1.0, 1.0, 2.0, 1e6], 1.0 + rng.exponential(30.0, 3000)))
    b = np.concatenate(([1.0, 1e6, 1.0, 1e6], 1.0 + rng.exponential(30.0, 3000)))
    a = np.concatenate((a, 1.0 + rng.random(500) * 0.01, a[:500]))
    b = np.concatenate((b, b[:500], 1.0 + rng.random(500) * 0.01))
    for low in (1.0 / 3.0, 1.0 / 1.5, 1.0 / 101.0):
        got = balanced_probability(a, b, low).tolist()
        assert got == [reference(x, y, low) for x, y in zip(a.tolist(), b.tolist(), strict=True)]


def test_a_seeded_benchmark_crm_scores_identically() -> None:
    """The benchmark's own generator (benchmarks/bench_core.py), seeded, at a test size."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "benchmarks" / "bench_core.py"
    spec = importlib.util.spec_from_file_location("bench_core_for_test", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    activities = bench.build(400, 12_000, 20260601)
    expected = list(score_activities(activities, as_of=bench.AS_OF, engine="python"))
    scored = score_valid(activities_table(activities), as_of=bench.AS_OF)
    _assert_published(scored, expected)
