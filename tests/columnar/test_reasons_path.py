"""Reasons built from the engine's arrays equal the core's, without building score objects.

``ScoredBatch.reasons`` (used by ``to_table``, the files writer and Spark partitions)
rebuilds each contact's core ``Tally`` from the arrays and runs the core's own
``judge`` and ``build_reasons``; checked here against ``score_activities`` on the
differential test's generated histories, for all contacts and for chosen ones.
"""

from __future__ import annotations

import pytest
from hypothesis import given

pytest.importorskip("numpy")
pytest.importorskip("pyarrow")

from mutuality_columnar import score_valid
from mutuality_columnar.codes import activities_table

from mutuality_core import score_activities
from mutuality_core.reasons_text import join_reasons

from .test_differential import EXAMPLES, cases


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
