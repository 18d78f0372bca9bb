"""Reasons built from the engine's arrays equal the core's, without building score objects.

``ScoredBatch.reasons`` (used by ``to_table``, the files writer and Spark partitions)
rebuilds each contact's core ``Tally`` from the arrays and runs the core's own
``build_reasons`` on it with a ``Verdict`` made from the engine's verdict arrays;
checked here against ``score_activities`` on the differential test's generated
histories, for all contacts and for chosen ones, and that ``Verdict`` against the core
``judge``'s own, field by field. A whole score object (``ScoredBatch.score``, what the
sync writes) is built from that ``Verdict`` with its components, without ``judge``.
"""

from __future__ import annotations

import pytest
from hypothesis import given

pytest.importorskip("numpy")
pytest.importorskip("pyarrow")

from mutuality_columnar import score_valid
from mutuality_columnar.codes import activities_table
from mutuality_columnar.results import PendingScore

from mutuality_core import score_activities
from mutuality_core.explain import build_reasons
from mutuality_core.reasons_text import join_reasons
from mutuality_core.scoring.verdict import Verdict, judge

from .test_differential import EXAMPLES, _reference_tallies, cases


@EXAMPLES
@given(cases())
def test_reasons_from_the_arrays_are_the_core_reasons(case):
    config, activities, as_of = case
    expected = list(score_activities(activities, as_of=as_of, config=config))
    scored = score_valid(activities_table(activities), as_of=as_of, config=config)
    assert list(scored.reasons()) == [s.reasons for s in expected]
    assert scored.reason_texts() == [join_reasons(s.reasons) for s in expected]
    backwards = list(range(len(expected)))[::-1]  # chosen contacts, in any order
    assert list(scored.reasons(backwards)) == [expected[k].reasons for k in backwards]
    assert [scored.tally(k).last_at for k in backwards] == [
        expected[k].last_activity_at for k in backwards
    ]
    if expected:
        assert scored.algorithm == expected[0].algorithm


@EXAMPLES
@given(cases())
def test_the_verdict_made_from_the_arrays_is_the_core_judges(case):
    """Every field but the components (left to ``judge`` when a score object is built)
    equals the core's: the same floating-point operations, bit for bit."""
    config, activities, as_of = case
    reference = _reference_tallies(activities, as_of, config)
    scored = score_valid(activities_table(activities), as_of=as_of, config=config)
    assert scored.contact_ids == list(reference)
    made = list(scored.core_verdicts())
    assert len(made) == len(reference)
    for k, (cid, t) in enumerate(reference.items()):
        want = judge(t, as_of.timestamp(), config)
        got = made[k]
        assert got.components == ()
        for field in Verdict.__slots__:
            if field != "components":
                assert getattr(got, field) == getattr(want, field), (cid, field)
        assert scored.verdict(k).credits == want.credits
        # the reasons of the core's own verdict and of the one made from the arrays
        assert build_reasons(t, got, config) == build_reasons(t, want, config), cid


@EXAMPLES
@given(cases())
def test_the_score_objects_made_from_the_arrays_are_the_cores(case):
    """Components included (value, weight, lean, evidence, detail of every signal and of
    engagement): every field of every contact's score object equals ``score_activities``'s,
    and each component prints the same (``-0.0`` or ``3.0`` for ``3`` would not)."""
    config, activities, as_of = case
    expected = list(score_activities(activities, as_of=as_of, config=config))
    reference = _reference_tallies(activities, as_of, config)
    scored = score_valid(activities_table(activities), as_of=as_of, config=config)
    pending = scored.pending()
    assert all(isinstance(p, PendingScore) for p in pending)
    built = [p.build() for p in pending]
    assert built == expected
    assert [repr(s.components) for s in built] == [repr(s.components) for s in expected]
    for k, t in enumerate(reference.values()):
        want = judge(t, as_of.timestamp(), config)
        got = scored.verdict(k, scored.tally(k))
        for field in Verdict.__slots__:
            assert getattr(got, field) == getattr(want, field), (expected[k].contact_id, field)
