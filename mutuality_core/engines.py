"""Where scoring runs: the pure-Python reference here, or an engine installed beside it.

An engine is found through the entry-point group ``mutuality.engines`` (the columnar
engine of ``pip install 'mutuality[fast]'`` registers itself there), so the core
never imports one: it asks the group by name, and an engine that cannot load (its
optional dependencies missing) is simply not available. Every engine computes the
core's published results, field for field (its differential tests prove it).

The choice is ``"python"`` (always the reference), an engine's name (that engine,
or an error saying how to install it), or ``"auto"``: an engine for inputs of at
least its ``min_activities``, the reference otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from importlib.metadata import entry_points
from typing import Protocol

from mutuality_core.config import ScoringConfig
from mutuality_core.errors import ConfigError
from mutuality_core.model import Activity, MutualityScore

__all__ = [
    "AUTO",
    "ENGINE_GROUP",
    "PYTHON",
    "Engine",
    "check_engine_choice",
    "engine_choices",
    "engine_status",
    "load_engine",
    "select_engine",
    "usable_engine",
]

log = logging.getLogger(__name__)

ENGINE_GROUP = "mutuality.engines"
PYTHON = "python"
AUTO = "auto"
#: Inputs from this many activities log the hint to install a faster engine (once).
_HINT_FROM = 200_000


class Engine(Protocol):
    """A scoring engine: the core's model over many contacts at once."""

    name: str
    #: ``auto`` uses the engine for this many Activity objects or more; None: never
    #: (turning objects into columns and every result back into an object may cost
    #: what the engine saves; sources that hold columns decide for themselves).
    min_activities: int | None

    def score_activities(
        self, activities: Sequence[Activity], *, as_of: datetime, config: ScoringConfig
    ) -> Iterator[MutualityScore]:
        """One score per contact, in contact_id order, equal to the core's."""


_loaded: dict[str, Engine | Exception] = {}
_hinted: list[bool] = []


def engine_choices() -> tuple[str, ...]:
    """``auto``, ``python`` and the installed engines' names (loadable or not)."""
    return (AUTO, PYTHON, *sorted(ep.name for ep in entry_points(group=ENGINE_GROUP)))


def load_engine(name: str) -> Engine:
    """The engine ``name``; raises the reason (e.g. a missing dependency) if it cannot load."""
    found = _loaded.get(name)
    if found is None:
        points = [ep for ep in entry_points(group=ENGINE_GROUP) if ep.name == name]
        if not points:
            found = ConfigError(
                f"unknown engine {name!r}; choose one of {', '.join(engine_choices())}"
            )
        else:
            try:
                found = points[0].load()
            except ImportError as exc:  # e.g. MissingDependencyError: numpy/pyarrow missing
                found = exc
        _loaded[name] = found
    if isinstance(found, Exception):
        raise found
    return found


def engine_status() -> dict[str, str]:
    """Each engine and whether it can be used (``available`` or why not), for listings."""
    status = {PYTHON: "available (the reference)"}
    for name in engine_choices()[2:]:
        try:
            load_engine(name)
            status[name] = "available"
        except Exception as exc:
            status[name] = f"not available: {exc}"
    return status


def select_engine(choice: str, activities: int) -> Engine | None:
    """The engine to score ``activities`` Activity objects with; None means the core.

    ``auto`` picks an installed engine whose ``min_activities`` the input reaches
    (an engine that does not pay for objects says None: then never).
    """
    if choice == PYTHON:
        return None
    if choice != AUTO:
        return load_engine(choice)
    for name in engine_choices()[2:]:
        try:
            engine = load_engine(name)
        except Exception:
            continue
        threshold = engine.min_activities
        if threshold is not None and activities >= threshold:
            return engine
    return None


def usable_engine(name: str, activities: int) -> Engine | None:
    """The installed engine ``name``, or None if it cannot load.

    For a large input (``activities``) that it would have scored, this logs once
    that ``pip install 'mutuality[fast]'`` would be faster: the one line a user of the
    pure-Python path sees about it.
    """
    try:
        return load_engine(name)
    except Exception:
        if activities >= _HINT_FROM and not _hinted:
            _hinted.append(True)
            log.info(
                "scoring %d activities in pure Python; pip install 'mutuality[fast]' "
                "would be several times faster",
                activities,
            )
        return None


def check_engine_choice(choice: str) -> str:
    """``choice`` if it names an engine (installed or not: then the use fails, clearly)."""
    known = engine_choices()
    if choice not in known:
        raise ConfigError(f"unknown engine {choice!r}; choose one of {', '.join(known)}")
    return choice
