"""mutuality_core: measure how mutual a relationship is from its activity history.

Pure: attrs and the standard library only; no I/O, no network, no clock reads
(pass ``as_of``). Adapters and the CLI build on the names exported here.
"""

from mutuality_core.config import ScoringConfig
from mutuality_core.errors import (
    ConfigError,
    CrmUnavailableError,
    InvalidInputError,
    LockHeldError,
    MissingDependencyError,
    MutualityError,
    QuotaExhaustedError,
)
from mutuality_core.model import (
    Activity,
    Band,
    Channel,
    Component,
    Contact,
    Direction,
    MutualityScore,
    Outcome,
)
from mutuality_core.scoring import ALGORITHM_VERSION, score_activities, score_contact

__all__ = [
    "ALGORITHM_VERSION",
    "Activity",
    "Band",
    "Channel",
    "Component",
    "ConfigError",
    "Contact",
    "CrmUnavailableError",
    "Direction",
    "InvalidInputError",
    "LockHeldError",
    "MissingDependencyError",
    "MutualityError",
    "MutualityScore",
    "Outcome",
    "QuotaExhaustedError",
    "ScoringConfig",
    "score_activities",
    "score_contact",
]

#: The one place the version is written: pyproject.toml reads it from here when building.
__version__ = "0.1.0"
