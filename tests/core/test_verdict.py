"""The verdict's own shortcuts: shared components and remembered detail texts."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest

from mutuality_core import Activity, score_contact
from mutuality_core.config import ScoringConfig

from .stories import AS_OF

verdict = importlib.import_module("mutuality_core.scoring.verdict")
tally_module = importlib.import_module("mutuality_core.scoring.tally")


def _history() -> list[Activity]:
    day = timedelta(days=1)
    return [
        Activity("a", "c", AS_OF - 30 * day, "email", "outbound", thread_id="t1"),
        Activity("b", "c", AS_OF - 29 * day, "email", "inbound", thread_id="t1"),
        Activity("c", "c", AS_OF - 20 * day, "email", "inbound", thread_id="t2"),
        Activity("d", "c", AS_OF - 10 * day, "call", "outbound", outcome="no_answer"),
        Activity("e", "c", AS_OF - 5 * day, "meeting", "outbound", outcome="no_show"),
        Activity("f", "c", AS_OF - 4 * day, "email", "outbound", tags="give"),
    ]


def test_remembered_details_are_the_texts_written_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """A detail found in ``_TEXTS`` is the text the template writes for those counts."""
    history = sorted(_history(), key=lambda a: a.occurred_at)
    t = tally_module.tally(history, AS_OF.timestamp(), ScoringConfig())
    monkeypatch.setattr(verdict, "_TEXTS", {})
    fresh = verdict.signal_details(t, t.starters.count(2))
    assert verdict._TEXTS  # written down
    again = verdict.signal_details(t, t.starters.count(2))
    assert again == fresh
    # initiation, replies and effort are shared (meetings and the ledger: see below)
    assert again[0] is fresh[0] and again[1] is fresh[1] and again[3] is fresh[3]
    # you started t1, the call's conversation (the email 6 days later follows it up) and
    # the meeting; they started t2, which you left unanswered; your follow-up is recent
    assert fresh[0] == "you started 3; they started 1"
    assert fresh[1] == (
        "you replied in time to 0 of their 1 reach-outs, 0 late; "
        "they replied in time to 1 of your 2 reach-outs, 0 late"
    )


def test_the_remembered_texts_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verdict, "_TEXTS", {})
    monkeypatch.setattr(verdict, "_MAX_TEXTS", 3)
    for n in range(10):
        verdict._remember((9, n), str(n))
        assert len(verdict._TEXTS) <= 3
    assert verdict._TEXTS[(9, 9)] == "9"


def test_scores_do_not_depend_on_what_was_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    warm = score_contact(_history(), as_of=AS_OF)
    monkeypatch.setattr(verdict, "_TEXTS", {})
    cold = score_contact(_history(), as_of=AS_OF)
    assert cold == warm
    assert [c.detail for c in cold.components] == [c.detail for c in warm.components]


def test_a_signal_without_any_count_shares_its_component() -> None:
    day = timedelta(days=1)
    one = score_contact(
        [Activity("a", "c", AS_OF - day, "email", "outbound", thread_id="t")], as_of=AS_OF
    )
    other = score_contact(
        [Activity("b", "d", AS_OF - 2 * day, "email", "inbound", thread_id="u")], as_of=AS_OF
    )
    commitment = next(c for c in one.components if c.name == "commitment")
    assert commitment is next(c for c in other.components if c.name == "commitment")
    assert commitment.value is None and commitment.evidence == 0
    assert commitment.detail == (
        "0 held; you missed, cancelled or declined 0; they missed, cancelled or declined 0"
    )
