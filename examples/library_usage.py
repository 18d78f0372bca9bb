"""Using mutuality as a library: score a history in code, then sync a folder of CSV files.

    python examples/library_usage.py                 # uses a scratch copy of examples/sample_crm
    python examples/library_usage.py --folder crm/   # your own contacts.csv + activities.csv

Everything the CLI does is available like this; the CLI only adds configuration
loading, output formats and exit codes.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mutuality_adapters.files import connect
from mutuality_adapters.sqlite_state import SQLiteStateStore

from mutuality_core import Activity, MutualityScore, ScoringConfig, score_contact
from mutuality_core.sync import RunReport, SyncOptions, run_sync

AS_OF = datetime(2026, 6, 30, tzinfo=timezone.utc)
SAMPLE = Path(__file__).resolve().parent / "sample_crm"


def score_a_history_in_code() -> MutualityScore:
    """Three months of two-way email, each side starting half the threads, plus a meeting."""
    day = timedelta(days=1)
    history = []
    for week in range(12):
        sent = AS_OF - (week + 1) * 7 * day
        first, second = ("outbound", "inbound") if week % 2 else ("inbound", "outbound")
        reply = sent + timedelta(hours=5)
        history.append(Activity(f"a{week}", "ada", sent, "email", first, thread_id=f"t{week}"))
        history.append(Activity(f"b{week}", "ada", reply, "email", second, thread_id=f"t{week}"))
    history.append(
        Activity("m1", "ada", AS_OF - 20 * day, "meeting", "mutual", duration_seconds=1800)
    )
    return score_contact(history, as_of=AS_OF, config=ScoringConfig(), contact_id="ada")


def sync_a_folder(folder: Path, state_path: Path) -> RunReport:
    """One full sync of ``folder``: scores land in ``folder/scores.csv``."""
    connection = connect(folder)
    state = SQLiteStateStore(state_path)
    try:
        return run_sync(
            connection,
            state,
            as_of=AS_OF,
            now=lambda: datetime.now(timezone.utc),
            options=SyncOptions(full=True),
        )
    finally:
        state.close()
        connection.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--folder", type=Path, help="folder to sync (default: a copy of the sample)"
    )
    args = parser.parse_args(argv)

    score = score_a_history_in_code()
    print(f"ada: {score.band} score={score.score:.1f} lean={score.lean:+.2f}")
    for reason in score.reasons:
        print(f"  - {reason}")

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder
        if folder is None:
            folder = Path(scratch) / "crm"
            shutil.copytree(
                SAMPLE, folder, ignore=shutil.ignore_patterns("scores.csv", "rejects.csv")
            )
        report = sync_a_folder(folder, Path(scratch) / "state.sqlite")
        print(
            f"synced {report.contacts_scored} contacts: {report.written} written, "
            f"{report.failed} failed; bands {dict(sorted(report.band_counts.items()))}"
        )


if __name__ == "__main__":
    main()
