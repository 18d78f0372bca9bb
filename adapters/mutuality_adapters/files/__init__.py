"""The files adapter (the embedded default): contacts and activities from a folder, scores to CSV.

Settings (CLI flags, ``MUTUALITY_FILES_*`` environment variables or the
``[adapters.files]`` table of ``mutuality.toml``):

=============== ======== ===================================================
key             default  meaning
=============== ======== ===================================================
``path``        required folder holding ``contacts.csv|jsonl`` and
                         ``activities.csv|jsonl``
``output``      DIR/     the scores file (CSV), kept as the full current
                scores.csv table of scores, one row per contact
``skip_invalid`` false   skip bad rows (counted, reported, and written to
                         ``rejects``) instead of stopping at the first one
``rejects``     DIR/     where skipped rows go, with the reason
                rejects.csv
``workers``     auto     processes that read and score a large activities
                         file (auto: 2 from 12 MiB where fork is available;
                         1: always in this process)
=============== ======== ===================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mutuality_core.errors import ConfigError, InvalidInputError
from mutuality_core.ports import Connection

from .parallel import WorkerFailedError
from .source import REJECTS_COLUMNS, FilesSource, check_workers
from .writer import SCORE_COLUMNS, ScoresFileWriter

__all__ = [
    "REJECTS_COLUMNS",
    "SCORE_COLUMNS",
    "FilesPlugin",
    "FilesSource",
    "ScoresFileWriter",
    "WorkerFailedError",
    "connect",
    "plugin",
]

SETTINGS = ("path", "output", "skip_invalid", "rejects", "workers")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"adapters.files.{key} must be true or false; got {value!r}")


def connect(
    path: str | Path,
    *,
    output: str | Path | None = None,
    skip_invalid: bool = False,
    rejects: str | Path | None = None,
    workers: int | str = "auto",
) -> Connection:
    """Open a folder as a source and a scores file as the writer (library entry point)."""
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise InvalidInputError(
            f"folder {folder} does not exist or is not a folder; pass the folder that holds "
            "contacts.csv and activities.csv"
        )
    output_path = Path(output).expanduser().resolve() if output else folder / "scores.csv"
    rejects_path = Path(rejects).expanduser().resolve() if rejects else folder / "rejects.csv"
    source = FilesSource(
        folder, skip_invalid=skip_invalid, rejects_path=rejects_path, workers=workers
    )
    writer = ScoresFileWriter(output_path, source.known_contact_ids)
    target = f"files:{folder}"
    if output_path != folder / "scores.csv":
        target += f",output={output_path}"  # another output file has its own written values
    return Connection(target=target, source=source, writer=writer, close=writer.close)


class FilesPlugin:
    """The ``files`` entry of the ``mutuality.adapters`` entry-point group."""

    name = "files"
    summary = "CSV/JSON Lines files in a folder; scores written to a CSV (no account needed)"
    settings = SETTINGS

    def connect(self, settings: Mapping[str, Any], *, environ: Mapping[str, str]) -> Connection:
        path = settings.get("path")
        if not path:
            raise ConfigError(
                "adapters.files.path is required: the folder holding contacts.csv and "
                "activities.csv (flag --path, env MUTUALITY_FILES_PATH)"
            )
        return connect(
            path,
            output=settings.get("output") or None,
            skip_invalid=_flag(settings.get("skip_invalid"), "skip_invalid"),
            rejects=settings.get("rejects") or None,
            workers=check_workers(settings.get("workers") or "auto"),
        )


plugin = FilesPlugin()
