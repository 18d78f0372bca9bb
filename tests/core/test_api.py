"""The public contract of the scoring core that adapters, the sync engine and the CLI use."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mutuality_core import (
    ALGORITHM_VERSION,
    Activity,
    Band,
    MutualityScore,
    ScoringConfig,
    score_activities,
    score_contact,
)

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)


def email(aid: str, contact: str, days_ago: float, direction: str, thread: str) -> Activity:
    return Activity(
        aid, contact, AS_OF - timedelta(days=days_ago), "email", direction, thread_id=thread
    )


def test_score_contact_fills_every_field():
    history = [
        email("a1", "c1", 10, "outbound", "t1"),
        email("a2", "c1", 9.5, "inbound", "t1"),
        email("a3", "c1", 3, "inbound", "t2"),
        email("a4", "c1", 2.9, "outbound", "t2"),
    ]
    result = score_contact(history, as_of=AS_OF)
    assert isinstance(result, MutualityScore)
    assert result.contact_id == "c1"
    assert result.algorithm == ALGORITHM_VERSION
    assert result.as_of == AS_OF
    assert result.activity_count == 4
    assert result.last_activity_at == AS_OF - timedelta(days=2.9)
    assert 0 <= result.score <= 100
    assert -1 <= result.lean <= 1
    assert 0 <= result.strength <= 100
    assert 0 <= result.confidence <= 1
    assert result.reasons
    assert [c.name for c in result.components] == [
        "initiation",
        "responsiveness",
        "commitment",
        "effort",
        "ledger",
        "engagement",
    ]
    assert len(result.reasons_text) <= 255


def test_empty_history_needs_a_contact_id_and_is_insufficient_data():
    with pytest.raises(ValueError, match="contact_id is required"):
        score_contact([], as_of=AS_OF)
    result = score_contact([], as_of=AS_OF, contact_id="c9")
    assert result.contact_id == "c9"
    assert result.band is Band.INSUFFICIENT_DATA
    assert result.activity_count == 0
    assert result.last_activity_at is None
    assert result.confidence == 0.0


def test_score_contact_rejects_several_contacts():
    history = [email("a1", "c1", 3, "outbound", "t"), email("a2", "c2", 2, "inbound", "t")]
    with pytest.raises(ValueError, match="score_activities"):
        score_contact(history, as_of=AS_OF)
    with pytest.raises(ValueError, match="c1, c3"):
        score_contact(history[:1], as_of=AS_OF, contact_id="c3")


def test_as_of_is_required_and_must_be_aware():
    with pytest.raises(TypeError):
        score_contact([email("a1", "c1", 1, "outbound", "t")])  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="timezone-aware"):
        score_contact([email("a1", "c1", 1, "outbound", "t")], as_of=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        score_activities([], as_of=datetime(2026, 1, 1))


def test_score_activities_groups_and_sorts_by_contact():
    history = [
        email("a1", "zed", 5, "outbound", "t1"),
        email("a2", "amy", 4, "inbound", "t2"),
        email("a3", "zed", 4, "inbound", "t1"),
        email("a4", "mo", 1, "outbound", "t3"),
    ]
    results = list(score_activities(history, as_of=AS_OF))
    assert [r.contact_id for r in results] == ["amy", "mo", "zed"]
    assert [r.activity_count for r in results] == [1, 1, 2]
    for r in results:
        alone = [a for a in history if a.contact_id == r.contact_id]
        assert r == score_contact(alone, as_of=AS_OF)


def test_config_is_used():
    history = [email(f"a{i}", "c1", i * 3, "outbound", f"t{i}") for i in range(12)]
    default = score_contact(history, as_of=AS_OF)
    lenient = score_contact(history, as_of=AS_OF, config=ScoringConfig(balance_ratio=50.0))
    assert default.score < 15 < lenient.score  # 12 unanswered emails: beyond 2:1, within 50:1
    assert default.lean == lenient.lean
