from datetime import datetime, timezone

import pytest

from mutuality_core.model import Activity, Channel, Direction, Outcome


def test_naive_datetime_is_rejected_with_a_clear_message():
    with pytest.raises(ValueError, match="timezone-aware"):
        Activity("a1", "c1", datetime(2026, 1, 1), "email", "outbound")


def test_enums_accept_their_string_values():
    act = Activity("a1", "c1", datetime(2026, 1, 1, tzinfo=timezone.utc), "EMAIL", "inbound")
    assert act.channel is Channel.EMAIL
    assert act.direction is Direction("inbound")
    assert act.outcome is Outcome.COMPLETED


def test_unknown_enum_value_names_the_field_and_allowed_values():
    with pytest.raises(ValueError, match=r"direction must be one of outbound, inbound"):
        Activity("a1", "c1", datetime(2026, 1, 1, tzinfo=timezone.utc), "email", "sideways")


def test_tags_are_normalised():
    act = Activity(
        "a1", "c1", datetime(2026, 1, 1, tzinfo=timezone.utc), "email", "outbound", tags="Ask; give"
    )
    assert act.tags == frozenset({"ask", "give"})
