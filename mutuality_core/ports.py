"""The ports: what the sync use-case needs from the outside world, as Protocols.

An adapter (ours or a third party's) implements :class:`Source` and
:class:`ScoreWriter` for one CRM and is found through the ``mutuality.adapters``
entry-point group as an :class:`AdapterPlugin`. The state store (cursors, the
activity cache, last written values, run history, the lock) is a port too, so a
team can keep state in Postgres instead of the embedded SQLite file.

Nothing here does I/O; this module only says what the shapes are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from mutuality_core.model import Activity, Contact, MutualityScore

__all__ = [
    "COMMAND_SETTINGS_KEY",
    "AdapterPlugin",
    "CommandProvider",
    "Connection",
    "ContactCache",
    "CountingStateStore",
    "Cursor",
    "DecisionPages",
    "DeduplicatingSource",
    "DocumentedEnvironment",
    "FailedWrite",
    "FinishingWriter",
    "OnePassWriter",
    "Page",
    "ProgressCallback",
    "Rejection",
    "RejectsFileSource",
    "RewritableWriter",
    "ScoreUpdate",
    "ScoreWriter",
    "Source",
    "StateStore",
    "StateStoreAdmin",
    "StateStorePlugin",
    "StoredIdsWriter",
    "StoredScore",
    "StoredScoresWriter",
    "WriteResult",
    "WrittenHistory",
    "WrittenScore",
]

#: An adapter's own bookmark, opaque to the engine (adapters usually encode JSON).
Cursor = str


@attrs.frozen(slots=True)
class Rejection:
    """A source record that could not be used and was skipped (never silently).

    ``where`` locates it for a human (``activities.csv:17``, ``hubspot engagement 123``).
    """

    where: str
    error: str


@attrs.frozen(slots=True)
class StoredScore:
    """The score fields one contact holds in the target right now, as the target returns them.

    ``None`` is an empty field. A CRM source reads these with the contact at no extra
    request (:attr:`Page.stored_scores`); the engine compares them with what it last
    wrote and rewrites a contact whose fields were cleared or edited behind its back.
    """

    contact_id: str
    score: float | None = None
    band: str | None = None
    lean: float | None = None
    strength: float | None = None
    confidence: float | None = None
    reasons: str | None = None
    scored_at: datetime | None = None

    @property
    def is_empty(self) -> bool:
        """No score and no band: cleared, restored from a backup, or never written."""
        return self.score is None and self.band is None


@attrs.frozen(slots=True)
class Page:
    """One unit of reading that can be checkpointed.

    After the engine has stored a page it persists ``cursor``; a run that stops
    later resumes reading from there. ``cursor=None`` means "nothing to resume from
    yet" (the engine keeps the previous cursor). A source that reads everything in
    one go may yield a single page.

    ``rejected`` lists records the source skipped because they were invalid (only
    when the user asked to skip invalid records); the engine counts and reports them.
    Within a page, deletions apply after the page's contacts and activities.

    ``stored_scores`` holds the score fields the target currently has for contacts of
    this page (a CRM returns them with the contact read). The engine rewrites a
    contact whose fields differ from what it last wrote (``repaired`` in the run
    report). A contact without an entry is not compared.
    """

    contacts: Sequence[Contact] = ()
    activities: Sequence[Activity] = ()
    deleted_activity_ids: Sequence[str] = ()
    deleted_contact_ids: Sequence[str] = ()
    cursor: Cursor | None = None
    rejected: Sequence[Rejection] = ()
    stored_scores: Sequence[StoredScore] = ()


@runtime_checkable
class Source(Protocol):
    """Where contacts and their activities come from.

    ``complete_history`` tells the engine how to read the source:

    * ``True``: every ``read(None)`` returns every contact with its complete
      history (files, a database view). The engine scores straight from the
      pages and caches nothing.
    * ``False``: ``read(cursor)`` returns what changed since ``cursor`` (CRMs).
      The engine keeps a local activity cache in the state store, so scores can
      be recomputed as time passes without reading the whole CRM again.

    ``read(None)`` is always a full read. Pages must be yielded lazily.

    Optional capabilities, each a Protocol below or in :mod:`mutuality_core.sync`:
    :class:`DeduplicatingSource`, :class:`~mutuality_core.sync.ScoringSource`,
    :class:`~mutuality_core.sync.DiffingSource`.
    """

    complete_history: bool

    def read(self, cursor: Cursor | None) -> Iterator[Page]: ...


@attrs.frozen(slots=True)
class ScoreUpdate:
    """A score to write onto one contact."""

    contact: Contact
    score: MutualityScore
    scored_at: datetime


@attrs.frozen(slots=True)
class WriteResult:
    """What became of one contact's update.

    Every failure is remembered and written again on the next run, until it succeeds
    or a read shows the contact deleted. ``retryable`` says whether trying again in
    this same run could help (the writer's own business). ``gone``: the CRM says the
    contact does not exist (deleted, merged away, or not visible at that moment); the
    reason is reported, and the contact is forgotten only when a complete read (or a
    read's deletion) confirms it, so a contact that was briefly missing is not lost.
    """

    contact_id: str
    ok: bool
    error: str | None = None
    retryable: bool = False
    gone: bool = False


@runtime_checkable
class ScoreWriter(Protocol):
    """Writes scores back onto contacts. Never creates contacts.

    ``write`` returns one result per update, in any order; a batch-level failure
    that leaves records' fate unknown raises instead (the engine then does not
    record the batch as written, and the next run writes it again, which is safe
    because writing a score is idempotent). ``batch_size`` is the most updates
    one ``write`` call accepts; the engine only reads it, so a writer may expose it as a
    plain attribute or a read-only property.

    Optional capabilities, each a Protocol below: :class:`StoredIdsWriter`,
    :class:`StoredScoresWriter`, :class:`FinishingWriter`, :class:`RewritableWriter`,
    :class:`OnePassWriter`.
    """

    @property
    def batch_size(self) -> int: ...

    def write(self, updates: Sequence[ScoreUpdate]) -> Sequence[WriteResult]: ...

    def close(self) -> None: ...


@attrs.frozen(slots=True)
class WrittenScore:
    """The values last written to one contact: what the next run diffs against."""

    contact_id: str
    score: float
    band: str
    lean: float
    strength: float
    confidence: float
    reasons: str
    scored_at: datetime  # the as_of the score was computed for
    algorithm: str | None = None  # None: written before versions were recorded


@attrs.frozen(slots=True)
class FailedWrite:
    """A contact whose last write failed: written again on every run until it succeeds.

    ``runs`` counts the runs in a row that failed for this same ``error``.
    """

    contact_id: str
    error: str
    runs: int = 1


@runtime_checkable
class StateStore(Protocol):
    """Everything a run must remember, keyed by ``target`` (one CRM account or folder).

    Every mutating method commits atomically before it returns.
    """

    def lock(self, target: str, *, owner: str) -> AbstractContextManager[None]:
        """Hold the run lock for ``target``; raise LockHeldError when another run has it."""
        ...

    def get_cursor(self, target: str) -> Cursor | None: ...

    def begin_full_read(self, target: str) -> None:
        """Forget the cursor before a full read (the cache is replaced as pages arrive)."""
        ...

    def apply_page(self, target: str, page: Page) -> None:
        """Cache the page's contacts and activities and advance the cursor, atomically.

        A deleted contact is forgotten entirely: cache, written values, failed write.
        """
        ...

    def finish_full_read(self, target: str, seen_contact_ids: Iterable[str]) -> Sequence[str]:
        """After a complete full read: forget contacts the source no longer has; return their ids.

        Forgetting a contact drops its cache, its written values and its failed write.
        """
        ...

    def full_read_pending(self, target: str) -> bool:
        """True between ``begin_full_read`` and ``finish_full_read``, even across runs.

        A full read that was interrupted resumes from its last page cursor; the
        engine then still calls ``finish_full_read`` when it completes.
        """
        ...

    def iter_histories(self, target: str) -> Iterator[tuple[Contact, list[Activity]]]: ...

    def written(self, target: str) -> Mapping[str, WrittenScore]: ...

    def record_written(self, target: str, written: Sequence[WrittenScore]) -> None:
        """Remember what was written; also clears those contacts' failed writes."""
        ...

    def failed(self, target: str) -> Mapping[str, FailedWrite]:
        """Contacts whose last write failed (see :class:`FailedWrite`)."""
        ...

    def record_failed(self, target: str, failed: Sequence[FailedWrite]) -> None:
        """Remember failed writes (replacing earlier entries of the same contacts)."""
        ...

    def start_run(
        self, target: str, *, started_at: datetime, options: Mapping[str, Any]
    ) -> int: ...

    def finish_run(
        self, run_id: int, *, finished_at: datetime, report: Mapping[str, Any]
    ) -> None: ...

    def runs(self, target: str | None = None, *, limit: int = 20) -> list[Mapping[str, Any]]: ...

    def close(self) -> None: ...


#: ``progress(stage, done, total)``; ``total`` is None when unknown.
#: Stages: "read", "score", "write".
ProgressCallback = Callable[[str, int, "int | None"], None]


@attrs.frozen
class Connection:
    """An opened adapter: its source, its writer, and the key its state is stored under.

    ``target`` must be stable across runs and distinct per CRM account, e.g.
    ``"hubspot:portal-123"`` or ``"files:/abs/path/to/folder"``.
    """

    target: str
    source: Source
    writer: ScoreWriter
    close: Callable[[], None] = lambda: None


COMMAND_SETTINGS_KEY = "mutuality.adapter_settings"
"""Where mounted adapter commands find ``(config path, -o options) -> settings``."""


@runtime_checkable
class AdapterPlugin(Protocol):
    """What the ``mutuality.adapters`` entry point of an adapter must load to.

    ``settings`` come from, in this order of precedence, CLI flags, ``MUTUALITY_*``
    environment variables and the ``[adapters.NAME]`` table of ``mutuality.toml``.
    ``environ`` is passed in (not read from ``os.environ``) so the adapter can look up
    its own secrets (e.g. ``HUBSPOT_ACCESS_TOKEN``) and stay testable.

    An adapter that reads settings from variables of its own naming (a token in
    ``HUBSPOT_ACCESS_TOKEN``) may list them as ``environment: Mapping[str, str]``
    (setting -> variable), so ``mutuality config show`` can say where a value came from.

    An adapter may also offer ``commands() -> Mapping[str, click.Command]`` with
    keys ``"setup"`` and/or ``"fake"``; the CLI mounts them as
    ``mutuality setup NAME`` and ``mutuality fake NAME``. Such a command finds the
    adapter's settings, resolved exactly as ``sync`` resolves them, by calling
    ``click.get_current_context().meta[COMMAND_SETTINGS_KEY](config, options)``.
    """

    name: str
    summary: str

    def connect(self, settings: Mapping[str, Any], *, environ: Mapping[str, str]) -> Connection: ...


# --- Optional capabilities -------------------------------------------------------------
#
# An adapter or a state store offers these only when it can. Each is a small Protocol so
# the engine asks ``isinstance(writer, FinishingWriter)`` instead of probing attribute
# names, and a type checker holds an implementation to the signature it promises.


@runtime_checkable
class DeduplicatingSource(Protocol):
    """A source that never yields the same ``(contact_id, id)`` activity twice in one read.

    When ``unique_activities`` is True the engine skips its de-duplication pass (about a
    tenth of a million-activity sync).
    """

    unique_activities: bool


@runtime_checkable
class StoredIdsWriter(Protocol):
    """A writer whose target can lose single records behind our back (rows deleted by hand).

    The engine rewrites the ids missing from ``stored_ids()`` (``repaired``, reason
    ``missing``).
    """

    def stored_ids(self) -> frozenset[str]: ...


@runtime_checkable
class StoredScoresWriter(Protocol):
    """A writer that can read back every contact's score fields as the target holds them.

    Read as cheaply as the target allows; ``mutuality verify`` compares them with the
    state's record. A writer that is a :class:`StoredIdsWriter` too (a scores file) is
    read so once per sync, instead of ``stored_ids``, and rows whose values were edited
    are rewritten as well; a CRM's writer offers this alone, so that a sync never lists
    the whole CRM (a CRM's stored values come with its contacts' pages instead).
    """

    def stored_scores(self) -> Iterable[StoredScore]: ...


@runtime_checkable
class FinishingWriter(Protocol):
    """A writer with work to do after the last batch of a sync (not a dry run), before close.

    ``finish`` may raise an error held back from the last ``write`` (a quota stop after
    some records were written); the engine records it in the run like any other.
    """

    def finish(self) -> None: ...


@runtime_checkable
class RewritableWriter(Protocol):
    """A writer whose whole target can vanish behind our back (a deleted scores file).

    When ``needs_full_rewrite`` is True the engine ignores its record of written values and
    writes every score.
    """

    needs_full_rewrite: bool


@runtime_checkable
class OnePassWriter(Protocol):
    """A writer that reads each update of a batch once, in order, and keeps only what it
    writes (a scores file keeps rows of text). ``reads_updates_once`` is True.

    The sync then builds each pending score as the writer reads it: a batch of 100,000
    updates never holds 100,000 score objects (components, evidence, reasons) at once.
    Any other writer gets every update built up front, as it may read them many times.
    """

    reads_updates_once: bool

    def write(self, updates: Sequence[ScoreUpdate]) -> Sequence[WriteResult]: ...


@runtime_checkable
class CountingStateStore(Protocol):
    """A state store that can count what it caches for a target without reading it all.

    Keys: ``contacts`` and ``activities``, how many of each the activity cache holds. The
    engine uses ``contacts`` as the total of its scoring progress; ``mutuality state show``
    prints both.
    """

    def cached_counts(self, target: str) -> Mapping[str, int]: ...


@runtime_checkable
class ContactCache(Protocol):
    """A state store that can list the contacts it caches for a target (the report reads it)."""

    def cached_contacts(self, target: str) -> list[Contact]: ...


@runtime_checkable
class WrittenHistory(Protocol):
    """A state store that keeps every value it wrote over time (the report draws trends)."""

    def written_history(self, target: str) -> list[Mapping[str, Any]]: ...


@runtime_checkable
class DecisionPages(Protocol):
    """A written-values mapping that pages out what deciding a write needs, in bulk.

    Each row is ``(contact id, score, band, algorithm)``; a whole-table diff elsewhere
    (Spark) reads these instead of building a :class:`WrittenScore` per contact.
    """

    def decision_pages(
        self, size: int = ...
    ) -> Iterator[list[tuple[str, float, str, str | None]]]: ...


@runtime_checkable
class StateStoreAdmin(Protocol):
    """What ``mutuality state`` needs beyond a run: list, inspect, unlock and reset targets."""

    def targets(self) -> list[str]: ...

    def cached_counts(self, target: str) -> Mapping[str, int]: ...

    def lock_holder(self, target: str) -> Mapping[str, Any] | None:
        """Who holds ``target``'s run lock (owner, host, pid, since), or None."""
        ...

    def break_lock(self, target: str) -> bool:
        """Release ``target``'s lock whoever holds it; True if there was one."""
        ...

    def reset(self, target: str) -> None:
        """Forget everything stored for ``target``: the next sync reads and writes it all."""
        ...


@runtime_checkable
class StateStorePlugin(Protocol):
    """What the ``mutuality.state_stores`` entry point of a state store must load to.

    ``location`` is what the user passed as ``--state`` (a file path for SQLite, a URL
    for a server-backed store). ``create=False`` must raise :class:`~mutuality_core.errors.
    ConfigError` when there is nothing at ``location`` yet (read-only commands).
    ``lock_expires_after`` is in seconds: ``None`` means the store's default, ``0`` never.
    """

    name: str
    summary: str

    def open(
        self, location: str, *, create: bool = True, lock_expires_after: float | None = None
    ) -> StateStore: ...


@runtime_checkable
class DocumentedEnvironment(Protocol):
    """An adapter plugin that reads some settings from variables of its own naming.

    ``environment`` maps a setting to its variable (``{"access_token":
    "HUBSPOT_ACCESS_TOKEN"}``), so ``mutuality config show`` can say where a value came from.
    """

    environment: Mapping[str, str]


@runtime_checkable
class CommandProvider(Protocol):
    """An adapter plugin with commands of its own, mounted as ``mutuality setup|fake NAME``.

    ``commands()`` returns Click commands keyed ``"setup"`` and/or ``"fake"`` (typed
    ``Any`` here because the core does not depend on Click).
    """

    def commands(self) -> Mapping[str, Any]: ...


@runtime_checkable
class RejectsFileSource(Protocol):
    """A source that writes the rows it skipped to a file; the run summary names it."""

    rejects_path: Any
