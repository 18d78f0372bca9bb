"""Scoring configuration. PLACEHOLDER: replaced by the scoring-core work (issue 2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs


@attrs.frozen
class ScoringConfig:
    half_life_days: float = 90.0

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> ScoringConfig:
        return cls(**table)
