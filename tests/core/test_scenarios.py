"""Named relationship stories and the verdict a person would give them."""

from __future__ import annotations

import pytest

from mutuality_core import Band, MutualityScore, score_contact

from .stories import AS_OF, Story, mirrored


def score(story: Story) -> MutualityScore:
    return score_contact(story.activities, as_of=AS_OF)


def balanced() -> Story:
    """A year of fortnightly threads, starters alternating, quick replies, a few meetings."""
    s = Story()
    for i in range(26):
        s.exchange(2 + 14 * i, "outbound" if i % 2 else "inbound", replies=2)
    for i in range(4):
        s.add(30 + 90 * i, "mutual", channel="meeting")
    return s


def you_chase() -> Story:
    """You write every week or so and follow up; they answered twice in six months."""
    s = Story()
    for i in range(15):
        thread = f"chase{i}"
        s.add(6 + 12 * i, "outbound", thread=thread)
        s.add(6 + 12 * i - 4, "outbound", thread=thread)  # a follow-up four days later
    s.add(6 + 12 * 4 - 4.5, "inbound", thread="chase4")
    s.add(6 + 12 * 9 - 4.5, "inbound", thread="chase9")
    return s


def test_balanced_regular_contact_is_mutual():
    result = score(balanced())
    assert result.band is Band.MUTUAL
    assert result.score >= 70
    assert abs(result.lean) < 0.1
    assert result.confidence > 0.7  # a year of history, weighted by recency
    assert result.strength > 50
    assert "Both sides invest about equally" in result.reasons
    assert any("Each side started" in r or "of the last 10" in r for r in result.reasons)


def test_you_chase_and_they_rarely_answer():
    result = score(you_chase())
    assert result.band is Band.YOU_INVEST_MORE
    assert result.score <= 15
    assert result.lean <= -0.4
    assert "You started 10 of the last 10 conversations" in result.reasons
    # 30 emails, but the latest follow-up (2 days old) is still inside its reply window
    assert any(
        r.startswith("They replied to 2 of your 29 emails") and "1 more too recent to judge" in r
        for r in result.reasons
    )


def test_they_chase_is_the_mirror():
    chase = score(you_chase())
    story = Story()
    story.activities = [mirrored(a) for a in you_chase().activities]
    result = score(story)
    assert result.band is Band.THEY_INVEST_MORE
    assert result.score == chase.score
    assert result.strength == chase.strength
    assert result.lean == -chase.lean
    assert "They started 10 of the last 10 conversations" in result.reasons


def test_one_email_yesterday_is_insufficient_data():
    result = score(Story().add(1, "outbound", thread="t"))
    assert result.band is Band.INSUFFICIENT_DATA
    assert result.confidence < 0.3
    assert 25 < result.score <= 50, "one unanswered email: too early to say, neither high nor 0"
    assert result.reasons[0] == "Not enough evidence yet to call it (1 activity)"


def test_mutual_two_years_ago_and_silent_since_is_dormant():
    s = Story()
    for i in range(20):
        s.exchange(730 + 10 * i, "outbound" if i % 2 else "inbound", replies=1)
    result = score(s)
    assert result.band is Band.DORMANT
    assert result.strength < 5
    assert result.reasons[0].startswith("No activity for 7")
    assert result.reasons[1] == "Both sides invest about equally"
    # balanced then, but two years of silence say little about today
    assert result.confidence < 0.1
    assert result.score < 50


def test_they_keep_missing_meetings_you_set_up():
    s = Story()
    for i in range(6):
        s.add(5 + 20 * i, "outbound", channel="meeting", outcome="no_show")
        s.add(3 + 20 * i, "outbound", channel="meeting", outcome="canceled", tags="by_them")
    s.add(60, "outbound", channel="meeting")  # one was held
    result = score(s)
    assert result.band is Band.YOU_INVEST_MORE
    assert result.lean < -0.4
    assert any(
        r.startswith("They missed, cancelled or declined 12 of 13 planned") for r in result.reasons
    )


def test_missed_meetings_are_attributed_by_tag_when_known():
    s = Story()
    for i in range(6):
        s.add(5 + 20 * i, "outbound", channel="meeting", outcome="canceled", tags="by_you")
    result = score(s)
    assert result.lean > 0, "you set meetings up and cancelled them yourself"


def test_equal_volume_but_you_start_every_conversation_scores_below_balanced():
    s = Story()
    for i in range(26):
        s.exchange(2 + 14 * i, "outbound", replies=1)
    for i in range(4):
        s.add(30 + 90 * i, "mutual", channel="meeting")
    result = score(s)
    assert result.score < score(balanced()).score
    assert result.lean < 0
    assert "You started 10 of the last 10 conversations" in result.reasons
    assert "Each side sent 26 messages" in result.reasons


def test_they_reply_but_weeks_late_scores_below_balanced():
    s = Story()
    for i in range(26):
        starter = "outbound" if i % 2 else "inbound"
        # your replies come within hours, theirs three weeks later
        s.exchange(30 + 14 * i, starter, replies=1, reply_hours=4.0 if i % 2 == 0 else 21 * 24)
    for i in range(4):
        s.add(30 + 90 * i, "mutual", channel="meeting")
    result = score(s)
    assert result.score < score(balanced()).score
    assert result.lean < 0
    assert any(
        r.startswith("They replied to none of your 13 emails (13 late replies)")
        for r in result.reasons
    )


def test_slow_replies_within_the_window_count_for_less_than_quick_ones():
    quick, slow = Story(), Story()
    for i in range(12):
        quick.exchange(10 + 14 * i, "outbound", replies=1, reply_hours=2)
        slow.exchange(10 + 14 * i, "outbound", replies=1, reply_hours=6 * 24)
    q, s = score(quick), score(slow)
    assert s.score < q.score
    assert any("(median 2 hours)" in r for r in q.reasons)
    assert any("(median 6 days)" in r for r in s.reasons)


def test_automated_bounced_and_future_activities_are_not_evidence():
    base = balanced()
    noisy = balanced()
    for i in range(40):
        noisy.add(1 + 3 * i, "outbound", automated=True, thread=f"news{i}")
        noisy.add(2 + 3 * i, "outbound", outcome="bounced", thread=f"bounce{i}")
    noisy.add(-3, "outbound", channel="meeting", outcome="scheduled")
    noisy.add(-5, "outbound", thread="future")
    a, b = score(base), score(noisy)
    assert (a.score, a.lean, a.strength, a.confidence, a.band, a.reasons) == (
        b.score,
        b.lean,
        b.strength,
        b.confidence,
        b.band,
        b.reasons,
    )
    assert b.activity_count == a.activity_count + 82


def test_ask_give_ledger_you_keep_asking_they_give():
    s = Story()
    for i in range(10):
        s.exchange(5 + 14 * i, "outbound" if i % 2 else "inbound", replies=1)
    plain = score(s).lean
    for i in range(6):
        s.add(7 + 20 * i, "outbound", tags="ask", thread=f"ask{i}")
        s.add(6 + 20 * i, "inbound", tags="give", thread=f"ask{i}")
    result = score(s)
    assert result.lean > plain
    assert any("They asked 0 times and gave 6 times" in r for r in result.reasons) or any(
        "You asked 6 times and gave 0 times" in r for r in result.reasons
    )


def test_held_call_replying_to_their_email_counts_as_your_reply():
    s = Story()
    s.add(10, "inbound", thread="t1")
    s.add(9.9, "outbound", channel="call", thread="t1")
    result = score(s)
    assert any(r.startswith("You replied to their only email") for r in result.reasons)


@pytest.mark.parametrize(
    "story",
    [balanced, you_chase],
)
def test_reasons_fit_a_crm_text_field(story):
    result = score(story())
    assert len(result.reasons_text) <= 255
    assert result.reasons_text.startswith(result.reasons[0])


def test_worked_example_from_the_docs_matches_the_formulas():
    """docs/scoring.md example 2, recomputed here from the published formulas."""
    from datetime import datetime, timedelta, timezone
    from math import exp

    from mutuality_core import Activity, ScoringConfig

    as_of = datetime(2026, 6, 1, tzinfo=timezone.utc)
    c = ScoringConfig()

    def act(i: int, days: float, direction: str, thread: str) -> Activity:
        return Activity(
            f"a{i}", "c1", as_of - timedelta(days=days), "email", direction, thread_id=thread
        )

    history = [
        act(1, 30, "outbound", "t1"),
        act(2, 26, "outbound", "t1"),
        act(3, 20, "outbound", "t2"),
        act(4, 19, "inbound", "t2"),
        act(5, 10, "outbound", "t3"),
    ]

    def w(days: float) -> float:
        return 0.5 ** (days / c.half_life_days)

    you = (
        c.effort_weight * (w(30) + w(26) + w(20) + w(10))
        + c.initiation_weight * (w(30) + w(20) + w(10))
        + c.unanswered_weight * (w(30) + w(26) + w(10))
    )
    them = c.effort_weight * w(19) + c.responsiveness_weight * 0.5 ** (
        24 / c.latency_half_life_hours
    ) * w(20)
    k = c.credits_per_observation
    result = score_contact(history, as_of=as_of)
    assert result.lean == pytest.approx((them - you) / (them + you + 2 * k), abs=5e-4)
    assert result.score == pytest.approx(
        100 * _beta_mass(1 + them / k, 1 + you / k, 1 / 3, 2 / 3), abs=5e-3
    )
    n = w(30) + w(26) + w(20) + w(19) + w(10)  # recency-weighted evidence
    engagement = w(30) + w(26) + w(20) + w(19) + w(10)
    assert result.strength == pytest.approx(
        100 * (1 - exp(-engagement / c.strength_scale)), abs=5e-3
    )
    assert result.confidence == pytest.approx(n / (n + c.confidence_evidence), abs=5e-4)
    assert result.band is Band.YOU_INVEST_MORE
    assert result.reasons[0] == "They do about 1 for every 9 of yours"


def _beta_mass(a: float, b: float, low: float, high: float, steps: int = 200_000) -> float:
    """P(low <= p <= high) for p ~ Beta(a, b), by the midpoint rule: an independent check."""
    h = 1.0 / steps
    inside = total = 0.0
    for i in range(steps):
        p = (i + 0.5) * h
        density = p ** (a - 1) * (1 - p) ** (b - 1)
        total += density
        if low <= p <= high:
            inside += density
    return inside / total


def test_thin_and_old_is_dormant_with_almost_no_confidence():
    result = score(Story().exchange(1000, "outbound", replies=1))
    assert result.band is Band.DORMANT
    assert result.reasons[0] == "No activity for 999 days"
    assert result.confidence == 0.0
    assert 30 < result.score < 40  # back at the prior: nothing is known about today


def test_only_unknown_direction_activity_counts_for_strength_not_balance():
    s = Story()
    for i in range(10):
        s.add(3 + 7 * i, "unknown", channel="call")
    result = score(s)
    assert result.strength > 0
    assert result.confidence == 0.0
    assert result.lean == 0.0
    assert result.band is Band.INSUFFICIENT_DATA


def test_four_unanswered_texts_are_one_sided():
    """Four texts, never answered: already more likely one-sided than not."""
    s = Story()
    for i in range(4):
        s.add(1 + 2 * i, "outbound", channel="message")
    result = score(s)
    assert result.score <= 20
    assert result.band is Band.YOU_INVEST_MORE
    assert any(r.startswith("No two-way exchange") for r in result.reasons)
    mirror = score_contact([mirrored(a) for a in s.activities], as_of=AS_OF)
    assert mirror.band is Band.THEY_INVEST_MORE


# The stories of the score 2.0 issue: what a person expects, as bands and ranges.


def _unanswered(n: int, channel: str = "email") -> Story:
    s = Story()
    outcome = "no_answer" if channel == "call" else "completed"
    for i in range(n):
        s.add(10 + 9 * i, "outbound", channel=channel, outcome=outcome, thread=f"u{i}")
    return s


def test_no_activity_at_all_is_low_and_insufficient():
    result = score_contact([], as_of=AS_OF, contact_id="c1")
    assert result.band is Band.INSUFFICIENT_DATA
    assert result.score <= 50
    assert result.reasons == ("No two-sided activity to go on",)


def test_newsletters_only_are_low_and_insufficient():
    s = Story()
    for i in range(20):
        s.add(1 + 7 * i, "outbound", automated=True, thread=f"news{i}")
    result = score(s)
    assert result.band is Band.INSUFFICIENT_DATA
    assert result.score <= 50


def test_ten_unanswered_emails_are_near_zero():
    result = score(_unanswered(10))
    assert result.band is Band.YOU_INVEST_MORE
    assert result.score <= 15
    assert "They replied to none of your 10 emails" in result.reasons
    assert "Only you have invested so far" in result.reasons


def test_balanced_beats_one_unanswered_beats_ten_unanswered():
    one = score(_unanswered(1))
    ten = score(_unanswered(10))
    assert score(balanced()).score > one.score > ten.score


def test_five_no_shows_of_six_meetings_you_set_up_are_not_mutual():
    s = Story()
    for i in range(5):
        s.add(5 + 10 * i, "outbound", channel="meeting", outcome="no_show")
    s.add(3, "outbound", channel="meeting")
    result = score(s)
    assert result.band is Band.YOU_INVEST_MORE
    assert result.lean < -0.4
    assert any(r.startswith("They missed, cancelled or declined 5 of 6") for r in result.reasons)
    mirror = score_contact([mirrored(a) for a in s.activities], as_of=AS_OF)
    assert mirror.band is Band.THEY_INVEST_MORE


def _calls(n: int, placed_by) -> Story:
    """``n`` held calls ten days apart; ``placed_by(i)`` is the direction of call ``i``."""
    s = Story()
    for i in range(n):
        s.add(3 + 10 * i, placed_by(i), channel="call")
    return s


def test_you_place_every_call_and_they_never_call_back():
    """They pick up all 8 calls you place and never call you: you carry the relationship.

    Picking up costs less than placing the call, so they get half its effort; a held
    call credits nobody's commitment (both kept it). With equal credits to both sides
    (before this rule) it scored 65, lean -0.25, insufficient_data: the chasing hidden.
    """
    s = _calls(8, lambda i: "outbound")
    result = score(s)
    assert result.band is Band.YOU_INVEST_MORE
    assert result.score <= 20
    assert result.lean <= -0.4
    assert "You started 8 of 8 conversations" in result.reasons
    assert "8 meetings or calls held, none missed" in result.reasons
    commitment = next(c for c in result.components if c.name == "commitment")
    # both kept every call: even on commitment, and no credit moves the lean
    assert (commitment.value, commitment.weight, commitment.evidence) == (1.0, 0.0, 8)
    mirror = score_contact([mirrored(a) for a in s.activities], as_of=AS_OF)
    assert mirror.band is Band.THEY_INVEST_MORE
    assert (mirror.score, mirror.lean) == (result.score, -result.lean)
    assert "They started 8 of 8 conversations" in mirror.reasons


def test_both_call_each_other_is_mutual():
    both = score(_calls(12, lambda i: "outbound" if i % 2 else "inbound"))
    assert both.band is Band.MUTUAL
    assert abs(both.lean) < 0.1
    assert "Both sides invest about equally" in both.reasons
    assert both.score > score(_calls(12, lambda i: "outbound")).score


def test_a_mutual_call_credits_both_sides_equally():
    """Direction ``mutual``: nobody is known to have placed it, so neither side leans."""
    result = score(_calls(8, lambda i: "mutual"))
    assert result.lean == 0.0
    assert "Both sides invest about equally" in result.reasons


def test_late_replies_are_called_late_replies_not_no_exchange():
    s = Story()
    for i in range(8):
        s.add(100 - 12 * i, "inbound", thread=f"t{i}")
        s.add(100 - 12 * i - 10, "outbound", thread=f"t{i}")
    result = score(s)
    assert "Only late replies so far (8 after more than 7 days)" in result.reasons
    assert "You replied to none of their 8 emails (8 late replies)" in result.reasons
    assert "Each side sent 8 messages" in result.reasons
    assert not any("No two-way exchange" in r for r in result.reasons)
    assert result.lean > 0


def test_unanswered_calls_are_reasoned_about_as_calls():
    result = score(_unanswered(8, channel="call"))
    assert result.band is Band.YOU_INVEST_MORE
    assert "They answered none of your 8 calls" in result.reasons
    assert "You made all 8 unanswered calls" in result.reasons
    assert not any("message" in r or "email" in r for r in result.reasons)


@pytest.mark.parametrize(
    ("you", "them", "sentence"),
    [
        (30, 10, "They do about 1 for every 3 of yours"),
        (10, 30, "You do about 1 for every 3 of theirs"),
        (15, 10, "They do about 2 for every 3 of yours"),
        (10, 10, "Both sides invest about equally"),
    ],
)
def test_the_balance_is_said_in_one_plain_sentence(you, them, sentence):
    s = Story()
    for i in range(you):
        s.add(2 + 5 * i, "outbound", thread=f"y{i}")
    for i in range(them):
        s.add(3 + 15 * i * you / max(them, 1) / 3, "inbound", thread=f"t{i}")
    assert sentence in score(s).reasons


def test_explain_fills_the_detail_of_every_signal():
    result = score(balanced())
    assert all(c.detail for c in result.components)
    initiation = next(c for c in result.components if c.name == "initiation")
    assert initiation.detail == "you started 13; they started 13; 4 started together"


def test_a_vanishing_share_is_said_without_an_overflowing_ratio():
    from datetime import timedelta

    from mutuality_core import Activity

    ancient = AS_OF - timedelta(days=100 * 365)  # a weight of about 1e-122
    history = [
        Activity("old", "c1", ancient, "email", "inbound", thread_id="t0"),
        *(
            Activity(f"a{i}", "c1", AS_OF - timedelta(days=3 + i), "email", "outbound")
            for i in range(3)
        ),
    ]
    result = score_contact(history, as_of=AS_OF)
    assert "They do less than 1 for every 100 of yours" in result.reasons
