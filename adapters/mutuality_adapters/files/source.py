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
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TextIO

import attrs

from mutuality_core.config import ScoringConfig
from mutuality_core.engines import (
    AUTO,
    PYTHON,
    check_engine_choice,
    select_engine,
    usable_engine,
)
from mutuality_core.errors import ConfigError, InvalidInputError
from mutuality_core.model import Contact
from mutuality_core.ports import Cursor, Page, Rejection
from mutuality_core.sync import ScoredRead

from .columnar import activity_chunks, read_contacts_in_columns, score_columnar
from .parallel import can_fork, parallel_supported, score_in_workers
from .records import open_records
from .rows import ACTIVITY_COLUMNS, CONTACT_COLUMNS, RejectLog, parse_activities, parse_contacts
from .writer import replace_file

__all__ = ["AUTO_WORKERS_MIN_BYTES", "REJECTS_COLUMNS", "FilesSource", "check_workers"]

log = logging.getLogger(__name__)

REJECTS_COLUMNS = ("file", "line", "error", "record")
COLUMNAR = "columnar"

#: ``engine="auto"`` reads with the columnar engine from this activities file size on
#: (about 15,000 rows), when ``mutuality[fast]`` is installed.
AUTO_COLUMNAR_MIN_BYTES = 2**20

#: ``workers="auto"`` reads in two processes from this activities file size on
#: (about 180,000 rows): below it, starting workers costs more than it saves.
AUTO_WORKERS_MIN_BYTES = 12 * 2**20


def check_workers(value: int | str) -> int | str:
    """``"auto"`` or a whole number >= 1 (text such as ``"2"`` from settings is accepted)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        if text.isdigit():
            value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"adapters.files.workers must be auto or a whole number >= 1; got {value!r}"
        )
    return value


class FilesSource:
    """Reads ``contacts.csv|jsonl`` and ``activities.csv|jsonl`` from ``folder``.

    With ``skip_invalid`` bad rows are skipped, reported in the pages'
    ``rejected`` and written to ``rejects_path``; without it the first bad row
    raises :class:`InvalidInputError` naming ``file:line``.
    """

    complete_history = True
    unique_activities = True  # duplicate (contact_id, id) rows are rejected while parsing
    default_engine = AUTO

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        skip_invalid: bool = False,
        rejects_path: str | os.PathLike[str] | None = None,
        chunk_size: int = 50_000,
        workers: int | str = "auto",
        engine: str | None = None,
    ) -> None:
        self.folder = Path(folder)
        #: "auto", "python" or "columnar": who reads and scores a complete read
        self.engine = check_engine_choice(engine or self.default_engine)
        #: ``"auto"`` (two processes for a large file where fork is available) or a count.
        self.workers = check_workers(workers)
        self.skip_invalid = skip_invalid
        self.rejects_path = Path(rejects_path) if rejects_path else self.folder / "rejects.csv"
        self.chunk_size = chunk_size
        #: The rows skipped by the last complete read (empty unless ``skip_invalid``).
        self.last_rejections: tuple[Rejection, ...] = ()
        self._known_ids: frozenset[str] | None = None
        self._rejected_ids: frozenset[str] = frozenset()
        #: The rejected rows of the last complete read, for :meth:`write_rejects`.
        self._pending_rejects: RejectLog | None = None

    def locate(self, stem: str) -> Path:
        """The one file named ``stem.csv`` or ``stem.jsonl`` in the folder."""
        if not self.folder.is_dir():
            raise InvalidInputError(
                f"folder {self.folder} does not exist or is not a folder; pass the folder "
                "that holds contacts.csv and activities.csv"
            )
        suffixes = (".csv", ".jsonl", ".parquet") if stem == "activities" else (".csv", ".jsonl")
        found = [p for p in (self.folder / f"{stem}{x}" for x in suffixes) if p.exists()]
        if not found:
            columns = CONTACT_COLUMNS if stem == "contacts" else ACTIVITY_COLUMNS
            raise InvalidInputError(
                f"{self.folder}: no {stem}.csv or {stem}.jsonl; create one with the columns "
                f"{', '.join(columns)} (a header row alone is fine for activities)"
            )
        if len(found) > 1:
            names = " and ".join(p.name for p in found)
            raise InvalidInputError(f"{self.folder}: both {names} exist; keep only one")
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

    def _read_contacts(
        self, contacts_path: Path, *, in_columns: bool = False
    ) -> tuple[RejectLog, dict[str, Contact], dict[str, int]]:
        """The first step of every complete read: parse the contacts, remember their ids.

        ``in_columns``: try pyarrow first (the columnar engine's read; a file it does
        not take as clean is parsed row by row, as always).
        """
        rejects = RejectLog(self.skip_invalid)
        clean = read_contacts_in_columns(contacts_path) if in_columns else None
        rejected_ids: dict[str, int]
        if clean is not None:
            contacts, rejected_ids = clean, {}
        else:
            contacts, rejected_ids = parse_contacts(
                open_records(contacts_path, CONTACT_COLUMNS), rejects
            )
        self._known_ids = frozenset(contacts)
        self._rejected_ids = frozenset(rejected_ids)
        return rejects, contacts, rejected_ids

    def _keep_rejects(self, rejects: RejectLog) -> None:
        """The last step: report what was skipped, and keep it for :meth:`write_rejects`."""
        self.last_rejections = tuple(rejects.rejections)
        self._pending_rejects = rejects

    def _read(self) -> Iterator[Page]:
        contacts_path = self.locate("contacts")
        activities_path = self.locate("activities")
        cursor = self.fingerprint()
        rejects, contacts, rejected_ids = self._read_contacts(contacts_path)
        reported = len(rejects.rejections)
        yield Page(contacts=list(contacts.values()), rejected=tuple(rejects.rejections))
        chunks = None
        if self.engine == COLUMNAR or activities_path.suffix == ".parquet":
            chunks = activity_chunks(
                activities_path,
                contacts,
                rejected_ids,
                contacts_path.name,
                rejects,
                chunk_size=self.chunk_size,
            )
        if chunks is None:
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
        self._keep_rejects(rejects)
        yield Page(rejected=tuple(rejects.rejections[reported:]), cursor=cursor)

    def worker_count(self, activities_path: Path) -> int:
        """How many processes read ``activities_path`` (1: this one, the ordinary read)."""
        if self.workers == "auto":
            if activities_path.stat().st_size < AUTO_WORKERS_MIN_BYTES:
                return 1
            return 2 if parallel_supported() else 1
        assert isinstance(self.workers, int)
        if self.workers > 1 and not can_fork():
            log.warning("workers = %d needs the fork start method outside a daemon process; "
                        "reading in one process", self.workers)  # fmt: skip
            return 1
        return self.workers

    def use_columnar(self, activities_path: Path, engine: str) -> bool:
        """Whether the columnar engine reads and scores ``activities_path``.

        ``engine`` is the run's choice; ``auto`` defers to this source's own setting.
        ``auto`` uses it for a Parquet file or from :data:`AUTO_COLUMNAR_MIN_BYTES`
        when ``mutuality[fast]`` is installed (and says once that it would help when
        it is not); ``columnar`` insists (a missing extra is an error that says what to
        install); ``python`` never uses it. Under ``auto``, a ``workers`` setting above
        1 keeps the row-by-row read in worker processes.
        """
        choice = self.engine if engine == AUTO else engine
        if choice == PYTHON:
            return False
        if choice != AUTO:
            return select_engine(choice, 0) is not None
        if self.workers != "auto" and self.workers != 1:
            return False  # worker processes asked for by name: they read row by row
        size = activities_path.stat().st_size
        large = size >= AUTO_COLUMNAR_MIN_BYTES or activities_path.suffix == ".parquet"
        if not large:
            return False
        return usable_engine(COLUMNAR, size // 60) is not None  # ~60 bytes a row

    def read_scored(
        self,
        *,
        as_of: datetime,
        config: ScoringConfig,
        progress: Callable[[int], None] | None = None,
        engine: str = AUTO,
    ) -> ScoredRead | None:
        """Read and score with the columnar engine or in worker processes; None when one
        process reads row by row (see :meth:`use_columnar` and :meth:`worker_count`).

        Same scores, errors and rejects as :meth:`read` followed by the engine's scoring.
        """
        contacts_path = self.locate("contacts")
        activities_path = self.locate("activities")
        if self.use_columnar(activities_path, engine):
            cursor = self.fingerprint()
            rejects, contacts, rejected_ids = self._read_contacts(contacts_path, in_columns=True)
            log.info("reading %s with the columnar engine", activities_path.name)
            scored = score_columnar(
                activities_path,
                contacts,
                rejected_ids,
                contacts_path.name,
                rejects,
                as_of=as_of,
                config=config,
                progress=progress,
            )
            if scored is not None:
                self._keep_rejects(rejects)
                return attrs.evolve(scored, cursor=cursor)
        workers = self.worker_count(activities_path)
        if workers <= 1:
            return None
        cursor = self.fingerprint()
        rejects, contacts, rejected_ids = self._read_contacts(contacts_path)
        log.info("reading %s in %d worker processes", activities_path.name, workers)
        in_workers = score_in_workers(
            activities_path,
            contacts,
            rejected_ids,
            contacts_path.name,
            skip_invalid=self.skip_invalid,
            workers=workers,
            as_of=as_of,
            config=config,
            progress=progress,
        )
        rejects.rejections.extend(in_workers.rejections)
        rejects.records.extend(in_workers.records)
        self._keep_rejects(rejects)
        return ScoredRead(
            contacts_read=len(contacts),
            activities_read=in_workers.activities,
            scores=in_workers.scores,
            rejections=tuple(rejects.rejections),
            cursor=cursor,
        )

    def write_rejects(self) -> None:
        """Replace the rejects file with the rows the last complete read skipped.

        Only with ``skip_invalid`` (header only when nothing was rejected this
        time). Reading never writes: a connection calls this when a real sync
        finishes, so ``score`` and ``sync --dry-run`` leave the file alone.
        """
        rejects = self._pending_rejects
        if not self.skip_invalid or rejects is None:
            return
        if rejects.records:
            log.warning(
                "skipped %d invalid row(s); they are in %s",
                len(rejects.records),
                self.rejects_path,
            )

        def body(f: TextIO) -> None:
            writer = csv.writer(f)
            writer.writerow(REJECTS_COLUMNS)
            writer.writerows(rejects.records)

        try:
            self.rejects_path.parent.mkdir(parents=True, exist_ok=True)
            replace_file(self.rejects_path, body, durable=False)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the rejects file {self.rejects_path}: {exc.strerror or exc}; "
                "make its folder writable or choose another file (flag --rejects)"
            ) from None

    def listed_contact_ids(self) -> frozenset[str]:
        """The valid contact ids plus those whose row the last read rejected."""
        return self.known_contact_ids() | self._rejected_ids

    def known_contact_ids(self) -> frozenset[str]:
        """The contact ids in the folder (from the last read, or read now)."""
        if self._known_ids is None:
            contacts, _ = parse_contacts(
                open_records(self.locate("contacts"), CONTACT_COLUMNS), RejectLog(True)
            )
            self._known_ids = frozenset(contacts)
        return self._known_ids
