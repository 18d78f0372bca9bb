"""The sync use-case: read, score, diff against what was last written, write what changed.

SKELETON: the signatures below are the contract the CLI and the adapters build on;
the sync-engine work (issue 3) fills in the bodies and may add fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs

from mutuality_core.config import ScoringConfig
from mutuality_core.ports import Connection, ProgressCallback, StateStore, WriteResult


@attrs.frozen
class SyncOptions:
    """How one run behaves."""

    full: bool = False  # ignore the cursor and read everything
    dry_run: bool = False  # write nothing, advance no cursor, record nothing
    batch_size: int | None = None  # None: the writer's own batch_size
    min_score_change: float = 1.0  # points on the rounded score that count as a material change
    scoring: ScoringConfig = attrs.field(factory=ScoringConfig)


@attrs.frozen
class RunReport:
    """What one run did, for the CLI's ``--report run.json`` and for run history."""

    run_id: int | None
    target: str
    started_at: datetime
    finished_at: datetime
    as_of: datetime
    full: bool
    dry_run: bool
    contacts_read: int
    activities_read: int
    contacts_scored: int
    changed: int
    written: int
    failed: int
    failures: tuple[WriteResult, ...]
    band_counts: Mapping[str, int]
    stopped_reason: str | None = None  # e.g. "quota": the run stopped early with state saved

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


def run_sync(
    connection: Connection,
    state: StateStore,
    *,
    as_of: datetime,
    now: Callable[[], datetime],
    options: SyncOptions | None = None,
    progress: ProgressCallback | None = None,
) -> RunReport:
    """Run one sync of ``connection`` against ``state``. ``now`` stamps the run history."""
    raise NotImplementedError
