"""What the single-process path publishes for a folder: the oracle the Spark tests compare to."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from mutuality_adapters.files import connect
from mutuality_adapters.files.writer import score_row

from mutuality_core import score_activities, score_contact
from mutuality_core.model import Activity, Contact, MutualityScore
from mutuality_core.ports import ScoreUpdate

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def read_folder(folder: Path) -> tuple[list[Contact], list[Activity]]:
    connection = connect(folder, workers=1)
    try:
        contacts: list[Contact] = []
        activities: list[Activity] = []
        for page in connection.source.read(None):
            contacts.extend(page.contacts)
            activities.extend(page.activities)
        return contacts, activities
    finally:
        connection.close()


def core_scores(folder: Path, as_of: datetime) -> dict[str, tuple[Contact, MutualityScore]]:
    """score_activities for every contact with activities, score_contact([]) for the others."""
    contacts, activities = read_folder(folder)
    scored = {s.contact_id: s for s in score_activities(activities, as_of=as_of)}
    return {
        c.id: (c, scored.get(c.id) or score_contact([], as_of=as_of, contact_id=c.id))
        for c in contacts
    }


def published_rows(folder: Path, as_of: datetime) -> dict[str, list[str]]:
    """Each contact's scores.csv row, as the files writer formats it."""
    return {
        cid: score_row(ScoreUpdate(contact, score, as_of))
        for cid, (contact, score) in core_scores(folder, as_of).items()
    }


def utc_text(micros: int | None) -> str:
    if micros is None:
        return ""
    moment = datetime.fromtimestamp(micros / 1_000_000, timezone.utc)
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def spark_rows(frame: object) -> dict[str, list[str]]:
    """A score_dataframe result as scores.csv text rows (times read as epoch micros)."""
    from pyspark.sql import functions as F

    columns = [
        F.unix_micros(c).alias(c) if c in ("scored_at", "last_activity_at") else F.col(c)
        for c in frame.columns  # type: ignore[attr-defined]
    ]
    rows = {}
    for r in frame.select(*columns).collect():  # type: ignore[attr-defined]
        rows[r["id"]] = [
            r["id"],
            r["email"] or "",
            str(r["score"]),
            r["band"],
            f"{r['lean']:.2f}",
            str(r["strength"]),
            f"{r['confidence']:.2f}",
            r["reasons"],
            utc_text(r["scored_at"]),
            r["algorithm"],
            str(r["activity_count"]),
            utc_text(r["last_activity_at"]),
        ]
    return rows
