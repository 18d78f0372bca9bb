"""Exit codes: the one place that turns a typed library error into a documented number.

Scheduled jobs branch on these codes (retry later on 3 or 4, page someone on 2),
so they are part of the public interface and must not drift from docs/cli.md.
"""

from __future__ import annotations

from mutuality_core.errors import (
    ConfigError,
    CrmUnavailableError,
    InvalidInputError,
    LockHeldError,
    MissingDependencyError,
    StateError,
)

OK = 0
RECORDS_FAILED = 1
USAGE = 2
CRM_UNAVAILABLE = 3
LOCK_HELD = 4
INTERRUPTED = 130  # 128 + SIGINT, as shells report it
TERMINATED = 143  # 128 + SIGTERM (cron timeouts, `kubectl delete`, CI cancellations)

#: Shown at the bottom of ``mutuality --help`` and mirrored in docs/cli.md.
EPILOG = """\b
Exit codes:
  0  all good
  1  some records failed, or the run stopped early (e.g. API quota; state is
     saved, rerun later)
  2  usage or configuration error (including a missing optional extra)
  3  cannot reach or authenticate with the CRM
  4  another run holds the lock
  130  interrupted (Ctrl-C); work done so far is saved
  143  terminated (SIGTERM); work done so far is saved
"""


def exit_code_for(error: BaseException) -> int:
    """The exit code for an error raised by the library or an adapter."""
    if isinstance(error, LockHeldError):
        return LOCK_HELD
    if isinstance(error, CrmUnavailableError):  # AuthenticationError included
        return CRM_UNAVAILABLE
    if isinstance(error, (ConfigError, InvalidInputError, MissingDependencyError, StateError)):
        return USAGE
    return RECORDS_FAILED  # QuotaExhaustedError (state saved) and any other error


def one_line(error: BaseException) -> str:
    """The error's message on one line; the type name when the message is empty."""
    text = " ".join(str(error).split())
    if not text and isinstance(error, KeyboardInterrupt):
        return "interrupted by the user (Ctrl-C)"
    return text or type(error).__name__
