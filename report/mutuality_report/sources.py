"""Where a report's book comes from: the state file (what the last sync wrote) or a scoring.

Names and companies come from a read of the contacts alone: the files adapter's
contacts file (its first page; activities are not read), or, for a CRM, the contacts
the state file caches, so a report of a HubSpot or Salesforce book makes no request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from mutuality_core.model import Contact, MutualityScore
from mutuality_core.ports import Connection, ContactCache, StateStore, WrittenHistory, WrittenScore
from mutuality_core.reasons_text import split_reasons

from .book import Before, Entry, History
from .page import render
from .runs import run_report, when

#: How many runs the history table shows.
RUNS_SHOWN = 20


@attrs.frozen
class Book:
    """Everything one report shows: the entries, what they are compared with, and labels."""

    entries: Sequence[Entry]
    history: History
    target: str | None = None
    basis: str | None = None

    def render(self, **options: Any) -> str:
        """The page; ``options`` as for :func:`mutuality_report.render` (``top``, ``title`` ...)."""
        options.setdefault("target", self.target)
        options.setdefault("basis", self.basis)
        return render(self.entries, self.history, **options)


def display_name(contact: Contact | None) -> str | None:
    if contact is None:
        return None
    name = " ".join(p.strip() for p in (contact.first_name, contact.last_name) if p and p.strip())
    return name or None


def entry_from_score(score: MutualityScore, contact: Contact | None = None) -> Entry:
    return Entry(
        contact_id=score.contact_id,
        score=score.score,
        band=score.band._value_,
        lean=score.lean,
        strength=score.strength,
        confidence=score.confidence,
        reasons=score.reasons,
        name=display_name(contact),
        company=contact.company if contact else None,
    )


def entry_from_written(row: Mapping[str, Any] | WrittenScore, contact: Contact | None) -> Entry:
    """An entry from a written value (a ``written_history`` row or a :class:`WrittenScore`)."""
    value = attrs.asdict(row) if isinstance(row, WrittenScore) else row
    return Entry(
        contact_id=value["contact_id"],
        score=value["score"],
        band=value["band"],
        lean=value["lean"],
        strength=value["strength"],
        confidence=value["confidence"],
        reasons=split_reasons(value["reasons"] or ""),
        name=display_name(contact),
        company=contact.company if contact else None,
    )


def read_contacts(connection: Connection, state: StateStore | None) -> dict[str, Contact]:
    """The contacts' names and companies, without reading any activity.

    A complete-history source (files) yields every contact in its first page; an
    incremental one (a CRM) is not read at all: its contacts are in the state's cache.
    """
    source = connection.source
    if source.complete_history:
        pages = source.read(None)
        try:
            first = next(iter(pages), None)
        finally:
            if isinstance(pages, _Closable):  # a generator: let it close its files now
                pages.close()
        return {c.id: c for c in (first.contacts if first else ())}
    if state is None:
        return {}
    if isinstance(state, ContactCache):
        return {c.id: c for c in state.cached_contacts(connection.target)}
    return {c.id: c for c, _ in state.iter_histories(connection.target)}


@runtime_checkable
class _Closable(Protocol):
    def close(self) -> None: ...


def _last_run(runs: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The newest run that could have written anything (not a dry run)."""
    for run in runs:
        if not run_report(run).get("dry_run") and not (run.get("options") or {}).get("dry_run"):
            return run
    return None


def _run_label(run: Mapping[str, Any]) -> str:
    return f"the last run (run {run.get('id')})"


def from_state(connection: Connection, state: StateStore, *, runs_shown: int = RUNS_SHOWN) -> Book:
    """The book as the last sync wrote it, with each change the last run made.

    A target the sync never wrote to gives a book without entries (the CLI then
    scores afresh). Needs a state store with ``written_history`` (the SQLite one) for the changes;
    any other store gives the current values and the run history only.
    """
    target = connection.target
    runs = state.runs(target, limit=runs_shown)
    last = _last_run(runs)
    rows: list[Any]
    if not isinstance(state, WrittenHistory):
        rows = list(state.written(target).values())
        changes: dict[str, Before] = {}
        since = None
    else:
        rows = state.written_history(target)
        last_id = last.get("id") if last else None
        changes = {
            r["contact_id"]: Before(r["previous_band"], r["previous_score"], r["previous_lean"])
            for r in rows
            if last_id is not None and r["run_id"] == last_id
        }
        # values written before schema version 2 name no run: nothing to compare with yet
        tracked = any(r["run_id"] is not None for r in rows)
        since = _run_label(last) if last and tracked else None
    contacts = read_contacts(connection, state) if rows else {}
    entries = [entry_from_written(r, contacts.get(_contact_id(r))) for r in rows]
    as_of = run_report(last).get("as_of") if last else None
    basis = "as the last sync wrote them" + (f" (as of {when(as_of)})" if as_of else "")
    return Book(entries, History(since, changes, runs), target, basis)


def _contact_id(row: Mapping[str, Any] | WrittenScore) -> str:
    return row.contact_id if isinstance(row, WrittenScore) else row["contact_id"]


def from_scores(
    results: Iterable[tuple[Contact, MutualityScore]],
    state: StateStore | None,
    target: str,
    *,
    as_of: datetime,
    runs_shown: int = RUNS_SHOWN,
) -> Book:
    """A book scored just now (e.g. ``mutuality score``'s results), compared with what the
    last sync wrote when the state has it: a preview of what the next sync would change."""
    entries = [entry_from_score(score, contact) for contact, score in results]
    written: Mapping[str, WrittenScore] = state.written(target) if state is not None else {}
    runs = state.runs(target, limit=runs_shown) if state is not None else []
    last = _last_run(runs)
    changes: dict[str, Before] = {}
    since = None
    if written:
        since = _run_label(last) if last else "the values last written"
        for entry in entries:
            old = written.get(entry.contact_id)
            if old is None:
                changes[entry.contact_id] = Before(None)
            elif old.band != entry.band or round(old.score) != round(entry.score):
                changes[entry.contact_id] = Before(old.band, old.score, old.lean)
    basis = f"computed as of {when(as_of)} (not written to the CRM)"
    return Book(entries, History(since, changes, runs), target, basis)
