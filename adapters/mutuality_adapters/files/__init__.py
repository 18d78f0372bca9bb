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
``engine``      auto     who reads and scores: ``columnar`` (numpy +
                         pyarrow, ``mutuality[fast]``), ``python`` (the row
                         parser and the core), or auto: columnar from 1 MiB
                         of activities when installed
=============== ======== ===================================================

``activities.parquet`` may stand in for ``activities.csv|jsonl`` and ``output`` may
name a ``.parquet`` file (both need ``mutuality[fast]``).
"""

from __future__ import annotations

import logging
import os
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

log = logging.getLogger(__name__)

SETTINGS = ("path", "output", "skip_invalid", "rejects", "workers", "engine")
#: Settings meant for other adapters that reach every adapter through a shared
#: ``MUTUALITY_<KEY>`` variable; they are ignored here with a warning, not refused.
_OTHER_ADAPTERS_SETTINGS = ("max_requests",)
#: The input file names a folder may hold; no output may take one of them.
_INPUT_NAMES = (
    "contacts.csv",
    "contacts.jsonl",
    "activities.csv",
    "activities.jsonl",
    "activities.parquet",
)

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
    engine: str = "auto",
) -> Connection:
    """Open a folder as a source and a scores file as the writer (library entry point).

    ``engine``: who reads and scores (``auto``, ``python`` or ``columnar``); a run's
    own choice (``mutuality sync --engine``) takes precedence unless it is ``auto``.
    """
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise InvalidInputError(
            f"folder {folder} does not exist or is not a folder; pass the folder that holds "
            "contacts.csv and activities.csv"
        )
    output_path = Path(output).expanduser().resolve() if output else folder / "scores.csv"
    rejects_path = Path(rejects).expanduser().resolve() if rejects else folder / "rejects.csv"
    _check_outputs(folder, output_path, rejects_path)
    source = FilesSource(
        folder,
        skip_invalid=skip_invalid,
        rejects_path=rejects_path,
        workers=workers,
        engine=engine,
    )
    # the rejects file is written when a real sync finishes, never by score or --dry-run
    writer = ScoresFileWriter(
        output_path,
        source.known_contact_ids,
        listed_ids=source.listed_contact_ids,
        on_finish=source.write_rejects,
        also_writable=[("rejects", rejects_path)] if skip_invalid else [],
    )
    target = f"files:{folder}"
    if output_path != folder / "scores.csv":
        target += f",output={output_path}"  # another output file has its own written values
    return Connection(target=target, source=source, writer=writer, close=writer.close)


def _same_file(a: Path, b: Path) -> bool:
    """Same path, or two names (hard or symbolic links) of one existing file."""
    if a == b:
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _first_line(path: Path) -> str:
    try:
        with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as f:
            return f.readline(4096).strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _check_outputs(folder: Path, output: Path, rejects: Path) -> None:
    """Refuse an output or rejects path that would replace an input file or each other.

    Both files are replaced whole on every sync, so a slip of the keyboard
    (``--output DIR/activities.csv``) would otherwise destroy the data it reads.
    """
    inputs = [folder / name for name in _INPUT_NAMES]
    defaults = {"output": folder / "scores.csv", "rejects": folder / "rejects.csv"}
    for setting, path in (("output", output), ("rejects", rejects)):
        for source in inputs:
            if _same_file(path, source):
                raise ConfigError(
                    f"adapters.files.{setting} {path} is the input file {source}; it would be "
                    f"replaced by the {setting} table. Choose another file "
                    f"(default: {defaults[setting]})"
                )
    if rejects.is_file() and rejects.stat().st_size:
        first = _first_line(rejects)
        if first != ",".join(REJECTS_COLUMNS):
            raise ConfigError(
                f"adapters.files.rejects {rejects} exists but is not a rejects file (its first "
                f"line is not {','.join(REJECTS_COLUMNS)}); choose another file or remove it"
            )
    if _same_file(output, rejects):
        raise ConfigError(
            f"adapters.files.output and adapters.files.rejects are the same file {output}; "
            "give them different names (defaults: scores.csv and rejects.csv)"
        )


def check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings this adapter knows; an unknown key (a typo) is a ConfigError."""
    settings = dict(settings)
    for key in _OTHER_ADAPTERS_SETTINGS:
        if key in settings:
            log.warning("the %s setting does not apply to the files adapter; ignored", key)
            del settings[key]
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ConfigError(
            f"unknown files setting(s): {', '.join(unknown)}; allowed: {', '.join(SETTINGS)}"
        )
    return settings


class FilesPlugin:
    """The ``files`` entry of the ``mutuality.adapters`` entry-point group."""

    name = "files"
    summary = "CSV/JSON Lines files in a folder; scores written to a CSV (no account needed)"
    settings = SETTINGS

    def connect(self, settings: Mapping[str, Any], *, environ: Mapping[str, str]) -> Connection:
        settings = check_settings(settings)
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
            engine=str(settings.get("engine") or "auto").strip().lower(),
        )


plugin = FilesPlugin()
