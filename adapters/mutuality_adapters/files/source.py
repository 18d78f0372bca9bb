"""The files source: a folder holding contacts and activities as CSV or JSON Lines.

The folder is the whole truth, so every read is a full read
(``complete_history = True``) and the cursor is only a fingerprint of the files.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from mutuality_core.errors import InvalidInputError
from mutuality_core.ports import Cursor, Page, Rejection

from .records import open_records
from .rows import ACTIVITY_COLUMNS, CONTACT_COLUMNS, RejectLog, parse_activities, parse_contacts

__all__ = ["REJECTS_COLUMNS", "FilesSource"]

log = logging.getLogger(__name__)

REJECTS_COLUMNS = ("file", "line", "error", "record")


class FilesSource:
    """Reads ``contacts.csv|jsonl`` and ``activities.csv|jsonl`` from ``folder``.

    With ``skip_invalid`` bad rows are skipped, reported in the pages'
    ``rejected`` and written to ``rejects_path``; without it the first bad row
    raises :class:`InvalidInputError` naming ``file:line``.
    """

    complete_history = True
    unique_activities = True  # duplicate (contact_id, id) rows are rejected while parsing

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        skip_invalid: bool = False,
        rejects_path: str | os.PathLike[str] | None = None,
        chunk_size: int = 50_000,
    ) -> None:
        self.folder = Path(folder)
        self.skip_invalid = skip_invalid
        self.rejects_path = Path(rejects_path) if rejects_path else self.folder / "rejects.csv"
        self.chunk_size = chunk_size
        #: The rows skipped by the last complete read (empty unless ``skip_invalid``).
        self.last_rejections: tuple[Rejection, ...] = ()
        self._known_ids: frozenset[str] | None = None

    def locate(self, stem: str) -> Path:
        """The one file named ``stem.csv`` or ``stem.jsonl`` in the folder."""
        if not self.folder.is_dir():
            raise InvalidInputError(
                f"folder {self.folder} does not exist or is not a folder; pass the folder "
                "that holds contacts.csv and activities.csv"
            )
        found = [
            p for p in (self.folder / f"{stem}.csv", self.folder / f"{stem}.jsonl") if p.exists()
        ]
        if not found:
            columns = CONTACT_COLUMNS if stem == "contacts" else ACTIVITY_COLUMNS
            raise InvalidInputError(
                f"{self.folder}: no {stem}.csv or {stem}.jsonl; create one with the columns "
                f"{', '.join(columns)} (a header row alone is fine for activities)"
            )
        if len(found) > 1:
            raise InvalidInputError(
                f"{self.folder}: both {stem}.csv and {stem}.jsonl exist; keep only one"
            )
        return found[0]

    def fingerprint(self) -> Cursor:
        """A cursor that changes whenever either input file changes (size or mtime)."""
        parts = []
        for stem in ("contacts", "activities"):
            path = self.locate(stem)
            stat = path.stat()
            parts.append([path.name, stat.st_size, stat.st_mtime_ns])
        digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]
        return json.dumps({"v": 1, "files": digest})

    def read(self, cursor: Cursor | None) -> Iterator[Page]:
        """A full read whatever ``cursor`` says: one page of contacts, then activity chunks."""
        return self._read()

    def _read(self) -> Iterator[Page]:
        contacts_path = self.locate("contacts")
        activities_path = self.locate("activities")
        cursor = self.fingerprint()
        rejects = RejectLog(self.skip_invalid)
        contacts, rejected_ids = parse_contacts(
            open_records(contacts_path, CONTACT_COLUMNS), rejects
        )
        self._known_ids = frozenset(contacts)
        reported = len(rejects.rejections)
        yield Page(contacts=list(contacts.values()), rejected=tuple(rejects.rejections))
        chunks = parse_activities(
            open_records(activities_path, ACTIVITY_COLUMNS),
            contacts,
            rejected_ids,
            contacts_path.name,
            rejects,
            chunk_size=self.chunk_size,
        )
        for chunk in chunks:
            fresh = tuple(rejects.rejections[reported:])
            reported = len(rejects.rejections)
            yield Page(activities=chunk, rejected=fresh)
        self.last_rejections = tuple(rejects.rejections)
        if self.skip_invalid:
            self._write_rejects(rejects)
        yield Page(rejected=tuple(rejects.rejections[reported:]), cursor=cursor)

    def _write_rejects(self, rejects: RejectLog) -> None:
        """Replace the rejects file (header only when nothing was rejected this time)."""
        if rejects.records:
            log.warning(
                "skipped %d invalid row(s); they are in %s",
                len(rejects.records),
                self.rejects_path,
            )
        self.rejects_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.rejects_path.with_name(f".{self.rejects_path.name}.{os.getpid()}.tmp")
        with temporary.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(REJECTS_COLUMNS)
            writer.writerows(rejects.records)
        os.replace(temporary, self.rejects_path)

    def known_contact_ids(self) -> frozenset[str]:
        """The contact ids in the folder (from the last read, or read now)."""
        if self._known_ids is None:
            contacts, _ = parse_contacts(
                open_records(self.locate("contacts"), CONTACT_COLUMNS), RejectLog(True)
            )
            self._known_ids = frozenset(contacts)
        return self._known_ids
