"""Compare what the target holds with what the state says was written.

The state file remembers the values each contact was last written; the CRM is
the truth. A person clears a field, a backup is restored, a workflow rewrites a
band: :func:`drift_reason` names the difference, the sync rewrites the contact
(counted as ``repaired``), and :func:`verify` counts differences without writing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from mutuality_core.errors import ConfigError
from mutuality_core.ports import (
    Connection,
    FailedWrite,
    StateStore,
    StoredScore,
    StoredScoresWriter,
    WrittenScore,
)
from mutuality_core.scoring import ALGORITHM_VERSION

__all__ = [
    "DRIFT_REASONS",
    "VerifyReport",
    "drift_reason",
    "is_outdated",
    "verify",
    "verify_connection",
]

#: Why a contact is rewritten although its score did not change materially.
DRIFT_REASONS = ("missing", "edited", "outdated")

#: Scores are written rounded (scores.csv to whole points, HubSpot to 0.1, Salesforce
#: to 0.01): a stored score within half a point of the written one is the same score.
_SCORE_TOLERANCE = 0.501


def drift_reason(stored: StoredScore, written: WrittenScore) -> str | None:
    """``"missing"`` (score and band empty), ``"edited"`` (either differs), or None."""
    if stored.is_empty:
        return "missing"
    if stored.band != written.band or stored.score is None:
        return "edited"
    if abs(stored.score - written.score) > _SCORE_TOLERANCE:
        return "edited"
    return None


def is_outdated(written: WrittenScore, algorithm: str) -> bool:
    """Written by another algorithm version (unknown versions are not held against it)."""
    return written.algorithm is not None and written.algorithm != algorithm


@attrs.frozen
class VerifyReport:
    """How the target's score fields compare with what the state expects.

    Exclusive counts over the contacts the state has written: ``in_sync``,
    ``missing`` (fields empty), ``edited`` (changed by someone else), ``outdated``
    (written by an older algorithm) and ``gone`` (not in the target's listing: a CRM
    contact deleted, or a row removed from a scores file).
    ``failed_last_run`` counts contacts whose last write failed (retried by the next
    sync); ``not_written`` contacts the target has that the state never wrote (new
    since the last sync), which is not a difference.
    """

    target: str
    algorithm: str
    in_sync: int
    missing: int
    edited: int
    outdated: int
    gone: int
    failed_last_run: int
    not_written: int
    examples: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)

    @property
    def differs(self) -> bool:
        return bool(
            self.missing or self.edited or self.outdated or self.gone or self.failed_last_run
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "algorithm": self.algorithm,
            "in_sync": self.in_sync,
            "missing": self.missing,
            "edited": self.edited,
            "outdated": self.outdated,
            "gone": self.gone,
            "failed_last_run": self.failed_last_run,
            "not_written": self.not_written,
            "differs": self.differs,
            "examples": {k: list(v) for k, v in self.examples.items()},
        }


#: Contact ids kept per kind of difference, so that a person can look a few up.
_EXAMPLES = 5


def verify(
    target: str,
    stored: Iterable[StoredScore],
    written: Mapping[str, WrittenScore],
    failed: Mapping[str, FailedWrite],
    *,
    algorithm: str,
) -> VerifyReport:
    """Count differences between the target's fields (``stored``) and the state's record."""
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    seen: set[str] = set()

    def count(kind: str, contact_id: str) -> None:
        counts[kind] += 1
        if kind != "in_sync":
            ids = examples.setdefault(kind, [])
            if len(ids) < _EXAMPLES:
                ids.append(contact_id)

    for fields in stored:
        seen.add(fields.contact_id)
        expected = written.get(fields.contact_id)
        if expected is None:
            counts["not_written"] += 1
            continue
        reason = drift_reason(fields, expected)
        if reason is None and is_outdated(expected, algorithm):
            reason = "outdated"
        count(reason or "in_sync", fields.contact_id)
    for contact_id in written:
        if contact_id not in seen:
            count("gone", contact_id)
    for contact_id in failed:
        ids = examples.setdefault("failed_last_run", [])
        if len(ids) < _EXAMPLES:
            ids.append(contact_id)
    return VerifyReport(
        target=target,
        algorithm=algorithm,
        in_sync=counts["in_sync"],
        missing=counts["missing"],
        edited=counts["edited"],
        outdated=counts["outdated"],
        gone=counts["gone"],
        failed_last_run=len(failed),
        not_written=counts["not_written"],
        examples={k: tuple(v) for k, v in examples.items()},
    )


def verify_connection(
    connection: Connection, state: StateStore | None, *, algorithm: str = ALGORITHM_VERSION
) -> VerifyReport:
    """Read the target's score fields and compare them with ``state``; writes nothing.

    Costs what listing the contacts' score fields costs (HubSpot: one request per 100
    contacts; Salesforce: one query, a request per ``page_size`` rows; files: reading
    the scores file). Takes no lock: a sync running meanwhile may show as differences.
    """
    writer = connection.writer
    if not isinstance(writer, StoredScoresWriter):
        raise ConfigError(
            f"{connection.target}: this adapter cannot list the scores it holds "
            "(its writer has no stored_scores()), so there is nothing to verify against"
        )
    if state is None:
        written: Mapping[str, WrittenScore] = {}
        failed: Mapping[str, FailedWrite] = {}
    else:
        written = state.written(connection.target)
        failed = state.failed(connection.target)
    return verify(connection.target, writer.stored_scores(), written, failed, algorithm=algorithm)
