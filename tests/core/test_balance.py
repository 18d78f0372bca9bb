"""The balance probability: the fast form in ``scoring/balance.py`` is the textbook one.

``balance.py`` is written for CPython's interpreter (a float step counter, the odd
step's sign moved out, a stopping test without ``abs``). Every score depends on its
last bit, so these tests compare it with a plain transcription of the modified Lentz
algorithm (the form the module had before it was tuned, and the form the columnar
engine follows) on a wide spread of posteriors.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mutuality_core.scoring import balance

EPSILON = balance.EPSILON
TINY = 1e-300


def textbook_fraction(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < TINY:
        d = TINY
    d = 1.0 / d
    h = d
    for m in range(1, balance.MAX_STEPS + 1):
        m2 = 2 * m
        step = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + step * d
        if abs(d) < TINY:
            d = TINY
        c = 1.0 + step / c
        if abs(c) < TINY:
            c = TINY
        d = 1.0 / d
        h *= d * c
        step = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + step * d
        if abs(d) < TINY:
            d = TINY
        c = 1.0 + step / c
        if abs(c) < TINY:
            c = TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < EPSILON:
            break
    return h


def textbook_below(a: float, b: float, x: float) -> float:
    log_beta = math.lgamma(a + b) - (math.lgamma(a) + math.lgamma(b))
    front = math.exp(log_beta + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * textbook_fraction(a, b, x) / a
    return 1.0 - front * textbook_fraction(b, a, 1.0 - x) / b


def textbook_balanced(a: float, b: float, low: float) -> float:
    inside = 1.0 - (textbook_below(a, b, low) + textbook_below(b, a, low))
    return min(1.0, max(0.0, inside))


def _posteriors(rng: random.Random, count: int) -> list[tuple[float, float]]:
    """From no evidence to a million units, balanced and lopsided, thin and busy."""
    pairs = [(1.0, 1.0), (1.0, 2.0), (2.0, 1.0), (1e6, 1e6), (1e6, 1.0), (1.0, 1e6)]
    for _ in range(count):
        kind = rng.random()
        if kind < 0.4:  # what a CRM's histories give (see benchmarks/bench_core.py)
            pairs.append((1.0 + rng.expovariate(1 / 8), 1.0 + rng.expovariate(1 / 8)))
        elif kind < 0.7:
            pairs.append((1.0 + rng.expovariate(1 / 60), 1.0 + rng.expovariate(1 / 60)))
        elif kind < 0.85:  # one side with next to nothing
            pairs.append((1.0 + rng.random() * 0.01, 1.0 + rng.expovariate(1 / 30)))
        else:
            pairs.append((1.0 + 10 ** rng.uniform(-6, 6), 1.0 + 10 ** rng.uniform(-6, 6)))
    return pairs


@pytest.mark.parametrize("low", [1.0 / 3.0, 1.0 / 1.5, 1.0 / 101.0, 0.25])
def test_balanced_probability_is_the_textbook_algorithm_bit_for_bit(low: float) -> None:
    pairs = _posteriors(random.Random(int(low * 1000)), 20_000)
    got = [balance.balanced_probability(a, b, low) for a, b in pairs]
    assert got == [textbook_balanced(a, b, low) for a, b in pairs]


@settings(max_examples=300, deadline=None)
@given(
    a=st.floats(1.0, 1e5),
    b=st.floats(1.0, 1e5),
    x=st.floats(1e-6, 1.0 - 1e-6),
)
def test_regularized_beta_is_the_textbook_algorithm(a: float, b: float, x: float) -> None:
    assert balance.regularized_beta(a, b, x) == textbook_below(a, b, x)


def test_the_stopping_test_is_abs_delta_minus_one_below_epsilon_exactly() -> None:
    """``_CONVERGED_LOW <= delta <= _CONVERGED_HIGH`` holds for exactly the same floats."""
    low, high = balance._CONVERGED_LOW, balance._CONVERGED_HIGH
    for bound in (low, high, 1.0):
        delta = bound
        for _ in range(400):
            delta = math.nextafter(delta, 0.0)
        for _ in range(800):
            assert (low <= delta <= high) == (abs(delta - 1.0) < EPSILON), delta
            delta = math.nextafter(delta, 2.0)
    for delta in (0.0, -1.0, 0.5, 2.0, 1e300, -1e-300, math.inf, -math.inf, math.nan):
        assert (low <= delta <= high) == (abs(delta - 1.0) < EPSILON), delta


def test_a_break_in_the_fast_form_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above can fail: stopping a little earlier changes the last bits."""
    monkeypatch.setattr(balance, "_CONVERGED_LOW", 1.0 - 1e-10)
    monkeypatch.setattr(balance, "_CONVERGED_HIGH", 1.0 + 1e-10)
    pairs = _posteriors(random.Random(3), 3_000)
    changed = sum(
        balance.balanced_probability(a, b, 1.0 / 3.0) != textbook_balanced(a, b, 1.0 / 3.0)
        for a, b in pairs
    )
    assert changed > 0
