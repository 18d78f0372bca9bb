"""Scoring configuration: every tunable number of the model, validated in one place.

The defaults are the documented model (docs/scoring.md). A team tunes them in the
``[scoring]`` table of ``mutuality.toml``; the CLI reads the file and passes the text
or the parsed table here, so the core never touches the file system.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

import attrs

from mutuality_core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["RETIRED_SETTINGS", "ScoringConfig"]

logger = logging.getLogger(__name__)

#: Settings of score 1.0 that 2.0 no longer has, and why: a configuration file that
#: still names them keeps working (they are ignored with a warning), so upgrading
#: never breaks a scheduled job.
RETIRED_SETTINGS = {
    "imbalance_tolerance": "2.0 holds every imbalance against the score; thin evidence "
    "is handled by the posterior instead",
    "prior_credits": "2.0 starts from a uniform prior on their share",
    "min_confidence": "2.0 bands come from P(balanced): see one_sided_max_probability",
    "mutual_min_score": "2.0 bands come from P(balanced): see mutual_min_probability",
}

#: key -> (lowest allowed, highest allowed, lowest is allowed, what it means). Settings
#: that divide a time or a credit have a small positive floor rather than "above 0": a
#: denormal half-life overflows the decay rate and turns a weight into NaN.
_RANGES: dict[str, tuple[float, float, bool, str]] = {
    "half_life_days": (0.01, 3650.0, True, "days after which an activity counts half"),
    "quiet_gap_days": (0.0, 365.0, False, "silence that ends a conversation without a thread"),
    "reply_window_days": (0.0, 365.0, False, "how late an answer still counts as a reply"),
    "latency_half_life_hours": (0.01, 8760.0, True, "reply delay that halves a reply's credit"),
    "effort_weight": (0.0, 100.0, True, "credit per email-equivalent sent"),
    "initiation_weight": (0.0, 100.0, True, "credit per conversation started"),
    "responsiveness_weight": (0.0, 100.0, True, "credit per timely reply"),
    "unanswered_weight": (0.0, 100.0, True, "credit to the sender per unanswered reach-out"),
    "commitment_weight": (0.0, 100.0, True, "credit per appointment kept that the other missed"),
    "ledger_weight": (0.0, 100.0, True, "credit per 'give' (an 'ask' credits half to the other)"),
    "credits_per_observation": (0.01, 1000.0, True, "credits that count as one observation"),
    "balance_ratio": (1.0, 100.0, False, "how many times the other side still counts as balanced"),
    "confidence_evidence": (0.0, 10000.0, False, "recent evidence at which confidence is 0.5"),
    "mutual_min_probability": (0.0, 1.0, True, "P(balanced) from which the band is mutual"),
    "one_sided_max_probability": (0.0, 1.0, True, "P(balanced) up to which the band is one-sided"),
    "dormant_after_days": (0.0, 36500.0, False, "silence after which the band is dormant"),
    "strength_scale": (0.0, 100000.0, False, "recency-weighted credits at which strength is 63"),
    "recent_conversations": (1.0, 1000.0, True, "how many recent conversations reasons count"),
}


def _in_range(instance: ScoringConfig, attribute: attrs.Attribute[Any], value: Any) -> None:
    low, high, low_ok, meaning = _RANGES[attribute.name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"scoring.{attribute.name} must be a number ({meaning}); got {value!r}")
    inside = (value >= low if low_ok else value > low) and value <= high
    if not inside or value != value:  # NaN compares false to everything
        opening = "[" if low_ok else "("
        raise ConfigError(
            f"scoring.{attribute.name} must be in {opening}{low:g}, {high:g}] ({meaning}); "
            f"got {value!r}"
        )


def _number(default: float) -> Any:
    return attrs.field(default=default, validator=_in_range)


@attrs.frozen
class ScoringConfig:
    """The model's knobs. All weights are in *credits*: one recent email sent is one credit.

    See docs/scoring.md for what each one does. The guarantee proven there (their
    reply never lowers the score while you invest more) needs
    ``responsiveness_weight <= effort_weight`` and ``unanswered_weight <= effort_weight``,
    as in the defaults.
    """

    half_life_days: float = _number(90.0)
    quiet_gap_days: float = _number(7.0)
    reply_window_days: float = _number(7.0)
    latency_half_life_hours: float = _number(48.0)
    effort_weight: float = _number(1.0)
    initiation_weight: float = _number(3.0)
    responsiveness_weight: float = _number(1.0)
    unanswered_weight: float = _number(1.0)
    commitment_weight: float = _number(2.0)
    ledger_weight: float = _number(2.0)
    credits_per_observation: float = _number(3.0)
    balance_ratio: float = _number(2.0)
    confidence_evidence: float = _number(8.0)
    mutual_min_probability: float = _number(0.8)
    one_sided_max_probability: float = _number(0.2)
    dormant_after_days: float = _number(180.0)
    strength_scale: float = _number(10.0)
    recent_conversations: int = attrs.field(default=10, validator=_in_range)

    def __attrs_post_init__(self) -> None:
        if self.one_sided_max_probability >= self.mutual_min_probability:
            raise ConfigError(
                "scoring.one_sided_max_probability must be below scoring.mutual_min_probability "
                f"(got {self.one_sided_max_probability!r} and {self.mutual_min_probability!r}); "
                "between the two the band is insufficient_data"
            )

    @recent_conversations.validator
    def _whole(self, attribute: attrs.Attribute[int], value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"scoring.{attribute.name} must be a whole number; got {value!r}")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> ScoringConfig:
        """Build from a parsed table such as ``[scoring]``; unknown keys fail, not typos lost."""
        if not isinstance(table, Mapping):
            raise ConfigError(f"scoring must be a table of settings; got {type(table).__name__}")
        known = set(_RANGES)
        retired = sorted(str(k) for k in table if k in RETIRED_SETTINGS)
        for key in retired:
            logger.warning(
                "scoring.%s is no longer used and is ignored (%s); remove it from the "
                "configuration",
                key,
                RETIRED_SETTINGS[key],
            )
        unknown = sorted(str(k) for k in table if k not in known and k not in RETIRED_SETTINGS)
        if unknown:
            raise ConfigError(
                f"unknown scoring setting(s): {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(known))}"
            )
        return cls(**{k: v for k, v in table.items() if k not in RETIRED_SETTINGS})

    @classmethod
    def from_toml(cls, text: str, table: str = "scoring") -> ScoringConfig:
        """Parse TOML text and build from its ``table`` (defaults when the table is absent)."""
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}") from None
        section: Any = document
        for part in table.split(".") if table else []:
            if not isinstance(section, Mapping):
                raise ConfigError(f"{table} must be a table of settings")
            section = section.get(part, {})
        return cls.from_mapping(section)

    def to_dict(self) -> dict[str, float]:
        """The settings as a plain dict, e.g. for run reports."""
        return attrs.asdict(self)
