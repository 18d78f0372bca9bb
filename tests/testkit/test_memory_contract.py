"""The in-memory CRM (an incremental source) passes the suite: the kit works for CRMs too."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from mutuality_testkit import AdapterContract, Dataset
from mutuality_testkit.memory import MemoryCrm

from mutuality_core.errors import QuotaExhaustedError
from mutuality_core.model import Activity
from mutuality_core.ports import Connection, WriteResult


class TestMemoryCrm(AdapterContract):
    activity_fields = ("occurred_at", "channel", "direction", "outcome", "tags", "automated")

    def seed(self, dataset: Dataset, tmp_path: Path) -> Connection:
        self.crm = MemoryCrm(page_size=4, batch_size=2)
        for c in dataset.contacts:
            self.crm.add_contact(
                c.id, email=c.email, first_name=c.first_name, last_name=c.last_name,
                company=c.company,
            )  # fmt: skip
        for a in dataset.activities:
            self.crm.add_activity(a)
        return self.crm.connection()

    def add_activity(self, connection: Connection, activity: Activity) -> None:
        self.crm.add_activity(activity)

    def broken_connection(self, tmp_path: Path) -> Connection:
        crm = MemoryCrm()
        crm.add_contact("someone")
        crm.quota_after_pages = 0  # the API allowance is used up before the first page
        return crm.connection()

    def written_values(self, connection: Connection):
        return self.crm.scores


def test_the_suite_catches_a_writer_that_raises_for_unknown_contacts(tmp_path):
    """The kit is not a rubber stamp: a broken adapter fails it."""

    class Strict(TestMemoryCrm):
        def seed(self, dataset, tmp_path):
            connection = super().seed(dataset, tmp_path)
            crm = self.crm
            real_write = connection.writer.write

            class Raising:
                batch_size = 2

                def write(self, updates):
                    if any(u.contact.id not in crm.contacts for u in updates):
                        raise QuotaExhaustedError("pretend the CRM blew up on a 404")
                    return real_write(updates)

                def close(self):
                    pass

            import attrs

            return attrs.evolve(connection, writer=Raising())

    suite = Strict()
    dataset = suite.dataset()
    connection = suite.seed(dataset, tmp_path)
    with pytest.raises(QuotaExhaustedError):
        suite.test_unknown_contact_is_a_per_record_failure_not_an_exception(connection, dataset)


def _suite_with(source=None, writer=None, *, batch_size: int = 2) -> TestMemoryCrm:
    """The memory CRM's suite with its source or writer swapped for a faulty one."""

    class Faulty(TestMemoryCrm):
        def seed(self, dataset, tmp_path):
            connection = super().seed(dataset, tmp_path)
            self.crm.batch_size = batch_size
            return attrs.evolve(
                connection,
                source=source(connection.source) if source else connection.source,
                writer=writer(connection.writer) if writer else connection.writer,
            )

    return Faulty()


class EagerSource:
    """Fetches every page inside read() and hands back an iterator over the list."""

    complete_history = False

    def __init__(self, real):
        self.real = real

    def read(self, cursor):
        return iter(list(self.real.read(cursor)))


def test_the_laziness_check_fails_a_source_that_reads_everything_in_read(tmp_path):
    suite = _suite_with(source=EagerSource)
    dataset = suite.dataset()
    connection = suite.seed(dataset, tmp_path)
    pages = connection.source.read(None)
    assert iter(pages) is pages  # an iterator: the old check let it through
    with pytest.raises(AssertionError, match="before the first one was asked for"):
        suite.test_read_returns_a_lazy_iterator_of_pages(suite.seed(dataset, tmp_path), dataset)


def test_the_laziness_check_passes_the_lazy_memory_source(tmp_path):
    suite = TestMemoryCrm()
    dataset = suite.dataset()
    suite.test_read_returns_a_lazy_iterator_of_pages(suite.seed(dataset, tmp_path), dataset)


class GivesUpAtFirstFailure:
    """A writer that stops at the first refused record and fails the rest of the batch."""

    def __init__(self, real):
        self.real = real
        self.batch_sizes: list[int] = []

    @property
    def batch_size(self):
        return self.real.batch_size

    def write(self, updates):
        self.batch_sizes.append(len(updates))
        results = []
        for index, update in enumerate(updates):
            [result] = self.real.write([update])
            results.append(result)
            if not result.ok:
                results += [
                    WriteResult(u.contact.id, False, "not tried") for u in updates[index + 1 :]
                ]
                break
        return results

    def close(self):
        pass


def test_the_unknown_contact_check_writes_a_full_batch_and_catches_a_writer_that_gives_up(
    tmp_path,
):
    writers = []

    def gives_up(real):
        writers.append(GivesUpAtFirstFailure(real))
        return writers[-1]

    suite = _suite_with(writer=gives_up, batch_size=9)
    dataset = suite.dataset()
    connection = suite.seed(dataset, tmp_path)
    with pytest.raises(AssertionError, match="failed a known one"):
        suite.test_unknown_contact_is_a_per_record_failure_not_an_exception(connection, dataset)
    assert writers[-1].batch_sizes == [9]  # the writer's batch_size, not two


@pytest.mark.parametrize("batch_size", [1, 2, 5, 6, 40])
def test_the_unknown_contact_check_fits_any_batch_size(tmp_path, batch_size):
    sizes = []

    class Recording:
        def __init__(self, real):
            self.real = real

        @property
        def batch_size(self):
            return self.real.batch_size

        def write(self, updates):
            sizes.append(len(updates))
            return self.real.write(updates)  # the memory writer refuses batches over its size

        def close(self):
            pass

    suite = _suite_with(writer=Recording, batch_size=batch_size)
    dataset = suite.dataset()
    connection = suite.seed(dataset, tmp_path)
    suite.test_unknown_contact_is_a_per_record_failure_not_an_exception(connection, dataset)
    assert sizes == ([1, 1] if batch_size == 1 else [batch_size])
    ghosts = [c for c in suite.crm.scores if c not in suite.crm.contacts]
    known_in_batch = 1 if batch_size == 1 else min(batch_size - 1, len(dataset.contacts))
    assert not ghosts and len(suite.crm.scores) == known_in_batch
