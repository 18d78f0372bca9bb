"""Reasons: joined deterministically into a 255-character CRM field, durations said plainly."""

from __future__ import annotations

import ast
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mutuality_core
from mutuality_core.explain import MAX_REASONS_TEXT, format_duration, join_reasons


def test_short_reasons_are_joined_in_order():
    assert join_reasons(
        ("You started 8 of the last 10 conversations", "Last two-way exchange today")
    ) == ("You started 8 of the last 10 conversations; Last two-way exchange today")
    assert join_reasons(()) == ""


def test_least_important_reasons_are_dropped_whole():
    reasons = ("a" * 100, "b" * 100, "c" * 100)
    assert join_reasons(reasons) == "a" * 100 + "; " + "b" * 100


def test_a_single_long_reason_is_cut_at_a_word_with_an_ellipsis():
    reason = " ".join(["word"] * 80)
    text = join_reasons((reason,))
    assert len(text) <= MAX_REASONS_TEXT
    assert text.endswith("word…")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab ;", max_size=300), max_size=6))
def test_joined_text_always_fits_and_is_deterministic(reasons):
    text = join_reasons(tuple(reasons))
    assert len(text) <= MAX_REASONS_TEXT
    assert text == join_reasons(tuple(reasons))
    if text and not text.endswith("…"):
        prefixes = ["; ".join(reasons[:k]) for k in range(1, len(reasons) + 1)]
        assert text in prefixes, "whole reasons are kept from the most important on"


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (10, "1 minute"),
        (45 * 60, "45 minutes"),
        (3 * 3600, "3 hours"),
        (30 * 3600, "30 hours"),
        (6 * 86400, "6 days"),
    ],
)
def test_durations_are_said_plainly(seconds, said):
    assert format_duration(seconds) == said


FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "time_ns"}


def test_the_core_never_reads_the_clock():
    """No call named now/utcnow/today/time... anywhere in the scoring core's source."""
    root = pathlib.Path(mutuality_core.__file__).parent
    files = [root / "config.py", root / "explain.py", *sorted((root / "scoring").glob("*.py"))]
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names]
                module = getattr(node, "module", None) or ""
                assert "time" not in names and module != "time", f"{path.name} imports time"
