"""The adapter contract: a pytest suite any adapter runs against itself.

Subclass :class:`AdapterContract` in a test module (the class name must start
with ``Test`` so pytest collects it) and implement three hooks::

    from mutuality_testkit import AdapterContract

    class TestMyCrm(AdapterContract):
        def seed(self, dataset, tmp_path):
            ...  # load dataset.contacts / dataset.activities into a fresh fake or sandbox
            return my_adapter.connect(...)

        def add_activity(self, connection, activity):
            ...  # add one more activity to the source, as a user of the CRM would

        def broken_connection(self, tmp_path):
            ...  # a connection that cannot work (bad token, missing folder, server down)

Optional: ``plugin`` (checked against the AdapterPlugin protocol),
``written_values`` (read scores back so the suite checks they landed),
``source_contact_id``/``source_activity_id`` (when the source assigns its own ids),
``activity_fields``/``contact_fields`` (the fields your source round-trips exactly),
``open_state_store`` (the state store the sync checks use; SQLite by default) and
``skip_checks`` (checks that cannot apply to your adapter, each with its reason).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from mutuality_core.errors import MissingDependencyError, MutualityError
from mutuality_core.model import Activity, Band, Contact, MutualityScore
from mutuality_core.ports import (
    AdapterPlugin,
    Connection,
    Page,
    ScoreUpdate,
    ScoreWriter,
    Source,
    StateStore,
    WriteResult,
)

from .dataset import Dataset, default_dataset

try:
    import pytest
except ImportError:  # the kit is a pytest suite: say which extra brings pytest
    raise MissingDependencyError("pytest", "testkit") from None

__all__ = ["AdapterContract"]

_BANDS = [Band.MUTUAL, Band.YOU_INVEST_MORE, Band.THEY_INVEST_MORE, Band.DORMANT]
MISSING_CONTACT_ID = "mutuality-testkit-no-such-contact"


def _score_for(contact_id: str, index: int, dataset: Dataset) -> MutualityScore:
    """A distinct, recognisable score per contact (no scorer needed)."""
    return MutualityScore(
        contact_id=contact_id,
        score=float(11 + 17 * index),
        lean=round(-0.5 + 0.25 * index, 2),
        strength=float(5 + 10 * index),
        band=_BANDS[index % len(_BANDS)],
        confidence=0.75,
        reasons=(f"testkit reason {index}",),
        components=(),
        algorithm="mutuality-testkit",
        as_of=dataset.as_of,
        activity_count=index,
        last_activity_at=None,
    )


def _ghost(n: int, dataset: Dataset) -> ScoreUpdate:
    """An update for the ``n``-th contact id no source holds."""
    contact_id = MISSING_CONTACT_ID if n == 0 else f"{MISSING_CONTACT_ID}-{n}"
    return ScoreUpdate(
        Contact(contact_id, email=f"ghost{n}@example.invalid"),
        _score_for(contact_id, 1, dataset),
        dataset.as_of,
    )


class AdapterContract:
    """Subclass me. Every ``test_*`` method below runs against your adapter."""

    #: Your ``mutuality.adapters`` entry point object, to check it against AdapterPlugin.
    plugin: ClassVar[AdapterPlugin | None] = None
    #: Activity fields your source returns exactly as seeded.
    activity_fields: ClassVar[tuple[str, ...]] = ("occurred_at", "channel", "direction")
    #: Contact fields your source returns exactly as seeded.
    contact_fields: ClassVar[tuple[str, ...]] = ("email",)
    #: Checks that cannot apply to your adapter: test name -> why, shown as the skip
    #: reason in pytest's report. A name that is not a check of the suite is an error.
    skip_checks: ClassVar[Mapping[str, str]] = {}

    # -- hooks to implement --------------------------------------------------------------

    def seed(self, dataset: Dataset, tmp_path: Path) -> Connection:
        """A fresh connection whose source holds exactly ``dataset``."""
        raise NotImplementedError("implement seed(dataset, tmp_path) -> Connection")

    def add_activity(self, connection: Connection, activity: Activity) -> None:
        """Add ``activity`` (dataset ids) to the source behind ``connection``."""
        raise NotImplementedError("implement add_activity(connection, activity)")

    def broken_connection(self, tmp_path: Path) -> Connection:
        """A connection that cannot read (may also raise a typed error right away)."""
        raise NotImplementedError("implement broken_connection(tmp_path) -> Connection")

    # -- optional hooks ----------------------------------------------------------------------

    def dataset(self) -> Dataset:
        """The data to seed; override to add records your adapter must handle."""
        return default_dataset()

    def written_values(self, connection: Connection) -> Mapping[str, Mapping[str, Any]] | None:
        """Scores as stored in the target, by source contact id, with at least ``score``
        and ``band`` (as text or numbers). None: the suite cannot read them back."""
        return None

    def source_contact_id(self, connection: Connection, dataset_id: str) -> str:
        """The id the source gives a seeded contact (override if it assigns its own)."""
        return dataset_id

    def source_activity_id(self, connection: Connection, dataset_id: str) -> str:
        """The id the source gives a seeded activity."""
        return dataset_id

    def open_state_store(self, tmp_path: Path) -> StateStore:
        """A fresh, empty state store for the checks that run ``run_sync``.

        The default is the embedded SQLite store in ``tmp_path``; the checks are skipped,
        saying so, on a Python built without ``sqlite3``. Override it to run them against
        your own :class:`~mutuality_core.ports.StateStore` (it is closed after each check).
        """
        try:
            from mutuality_adapters.sqlite_state import SQLiteStateStore
        except ImportError as exc:
            pytest.skip(
                f"the default SQLite state store is unavailable ({exc}); override "
                "open_state_store(tmp_path) to return a StateStore"
            )
        return SQLiteStateStore(tmp_path / "contract-state.sqlite")

    # -- fixtures ---------------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _skip_listed_checks(self, request: pytest.FixtureRequest) -> None:
        """Turn ``skip_checks`` into skips; autouse fixtures run first, so nothing is seeded."""
        checks = {name for name in dir(type(self)) if name.startswith("test_")}
        unknown = sorted(set(self.skip_checks) - checks)
        if unknown:
            pytest.fail(
                f"skip_checks of {type(self).__name__} names no check of the suite: "
                f"{', '.join(unknown)}; the checks are: {', '.join(sorted(checks))}",
                pytrace=False,
            )
        reason = self.skip_checks.get(request.function.__name__)
        if reason is None:
            return
        if not reason.strip():
            pytest.fail(
                f"skip_checks of {type(self).__name__}: say why "
                f"{request.function.__name__} is skipped",
                pytrace=False,
            )
        pytest.skip(reason)

    @pytest.fixture
    def seeded(self) -> Dataset:
        return self.dataset()

    @pytest.fixture
    def connection(self, seeded: Dataset, tmp_path: Path) -> Iterator[Connection]:
        connection = self.seed(seeded, tmp_path)
        try:
            yield connection
        finally:
            connection.close()

    @pytest.fixture
    def state_store(self, tmp_path: Path) -> Iterator[StateStore]:
        store = self.open_state_store(tmp_path)
        try:
            yield store
        finally:
            store.close()

    # -- helpers ----------------------------------------------------------------------------

    def _read(self, connection: Connection, cursor: str | None = None) -> list[Page]:
        pages = list(connection.source.read(cursor))
        for page in pages:
            assert isinstance(page, Page), f"read() must yield Page objects, got {page!r}"
        return pages

    def _expected_activities(
        self, connection: Connection, dataset: Dataset
    ) -> dict[tuple[str, str], Activity]:
        return {
            (
                self.source_contact_id(connection, a.contact_id),
                self.source_activity_id(connection, a.id),
            ): a
            for a in dataset.activities
        }

    def _add_email(
        self, connection: Connection, contact_id: str, activity_id: str, at: datetime
    ) -> tuple[Activity, tuple[str, str]]:
        """Add an inbound email through ``add_activity``; return it and its source key."""
        email = Activity(
            activity_id, contact_id, at, "email", "inbound", thread_id=f"th-{activity_id}"
        )
        self.add_activity(connection, email)
        key = (
            self.source_contact_id(connection, contact_id),
            self.source_activity_id(connection, activity_id),
        )
        return email, key

    def _updates(self, connection: Connection, dataset: Dataset) -> list[ScoreUpdate]:
        contacts = {c.id: c for p in self._read(connection) for c in p.contacts}
        updates = []
        for index, seeded in enumerate(dataset.contacts):
            contact = contacts[self.source_contact_id(connection, seeded.id)]
            updates.append(
                ScoreUpdate(contact, _score_for(contact.id, index, dataset), dataset.as_of)
            )
        return updates

    def _write_all(self, writer: ScoreWriter, updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        results: list[WriteResult] = []
        size = writer.batch_size
        for start in range(0, len(updates), size):
            batch = updates[start : start + size]
            got = list(writer.write(batch))
            assert sorted(r.contact_id for r in got) == sorted(u.contact.id for u in batch), (
                "write() must return exactly one result per update in the batch"
            )
            results.extend(got)
        return results

    # -- the contract -----------------------------------------------------------------------

    def test_plugin_conforms(self) -> None:
        if self.plugin is None:
            pytest.skip("set `plugin = <your entry point object>` to check it")
        assert isinstance(self.plugin, AdapterPlugin)
        assert isinstance(self.plugin.name, str) and self.plugin.name
        assert isinstance(self.plugin.summary, str) and self.plugin.summary

    def test_connection_has_the_port_shapes(self, connection: Connection) -> None:
        assert isinstance(connection.target, str) and connection.target
        assert isinstance(connection.source, Source)
        assert isinstance(connection.source.complete_history, bool)
        assert isinstance(connection.writer, ScoreWriter)
        assert isinstance(connection.writer.batch_size, int) and connection.writer.batch_size >= 1

    def test_read_returns_a_lazy_iterator_of_pages(
        self, connection: Connection, seeded: Dataset
    ) -> None:
        """``read()`` reads nothing until the engine asks for the first page.

        The tripwire: an activity added after ``read(None)`` returned, before the first
        ``next()``, must be in what the read yields. A source that fetched its pages
        inside ``read()`` (``return iter(list_of_pages)``) cannot have seen it.
        """
        pages = connection.source.read(None)
        assert iter(pages) is pages, "read() must return an iterator (e.g. a generator), not a list"
        _, key = self._add_email(
            connection, seeded.contacts[0].id, "kit-late-1", seeded.as_of - timedelta(hours=12)
        )
        try:
            got = list(pages)
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()
        for page in got:
            assert isinstance(page, Page), f"read() must yield Page objects, got {page!r}"
        seen = {(a.contact_id, a.id) for page in got for a in page.activities}
        assert key in seen, (
            "read(None) fetched its pages before the first one was asked for: an activity "
            "added after read() returned is missing from the pages it yielded. Do the reading "
            "inside a generator (yield each page as it is fetched), not in read() itself"
        )

    def test_full_read_returns_every_seeded_record_exactly_once(
        self, connection: Connection, seeded: Dataset
    ) -> None:
        pages = self._read(connection)
        contact_ids = [c.id for p in pages for c in p.contacts]
        expected_contacts = {self.source_contact_id(connection, c.id): c for c in seeded.contacts}
        assert sorted(contact_ids) == sorted(expected_contacts), "each contact exactly once"
        got = [((a.contact_id, a.id), a) for p in pages for a in p.activities]
        expected = self._expected_activities(connection, seeded)
        assert sorted(k for k, _ in got) == sorted(expected), "each activity exactly once"
        for key, activity in got:
            for field in self.activity_fields:
                assert getattr(activity, field) == getattr(expected[key], field), (key, field)
        for contact in (c for p in pages for c in p.contacts):
            original = expected_contacts[contact.id]
            for field in self.contact_fields:
                assert getattr(contact, field) == getattr(original, field), (contact.id, field)

    def test_cursors_are_text_and_an_incremental_source_gives_one(
        self, connection: Connection
    ) -> None:
        cursors = [p.cursor for p in self._read(connection)]
        assert all(c is None or isinstance(c, str) for c in cursors)
        if not connection.source.complete_history:
            assert any(c is not None for c in cursors), "the engine needs a cursor to resume"

    def test_cursor_round_trip_loses_nothing(self, connection: Connection, seeded: Dataset) -> None:
        first = self._read(connection)
        cursor = next((p.cursor for p in reversed(first) if p.cursor is not None), None)
        new, key = self._add_email(
            connection, seeded.contacts[-1].id, "kit-new-1", seeded.as_of - timedelta(days=1)
        )
        for attempt in range(2):  # reading from a cursor does not consume it
            later = self._read(connection, cursor)
            found = [a for p in later for a in p.activities if (a.contact_id, a.id) == key]
            assert len(found) == 1, f"read(cursor) #{attempt + 1} must return the new activity"
            assert found[0].occurred_at == new.occurred_at
        seen = {(a.contact_id, a.id) for p in first + later for a in p.activities}
        assert set(self._expected_activities(connection, seeded)) | {key} <= seen

    def test_write_gives_one_result_per_update(
        self, connection: Connection, seeded: Dataset
    ) -> None:
        updates = self._updates(connection, seeded)
        results = self._write_all(connection.writer, updates)
        failed = [r for r in results if not r.ok]
        assert not failed, f"writes onto existing contacts must succeed: {failed}"
        assert all(isinstance(r, WriteResult) for r in results)
        stored = self.written_values(connection)
        if stored is not None:
            for update in updates:
                values = stored[update.contact.id]
                assert float(values["score"]) == round(update.score.score)
                assert str(values["band"]) == update.score.band.value

    def test_writing_the_same_scores_again_is_harmless(
        self, connection: Connection, seeded: Dataset
    ) -> None:
        updates = self._updates(connection, seeded)
        self._write_all(connection.writer, updates)
        assert all(r.ok for r in self._write_all(connection.writer, updates))

    def test_empty_write_returns_no_results(self, connection: Connection) -> None:
        assert list(connection.writer.write([])) == []

    def test_unknown_contact_is_a_per_record_failure_not_an_exception(
        self, connection: Connection, seeded: Dataset
    ) -> None:
        """A full batch (``batch_size`` updates) mixing known and unknown contacts.

        The seeded contacts fill the batch up to ``batch_size - 1``, one unknown contact
        sits right after the first known one (a writer that gives up at the first
        failure loses the rest), and more unknown ids fill what is left, so the batch
        takes the path a real batch of that size takes. A writer of ``batch_size`` 1
        gets the two kinds in separate batches.
        """
        known = self._updates(connection, seeded)
        size = connection.writer.batch_size
        if size == 1:
            batches = [[known[0]], [_ghost(0, seeded)]]
        else:
            members = known[: size - 1]
            ghosts = [_ghost(n, seeded) for n in range(size - len(members))]
            batches = [[members[0], ghosts[0], *members[1:], *ghosts[1:]]]
        known_ids = {u.contact.id for u in known}
        for batch in batches:
            assert len(batch) <= size
            results = list(connection.writer.write(batch))
            assert sorted(r.contact_id for r in results) == sorted(u.contact.id for u in batch), (
                "write() must return exactly one result per update in the batch"
            )
            for result in results:
                if result.contact_id in known_ids:
                    assert result.ok, (
                        f"an unknown contact in the batch failed a known one: {result}"
                    )
                else:
                    assert not result.ok, f"a write onto an unknown contact succeeded: {result}"
                    assert isinstance(result.error, str) and result.error, (
                        f"a failed write must say why: {result}"
                    )

    def test_writes_never_create_contacts(self, connection: Connection, seeded: Dataset) -> None:
        ghost = ScoreUpdate(
            Contact(MISSING_CONTACT_ID), _score_for(MISSING_CONTACT_ID, 2, seeded), seeded.as_of
        )
        connection.writer.write([ghost])
        ids = {c.id for p in self._read(connection) for c in p.contacts}
        assert MISSING_CONTACT_ID not in ids
        stored = self.written_values(connection)
        if stored is not None:
            assert MISSING_CONTACT_ID not in stored

    def test_errors_are_typed(self, tmp_path: Path) -> None:
        with pytest.raises(MutualityError):
            broken = self.broken_connection(tmp_path)
            try:
                for _ in broken.source.read(None):
                    pass
            finally:
                broken.close()

    def test_two_syncs_write_every_contact_once(
        self, connection: Connection, seeded: Dataset, state_store: StateStore
    ) -> None:
        from mutuality_core.sync import run_sync

        assert isinstance(state_store, StateStore), (
            "open_state_store() must return a mutuality_core.ports.StateStore"
        )
        first = run_sync(connection, state_store, as_of=seeded.as_of, now=lambda: seeded.as_of)
        assert first.failed == 0 and first.stopped_reason is None
        assert first.contacts_scored == first.written == len(seeded.contacts)
        second = run_sync(connection, state_store, as_of=seeded.as_of, now=lambda: seeded.as_of)
        assert second.written == 0, "nothing changed, so nothing may be written again"
        assert second.contacts_scored == len(seeded.contacts)
