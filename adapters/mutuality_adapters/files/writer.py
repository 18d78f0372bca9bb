"""The scores file: the full current table of scores, one row per contact.

The engine hands over only contacts whose score changed, so the writer keeps
every row it (or an earlier run) wrote and replaces the file atomically after
each batch: a run killed at any moment leaves either the old or the new file,
never half of one, and never a row the state store does not know about.
"""

from __future__ import annotations

import csv
import errno
import io
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import TextIO

from mutuality_core.errors import ConfigError
from mutuality_core.explain import join_reasons
from mutuality_core.ports import ScoreUpdate, StoredScore, WriteResult

__all__ = ["SCORE_COLUMNS", "OutputError", "ScoresFileWriter"]

log = logging.getLogger(__name__)


class OutputError(ConfigError):
    """An output file (scores or rejects) cannot be read or written (permission, disk full).

    A ConfigError (exit code 2): the fix is in the settings or the folder, and the
    message names the file, the reason and the next step.
    """


#: Column names that map onto contact properties in HubSpot's and Salesforce's own
#: CSV imports (``id`` = record id, ``email`` as the alternative match key).
SCORE_COLUMNS = (
    "id",
    "email",
    "score",
    "band",
    "lean",
    "strength",
    "confidence",
    "reasons",
    "scored_at",
    "algorithm",
    "activity_count",
    "last_activity_at",
)


def _utc_text(value: datetime | None) -> str:
    """``2026-03-01T12:00:00Z``: whole seconds in UTC, as CRM imports expect."""
    if value is None:
        return ""
    if value.tzinfo is timezone.utc:  # the common case: "...T12:00:00+00:00" less the offset
        return value.isoformat(timespec="seconds")[:-6] + "Z"
    return value.astimezone(timezone.utc).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def score_row(update: ScoreUpdate, scored_at: str | None = None) -> list[str]:
    """One update as a row of :data:`SCORE_COLUMNS` (``scored_at`` preformatted, if given)."""
    score = update.score
    return [
        update.contact.id,
        update.contact.email or "",
        str(round(score.score)),
        score.band._value_,
        f"{score.lean:.2f}",
        str(round(score.strength)),
        f"{score.confidence:.2f}",
        join_reasons(score.reasons),
        _utc_text(update.scored_at) if scored_at is None else scored_at,
        score.algorithm,
        str(score.activity_count),
        _utc_text(score.last_activity_at),
    ]


_WIDTH = len(SCORE_COLUMNS)
#: Rows turned into text and written at a time when the scores file is replaced.
_ROWS_PER_WRITE = 5_000
_PLAIN_COMMAS = _WIDTH - 1


def _csv_field(field: str) -> str:
    """One field as the excel dialect writes it: quoted (quotes doubled) when it must be."""
    if "," in field or '"' in field or "\n" in field or "\r" in field:
        return '"' + field.replace('"', '""') + '"'
    return field


def _csv_text(rows: Iterable[list[str]]) -> str:
    """Rows as ``csv.writer`` writes them (excel dialect), byte for byte, but faster.

    Joined with commas, a row that needs no quoting has exactly eleven and no quote
    or line break, and then the join is what ``csv.writer`` would write; a row that
    does (reasons with a comma, say) has its fields quoted one by one. ``csv.writer``
    checks every character of every field in a loop of its own; this checks each
    line with four C scans: a third of the time for a 50,000-row scores file.
    Rows of another width (never written by this module) go through ``csv.writer``.
    """
    lines: list[str] = []
    add = lines.append
    quoted = io.StringIO()
    quote = csv.writer(quoted).writerow
    field = _csv_field
    for row in rows:
        if len(row) != _WIDTH:
            quoted.seek(0)
            quoted.truncate()
            quote(row)
            add(quoted.getvalue()[:-2])  # without the writer's own "\r\n"
            continue
        line = ",".join(row)
        if (
            line.count(",") == _PLAIN_COMMAS
            and '"' not in line
            and "\n" not in line
            and "\r" not in line
        ):
            add(line)
        else:
            add(",".join([field(f) for f in row]))
    if not lines:
        return ""
    lines.append("")
    return "\r\n".join(lines)


class ScoresFileWriter:
    """Upserts score rows by contact id into ``path`` (CSV). Never adds unknown contacts.

    ``known_ids`` returns the ids of the contacts that exist in the source; an
    update for any other id fails for that record alone, and rows of ids the
    source no longer lists are dropped when the file is next written.
    ``listed_ids`` (default: ``known_ids``) may add ids whose contact row was
    rejected this time: their rows stay until the row is fixed or removed.
    ``needs_full_rewrite`` is True when the file holds no scores (missing, empty,
    header only), so the engine rewrites every score instead of trusting its
    record of what was written before. ``on_finish`` runs at the end of a real
    sync (the engine calls :meth:`finish`; ``score`` and ``--dry-run`` do not).
    """

    #: ``write`` reads each update once and keeps only its row (a OnePassWriter): the
    #: sync builds each score object as it is read, not a whole batch of them at once
    reads_updates_once = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        known_ids: Callable[[], frozenset[str]],
        *,
        batch_size: int = 100_000,
        listed_ids: Callable[[], frozenset[str]] | None = None,
        on_finish: Callable[[], None] | None = None,
        also_writable: Sequence[tuple[str, Path]] = (),
    ) -> None:
        self.path = Path(path)
        self.batch_size = batch_size
        self._known_ids = known_ids
        self._listed_ids = listed_ids or known_ids
        self._on_finish = on_finish
        #: other files written at the end of a sync (setting name, path), checked up front too
        self._also_writable = tuple(also_writable)
        self._rows: dict[str, list[str]] | None = None
        self._ids: set[str] | None = None  # the file's ids from one full scan, if one was made
        if self.path.exists() and self.path.is_dir():
            raise ConfigError(
                f"output {self.path} is a folder; give a file name such as scores.csv"
            )
        if not self.path.parent.is_dir():
            raise ConfigError(f"output folder {self.path.parent} does not exist; create it first")
        self._check_header()

    @property
    def destination(self) -> str:
        """Where the scores go, for messages."""
        return str(self.path)

    @property
    def needs_full_rewrite(self) -> bool:
        """True when the file holds no score rows (missing, 0 bytes, header only, damaged).

        Read by the engine before it writes, so this is also where an output
        folder that cannot be written stops the run, before any work is lost.
        """
        self.check_writable()
        if self._rows is not None:
            return not self._rows
        return not self._scan_ids(first_only=True)

    def stored_ids(self) -> frozenset[str]:
        """The contact ids that have a row in the file now.

        An engine that trusts its record of written scores can drop the ids
        missing here, so a row deleted by hand is written again.
        """
        if self._rows is not None:
            return frozenset(self._rows)
        return frozenset(self._scan_ids())

    def stored_scores(self) -> Iterator[StoredScore]:
        """Every row of the file as the score fields it holds now.

        The engine compares them with what it wrote (a row edited or deleted by hand
        is written again) and ``mutuality verify`` counts the differences. The scan
        also serves :meth:`stored_ids`, so a sync reads the file once.
        """
        if self._rows is not None:
            read = _stored_reader(SCORE_COLUMNS)
            for contact_id, row in self._rows.items():
                yield read(contact_id, row)
            return
        ids: set[str] = set()
        try:
            if not self.path.exists():
                self._ids = ids
                return
            with _open_rows(self.path) as reader:
                header = next(reader, None) or []
                if "id" not in header:
                    self._ids = ids
                    return
                column = header.index("id")
                read = _stored_reader(header)
                for row in reader:
                    if len(row) > column and row[column]:
                        ids.add(row[column])
                        yield read(row[column], row)
        except OSError as exc:
            raise _os_failure("read", self.path, exc) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            log.warning("%s is damaged (%s); rewriting every score", self.path, exc)
            ids = set()
        self._ids = ids

    def _scan_ids(self, *, first_only: bool = False) -> set[str]:
        """The ids in the file without keeping its rows (a no-change sync loads nothing).

        A full scan is kept, so that a sync reads the file for its ids once.
        """
        if self._ids is not None and not first_only:
            return self._ids
        ids: set[str] = set()
        try:
            if not self.path.exists():
                return ids
            with _open_rows(self.path) as reader:
                header = next(reader, None) or []
                if "id" not in header:
                    return ids
                column = header.index("id")
                for row in reader:
                    if len(row) > column and row[column]:
                        ids.add(row[column])
                        if first_only:
                            break
        except OSError as exc:
            raise _os_failure("read", self.path, exc) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            log.warning("%s is damaged (%s); rewriting every score", self.path, exc)
            ids = set()
        if not first_only:
            self._ids = ids
        return ids

    def check_writable(self) -> None:
        """ConfigError when the output (or rejects) folder cannot take a new file (read-only)."""
        for setting, path in (("output", self.path), *self._also_writable):
            folder = path.parent
            while not folder.exists() and folder != folder.parent:
                folder = folder.parent  # a missing folder is created where its parent allows
            if not os.access(folder, os.W_OK | os.X_OK):
                raise ConfigError(
                    f"cannot write {path}: the folder {folder} is not writable; make it "
                    f"writable or choose another file (flag --{setting})"
                )

    def _check_header(self) -> None:
        """Refuse to replace an existing file that is not a scores file (nothing is lost)."""
        if not self.path.is_file():
            return
        header = self._read_header()
        if header is not None and not ("id" in header and "score" in header):
            raise ConfigError(
                f"output {self.path} exists but is not a scores file (its header has no id and "
                "score columns); choose another output file or remove it"
            )

    def _read_header(self) -> list[str] | None:
        """The header row, or None for an empty file."""
        try:
            with _open_rows(self.path, errors="replace") as reader:
                return next(reader, None)
        except csv.Error:
            return []
        except OSError as exc:
            raise _os_failure("read", self.path, exc) from None

    def _load(self) -> dict[str, list[str]]:
        if self._rows is not None:
            return self._rows
        rows: dict[str, list[str]] = {}
        try:
            if self.path.exists():
                with _open_rows(self.path) as reader:
                    header = next(reader, None)
                    if header is not None and not ("id" in header and "score" in header):
                        raise ConfigError(
                            f"output {self.path} exists but is not a scores file (no id and "
                            "score columns); choose another output file or remove it"
                        )
                    header = header or []
                    index = [header.index(c) if c in header else None for c in SCORE_COLUMNS]
                    for row in reader:
                        if row:
                            values = [
                                row[i] if i is not None and i < len(row) else "" for i in index
                            ]
                            if values[0]:
                                rows[values[0]] = values
        except OSError as exc:
            raise _os_failure("read", self.path, exc) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            log.warning("%s is damaged (%s); rewriting every score", self.path, exc)
            rows = {}
        # once, as the rows come in: writes add only known ids, and the listed ids stay put
        self._drop_unlisted(rows)
        self._rows = rows
        return rows

    def write(self, updates: Sequence[ScoreUpdate]) -> Sequence[WriteResult]:
        if not updates:
            return []
        rows = self._load()
        known = self._known_ids()
        results = []
        stamps: dict[datetime, str] = {}  # a run's updates share one scored_at
        for update in updates:
            contact_id = update.contact.id
            if contact_id not in known:
                results.append(
                    WriteResult(
                        contact_id,
                        False,
                        f"contact {contact_id!r} is not in the contacts file; scores are only "
                        "written onto existing contacts",
                    )
                )
                continue
            stamp = stamps.get(update.scored_at)
            if stamp is None:
                stamp = stamps[update.scored_at] = _utc_text(update.scored_at)
            rows[contact_id] = score_row(update, stamp)
            results.append(WriteResult(contact_id, True))
        self._flush(rows)
        return results

    def _drop_unlisted(self, rows: dict[str, list[str]]) -> None:
        """Remove rows of contacts the source no longer lists."""
        listed = self._listed_ids()
        gone = [contact_id for contact_id in rows if contact_id not in listed]
        for contact_id in gone:
            del rows[contact_id]
        if gone:
            log.info("%s: dropped %d row(s) of contacts no longer listed", self.path, len(gone))

    def _flush(self, rows: dict[str, list[str]]) -> None:
        def body(f: TextIO) -> None:
            csv.writer(f).writerow(SCORE_COLUMNS)
            values = iter(rows.values())
            # in parts: the text of 50,000 rows at once (and its lines) cost ~35 MiB more
            while part := list(islice(values, _ROWS_PER_WRITE)):
                f.write(_csv_text(part))

        try:
            if self.path.suffix == ".parquet":
                from .parquet import write_scores

                write_scores(self.path, SCORE_COLUMNS, rows.values())
            else:
                replace_file(self.path, body, durable=True)
        except OSError as exc:
            raise _os_failure("write", self.path, exc) from None

    def finish(self) -> None:
        """End of a real sync: drop rows of contacts no longer listed, then ``on_finish``.

        Rows loaded for a write were pruned as they loaded and written since; a file
        no write touched is rewritten only when it holds an unlisted id.
        """
        if self._rows is None and self.path.exists():
            listed = self._listed_ids()
            if any(i not in listed for i in self._scan_ids()):
                self._flush(self._load())
        if self._on_finish is not None:
            self._on_finish()

    def close(self) -> None:
        """Nothing to flush: every ``write`` already replaced the file."""


@contextmanager
def _open_rows(path: Path, errors: str = "strict") -> Iterator[Iterator[list[str]]]:
    """The scores file's rows as text, header first: CSV, or Parquet (``scores.parquet``)."""
    if path.suffix == ".parquet":
        from .parquet import read_scores

        yield read_scores(path)
        return
    with path.open("r", encoding="utf-8-sig", errors=errors, newline="") as f:
        yield csv.reader(f)


def replace_file(path: Path, body: Callable[[TextIO], None], *, durable: bool) -> None:
    """Write ``path`` through a temporary file and a rename, so no reader sees half of it.

    ``durable`` also syncs it to disk first. An error removes the temporary file
    and propagates; the previous ``path`` is left as it was.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8", newline="") as f:
            body(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _os_failure(action: str, path: Path, exc: OSError) -> OutputError:
    """An OSError as a typed error that says what to do next."""
    reason = exc.strerror or str(exc)
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        step = "make the folder writable or choose another output (flag --output)"
    elif exc.errno == errno.ENOSPC:
        step = "free some disk space and run again (the previous file is unchanged)"
    else:
        step = "fix the cause and run again (the previous file is unchanged)"
    return OutputError(f"cannot {action} {path}: {reason}; {step}")


def _number(text: str | None) -> float | None:
    try:
        return None if not text else float(text)
    except ValueError:
        return None


_STORED_COLUMNS = ("score", "band", "lean", "strength", "confidence", "reasons")


def _stored_reader(header: Sequence[str]) -> Callable[[str, Sequence[str]], StoredScore]:
    """Rows of a file with ``header`` to StoredScore (``scored_at`` is not compared or parsed)."""
    at = [header.index(c) if c in header else None for c in _STORED_COLUMNS]
    width = max((i for i in at if i is not None), default=-1) + 1
    i_score, i_band, i_lean, i_strength, i_confidence, i_reasons = at
    number = _number

    def cell(row: Sequence[str], index: int | None) -> str:
        return row[index] if index is not None and len(row) >= width else ""

    def read(contact_id: str, row: Sequence[str]) -> StoredScore:
        return StoredScore(
            contact_id,
            number(cell(row, i_score)),
            cell(row, i_band) or None,
            number(cell(row, i_lean)),
            number(cell(row, i_strength)),
            number(cell(row, i_confidence)),
            cell(row, i_reasons) or None,
        )

    present = [i for i in at if i is not None]
    if len(present) < len(at):
        return read
    j_score, j_band, j_lean, j_strength, j_confidence, j_reasons = present

    def read_whole(contact_id: str, row: Sequence[str]) -> StoredScore:
        """Every column present (the file as this writer writes it): no checks per cell."""
        if len(row) < width:
            return read(contact_id, row)
        return StoredScore(
            contact_id,
            number(row[j_score]),
            row[j_band] or None,
            number(row[j_lean]),
            number(row[j_strength]),
            number(row[j_confidence]),
            row[j_reasons] or None,
        )

    return read_whole
