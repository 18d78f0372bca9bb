"""PLACEHOLDER: replaced by the scoring-core work (issue 2)."""

from __future__ import annotations

ALGORITHM_VERSION = "mutuality-0"


def score_contact(*args, **kwargs):  # type: ignore[no-untyped-def]
    raise NotImplementedError("scoring core not built yet")


def score_activities(*args, **kwargs):  # type: ignore[no-untyped-def]
    raise NotImplementedError("scoring core not built yet")
