"""Typed exceptions. The CLI maps each family to one documented exit code.

| exception              | CLI exit code | meaning                                                 |
| ---------------------- | ------------- | ------------------------------------------------------- |
| ConfigError            | 2             | bad settings, flags, TOML or scoring config             |
| InvalidInputError      | 2             | bad rows or files in a source                           |
| MissingDependencyError | 2             | an optional extra (or the system's Chromium) is missing |
| StateError             | 2             | the state file is unreadable or from a newer version    |
| CrmUnavailableError    | 3             | cannot reach the CRM                                    |
| AuthenticationError    | 3             | the CRM refused the credentials or a scope              |
| LockHeldError          | 4             | another run holds the lock on the same target           |
| QuotaExhaustedError    | 1             | the CRM's API allowance ran out; state is saved         |
| any other error        | 1             | (a bug or an unexpected failure: the message says)      |

``run_sync`` does not raise QuotaExhaustedError: it ends the run early and says so in
the report (``stopped_reason="quota"``), which the CLI also turns into exit code 1.
Ctrl-C exits 130 and SIGTERM 143. The mapping itself is
``mutuality_cli.exit_codes.exit_code_for``; a test holds this table to it.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "CrmUnavailableError",
    "InvalidInputError",
    "LockHeldError",
    "MissingDependencyError",
    "MutualityError",
    "QuotaExhaustedError",
    "StateError",
]


class MutualityError(Exception):
    """Base class of every error mutuality raises on purpose."""


class ConfigError(MutualityError, ValueError):
    """A setting is missing or out of range. The message names the key and what is allowed."""


class InvalidInputError(MutualityError, ValueError):
    """A source holds data that cannot be used. The message says where (``file:line``) and why."""


class MissingDependencyError(MutualityError, ImportError):
    """An optional dependency is missing; the message is a ready ``pip install`` line."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{package} is not installed; install it with: pip install 'mutuality[{extra}]'"
        )


class CrmUnavailableError(MutualityError):
    """The CRM cannot be reached (network, 5xx after retries)."""


class AuthenticationError(CrmUnavailableError):
    """The CRM refused our credentials or a scope/permission is missing."""


class QuotaExhaustedError(MutualityError):
    """The run stopped before exceeding the CRM's API allowance. State is saved; rerun later."""


class LockHeldError(MutualityError):
    """Another run holds the lock for the same target."""


class StateError(MutualityError):
    """The state store is unreadable or from a newer version of mutuality."""
