"""Choosing where scoring runs: the reference, an installed engine, or auto."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

import mutuality_core.engines as engines
from mutuality_core import Activity, score_activities
from mutuality_core.errors import ConfigError, MissingDependencyError

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)


@pytest.fixture
def without_fast_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """The columnar engine is installed but cannot load, as without mutuality[fast]."""
    monkeypatch.setattr(engines, "_loaded", {"columnar": MissingDependencyError("numpy", "fast")})
    monkeypatch.setattr(engines, "_hinted", [])


def test_auto_without_the_extra_uses_the_core_and_says_once_what_would_be_faster(
    without_fast_extra: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mutuality_core.engines")
    assert engines.usable_engine("columnar", 10) is None
    assert not caplog.records  # a small input: nothing to say
    assert engines.usable_engine("columnar", 500_000) is None
    assert engines.usable_engine("columnar", 900_000) is None
    assert engines.select_engine("auto", 900_000) is None  # objects: the core
    hints = [r.getMessage() for r in caplog.records]
    assert len(hints) == 1 and "pip install 'mutuality[fast]'" in hints[0]


def test_auto_keeps_the_core_for_activity_objects_where_the_engine_does_not_pay() -> None:
    pytest.importorskip("mutuality_columnar")
    assert engines.select_engine("auto", 5_000_000) is None
    assert engines.select_engine("columnar", 10) is not None


def test_asking_for_the_columnar_engine_without_the_extra_says_what_to_install(
    without_fast_extra: None,
) -> None:
    history = [Activity("a1", "c1", AS_OF, "email", "outbound")]
    with pytest.raises(MissingDependencyError, match=r"pip install 'mutuality\[fast\]'"):
        list(score_activities(history, as_of=AS_OF, engine="columnar"))
    assert [s.contact_id for s in score_activities(history, as_of=AS_OF)] == ["c1"]


def test_an_unknown_engine_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match="unknown engine 'gpu'; choose one of auto, python"):
        score_activities([], as_of=AS_OF, engine="gpu")


def test_the_status_of_every_engine_is_listed(without_fast_extra: None) -> None:
    status = engines.engine_status()
    assert status["python"] == "available (the reference)"
    assert status["columnar"].startswith("not available: numpy is not installed")
