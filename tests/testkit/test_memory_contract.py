"""The in-memory CRM (an incremental source) passes the suite: the kit works for CRMs too."""

from __future__ import annotations

from pathlib import Path

import pytest
from mutuality_testkit import AdapterContract, Dataset
from mutuality_testkit.memory import MemoryCrm

from mutuality_core.errors import QuotaExhaustedError
from mutuality_core.model import Activity
from mutuality_core.ports import Connection


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
