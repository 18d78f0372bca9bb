"""How sure we are that neither side does more than ``ratio`` times the other.

Score 2.0 reads a relationship's credits as evidence about one unknown number: ``p``,
the share of the investment that comes from *them*. With a uniform prior and ``n``
units of evidence of which a share ``p_hat`` is theirs, the posterior is
``Beta(1 + n * p_hat, 1 + n * (1 - p_hat))``, and the score is the posterior
probability that ``p`` lies in ``[low, 1 - low]`` with ``low = 1 / (1 + ratio)``
(``[1/3, 2/3]`` for "neither side does more than twice the other").

Written in plain floating point with the standard library only, because this module
is the specification: the columnar engine reproduces these floating-point operations,
in this order, on arrays, and its differential tests compare the two.

Symmetry is exact by construction: the probability is ``1 - below - above`` where
``above`` is computed as ``below`` of the swapped parameters, and the sum of two
floats does not depend on their order.

``balanced_probability`` runs the continued fraction twice per contact, which was
about a fifth of the reference core's work per contact, so it is written for CPython's
interpreter: the steps ``(m, 2m)`` come from a tuple of floats (float-only arithmetic
takes CPython's fast paths; the integers are exact in a float), ``-(s) * d`` is
written ``-(s * d)`` (IEEE rounding is symmetric, so both are the same number), the
guard against a zero denominator is a truth test (see ``_continued_fraction``), and the
stopping test compares with two constants instead of calling ``abs`` (see
``_CONVERGED_LOW``). Each is the same floating-point operation as in the textbook
form (the columnar engine's), so the bits are the same, which
``tests/core/test_balance.py`` checks on 80,000 posteriors.
"""

from __future__ import annotations

import math

__all__ = ["EPSILON", "MAX_STEPS", "TINY", "balanced_probability", "posterior", "regularized_beta"]

#: Relative change at which the continued fraction has converged (far below the
#: 0.0001 that a score rounded to two decimals can show).
EPSILON = 1e-14
#: Enough for every (a, b) a CRM produces: convergence takes about sqrt(max(a, b))
#: steps at worst, and a posterior with a million units of evidence needs ~100.
MAX_STEPS = 1000
#: Lentz's stand-in for a zero denominator. Public with EPSILON and MAX_STEPS because the
#: columnar engine runs this same loop on arrays and must stop and guard where it does.
TINY = 1e-300

# The stopping test ``abs(delta - 1.0) < EPSILON`` as ``_CONVERGED_LOW <= delta <=
# _CONVERGED_HIGH``. For delta in [0.5, 2], ``delta - 1.0`` is exact (Sterbenz), so the
# test holds exactly for the floats strictly within EPSILON of 1: above 1 they are
# spaced 2**-52, below 1 they are spaced 2**-53, and these are the outermost ones.
# Outside [0.5, 2] both forms are false, and so are they for NaN.
_CONVERGED_HIGH = 1.0 + (math.ceil(EPSILON * 2.0**52) - 1) * 2.0**-52
_CONVERGED_LOW = 1.0 - (math.ceil(EPSILON * 2.0**53) - 1) * 2.0**-53
#: The continued fraction's steps m = 1 ... MAX_STEPS with 2m, as floats.
_STEPS = tuple((float(m), 2.0 * m) for m in range(1, MAX_STEPS + 1))


def _continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz).

    The textbook guard ``if abs(d) < TINY: d = TINY`` is written ``if not d``: every
    ``d`` and ``c`` here is ``1.0 + y`` or ``1.0 - y`` for a float ``y``, and such a sum
    is either exactly 0 or at least 2**-53 in size (both terms are multiples of 2**-53
    when ``|y| >= 0.5``, and the sum is above 0.5 otherwise), so it is below
    ``TINY = 1e-300`` only when it is 0.
    """
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    tiny = TINY
    low = _CONVERGED_LOW
    high = _CONVERGED_HIGH
    c = 1.0
    d = 1.0 - qab * x / qap
    if not d:
        d = tiny
    d = 1.0 / d
    h = d
    for m, m2 in _STEPS:  # (m, 2m) as floats
        am2 = a + m2
        step = m * (b - m) * x / ((qam + m2) * am2)
        d = 1.0 + step * d
        if not d:
            d = tiny
        c = 1.0 + step / c
        if not c:
            c = tiny
        d = 1.0 / d
        h *= d * c
        # the odd step is -(a + m)(qab + m)x / ((a + 2m)(qap + 2m)), its sign moved out
        step = (a + m) * (qab + m) * x / (am2 * (qap + m2))
        d = 1.0 - step * d
        if not d:
            d = tiny
        c = 1.0 - step / c
        if not c:
            c = tiny
        d = 1.0 / d
        delta = d * c
        h *= delta
        if delta <= high and delta >= low:  # abs(delta - 1.0) < EPSILON
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    """``I_x(a, b)``: the probability that a ``Beta(a, b)`` variable is below ``x``.

    ``a, b > 0`` and ``0 < x < 1``.
    """
    log_beta = math.lgamma(a + b) - (math.lgamma(a) + math.lgamma(b))  # symmetric in a, b
    return _below(a, b, x, log_beta, math.log(x), math.log1p(-x))


def _below(a: float, b: float, x: float, log_beta: float, log_x: float, log_1mx: float) -> float:
    """``I_x(a, b)`` given ``log_beta = -ln B(a, b)``, ``ln x`` and ``ln(1 - x)``.

    The continued fraction converges fast only on the side of the mean that ``x`` is
    on, so the other side uses ``I_x(a, b) = 1 - I_{1-x}(b, a)``.
    """
    front = math.exp(log_beta + a * log_x + b * log_1mx)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _continued_fraction(a, b, x) / a
    return 1.0 - front * _continued_fraction(b, a, 1.0 - x) / b


def posterior(theirs: float, yours: float, credits_per_observation: float) -> tuple[float, float]:
    """The Beta parameters for their share: each side's credits counted as observations.

    ``n = (theirs + yours) / credits_per_observation`` and ``p_hat = theirs / (theirs +
    yours)``, so ``1 + n * p_hat = 1 + theirs / credits_per_observation``. Measuring the
    evidence in credits, not in activities, is what makes an answer from them always
    move the posterior their way (docs/scoring.md, Guarantees). No credits at all leave
    the uniform prior ``(1, 1)``.
    """
    return 1.0 + theirs / credits_per_observation, 1.0 + yours / credits_per_observation


#: ``(ln low, ln(1 - low))`` per ``low``: a configuration has one.
_LOGS: dict[float, tuple[float, float]] = {}


def balanced_probability(a: float, b: float, low: float) -> float:
    """``P(low <= p <= 1 - low)`` for ``p ~ Beta(a, b)``, clamped to [0, 1].

    ``1 - (below + above)`` with ``above`` computed as ``below`` of the swapped
    parameters: float addition commutes, so swapping the sides gives the same number.
    """
    logs = _LOGS.get(low)
    if logs is None:
        logs = _LOGS[low] = (math.log(low), math.log1p(-low))
    log_low, log_high = logs
    log_beta = math.lgamma(a + b) - (math.lgamma(a) + math.lgamma(b))  # symmetric in a, b
    below = _below(a, b, low, log_beta, log_low, log_high)
    above = _below(b, a, low, log_beta, log_low, log_high)
    inside = 1.0 - (below + above)
    if inside < 0.0:
        return 0.0
    if inside > 1.0:
        return 1.0
    return inside
