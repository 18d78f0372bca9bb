"""The files adapter passes the adapter contract suite."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from mutuality_adapters.files import connect, plugin
from mutuality_testkit import AdapterContract, Dataset

from mutuality_core.model import Activity
from mutuality_core.ports import Connection

ACTIVITY_HEADER = [
    "id", "contact_id", "occurred_at", "channel", "direction", "outcome", "thread_id",
    "duration_seconds", "automated", "tags",
]  # fmt: skip


def activity_row(a: Activity) -> list[str]:
    return [
        a.id,
        a.contact_id,
        a.occurred_at.isoformat(),
        a.channel.value,
        a.direction.value,
        a.outcome.value,
        a.thread_id or "",
        "" if a.duration_seconds is None else str(a.duration_seconds),
        "true" if a.automated else "false",
        ";".join(sorted(a.tags)),
    ]


class TestFilesAdapterCsv(AdapterContract):
    plugin = plugin
    activity_fields = (
        "occurred_at", "channel", "direction", "outcome", "thread_id", "duration_seconds",
        "automated", "tags",
    )  # fmt: skip
    contact_fields = ("email", "first_name", "last_name", "company")

    def seed(self, dataset: Dataset, tmp_path: Path) -> Connection:
        folder = tmp_path / "crm"
        folder.mkdir()
        with (folder / "contacts.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["id", "email", "first_name", "last_name", "company"])
            for c in dataset.contacts:
                w.writerow([c.id, c.email, c.first_name, c.last_name, c.company])
        with (folder / "activities.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(ACTIVITY_HEADER)
            w.writerows(activity_row(a) for a in dataset.activities)
        return connect(folder)

    def add_activity(self, connection: Connection, activity: Activity) -> None:
        with (connection.source.folder / "activities.csv").open("a", newline="") as f:
            csv.writer(f).writerow(activity_row(activity))

    def broken_connection(self, tmp_path: Path) -> Connection:
        empty = tmp_path / "empty"
        empty.mkdir()
        return connect(empty)  # no contacts.csv: reading raises InvalidInputError

    def written_values(self, connection: Connection):
        path = connection.writer.path
        if not path.exists():
            return {}
        with path.open(newline="", encoding="utf-8") as f:
            return {row["id"]: row for row in csv.DictReader(f)}


class TestFilesAdapterJsonl(TestFilesAdapterCsv):
    """The same suite with contacts.jsonl and activities.jsonl."""

    def seed(self, dataset: Dataset, tmp_path: Path) -> Connection:
        folder = tmp_path / "crm"
        folder.mkdir()
        with (folder / "contacts.jsonl").open("w", encoding="utf-8") as f:
            for c in dataset.contacts:
                record = {"id": c.id, "email": c.email, "first_name": c.first_name,
                          "last_name": c.last_name, "company": c.company}  # fmt: skip
                f.write(json.dumps(record) + "\n")
        with (folder / "activities.jsonl").open("w", encoding="utf-8") as f:
            for a in dataset.activities:
                f.write(json.dumps(dict(zip(ACTIVITY_HEADER, activity_row(a), strict=True))) + "\n")
        return connect(folder)

    def add_activity(self, connection: Connection, activity: Activity) -> None:
        with (connection.source.folder / "activities.jsonl").open("a", encoding="utf-8") as f:
            record = dict(zip(ACTIVITY_HEADER, activity_row(activity), strict=True))
            record["tags"] = sorted(activity.tags)  # lists work as well as ';' text
            record["automated"] = activity.automated
            f.write(json.dumps(record) + "\n")
