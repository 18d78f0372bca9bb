"""The effective configuration: flags, then ``MUTUALITY_*`` variables, then ``mutuality.toml``.

Secrets (tokens, passwords) may come only from the environment or the file, never
from flags, so they stay out of shell history and process listings; every echo of
the configuration masks them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from mutuality_core.config import ScoringConfig
from mutuality_core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ENV_PREFIX = "MUTUALITY_"
DEFAULT_CONFIG_NAME = "mutuality.toml"
DEFAULT_STATE = Path(".mutuality") / "state.sqlite"
DEFAULT_ADAPTER = "files"
DEFAULT_STATE_STORE = "sqlite"
SECRET_WORDS = ("token", "password", "secret", "key", "session")
MASK = "********"


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"expected a whole number above 0, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError(f"expected a number >= 0, got {text!r}")
    return value


#: Top-level keys of mutuality.toml (and ``MUTUALITY_<KEY>``), with how to read text.
TOP_LEVEL: dict[str, Callable[[str], Any]] = {
    "adapter": str,
    "state": str,  # a file path, or a URL for a store that is not a file
    "state_store": str,  # a name in the mutuality.state_stores entry-point group
    "min_score_change": _non_negative_float,
    "batch_size": _positive_int,
    "lock_expires_after": _non_negative_float,  # seconds; 0 = a lock never expires
    "persistent_failure_runs": _positive_int,  # runs in a row before a failure is flagged
}
#: Adapter settings that have their own flag (and a short ``MUTUALITY_<KEY>`` variable).
ADAPTER_FLAG_KEYS: dict[str, Callable[[str], Any]] = {
    "path": str,
    "output": str,
    "skip_invalid": _parse_bool,
    "rejects": str,
    "max_requests": _positive_int,
}
TABLES = ("scoring", "adapters")


def is_secret(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS)


def mask(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A copy with every secret-looking value replaced, nested tables included."""
    masked: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            masked[key] = mask(value)
        elif is_secret(key) and value not in (None, ""):
            masked[key] = MASK
        else:
            masked[key] = value
    return masked


def _scalar_from_text(text: str) -> Any:
    """Read an environment value for a scoring key: a TOML scalar if it parses, else text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


@attrs.frozen
class EffectiveConfig:
    """Everything a command needs to connect and score, with where each value came from."""

    adapter: str
    state: str  # where the state store keeps state: an absolute file path, or a URL
    min_score_change: float | None
    batch_size: int | None
    scoring: Mapping[str, Any]
    adapter_settings: Mapping[str, Any]
    config_file: Path | None
    origins: Mapping[str, str]
    lock_expires_after: float | None = None  # seconds; None: the state store's default
    persistent_failure_runs: int | None = None  # None: the engine's default (3)
    state_store: str = DEFAULT_STATE_STORE

    def scoring_config(self) -> ScoringConfig:
        try:
            return ScoringConfig.from_mapping(self.scoring)
        except ConfigError:
            raise
        except (TypeError, ValueError) as error:
            where = f" in {self.config_file}" if self.config_file else ""
            raise ConfigError(f"invalid [scoring] settings{where}: {error}") from error

    def to_dict(self, *, masked: bool = True) -> dict[str, Any]:
        data = {
            "config_file": str(self.config_file) if self.config_file else None,
            "adapter": self.adapter,
            "state": self.state,
            "state_store": self.state_store,
            "min_score_change": self.min_score_change,
            "batch_size": self.batch_size,
            "lock_expires_after": self.lock_expires_after,
            "persistent_failure_runs": self.persistent_failure_runs,
            "scoring": dict(self.scoring),
            "adapters": {self.adapter: dict(self.adapter_settings)},
            "origins": dict(self.origins),
        }
        return mask(data) if masked else data


def find_config_file(
    explicit: str | None, environ: Mapping[str, str], cwd: Path
) -> tuple[Path | None, str]:
    """The config file to read and why: ``--config``, ``MUTUALITY_CONFIG``, ./mutuality.toml."""
    if explicit:
        path, origin = Path(explicit), "--config"
    elif environ.get(f"{ENV_PREFIX}CONFIG"):
        path, origin = Path(environ[f"{ENV_PREFIX}CONFIG"]), f"{ENV_PREFIX}CONFIG"
    else:
        default = cwd / DEFAULT_CONFIG_NAME
        return (default, "default") if default.is_file() else (None, "none")
    if not path.is_file():
        raise ConfigError(f"config file {path} (from {origin}) does not exist; fix the path")
    return path, origin


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from error
    unknown = sorted(set(data) - set(TOP_LEVEL) - set(TABLES))
    if unknown:
        allowed = ", ".join([*TOP_LEVEL, "[scoring]", "[adapters.NAME]"])
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; allowed: {allowed}")
    for table in TABLES:
        if table in data and not isinstance(data[table], dict):
            raise ConfigError(f"{path}: {table} must be a table ([{table}])")
    for name, table in data.get("adapters", {}).items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: adapters.{name} must be a table ([adapters.{name}])")
    return data


def _check_file_value(key: str, value: Any, path: Path) -> Any:
    expected: dict[str, tuple[type, ...]] = {
        "adapter": (str,),
        "state": (str,),
        "state_store": (str,),
        "min_score_change": (int, float),
        "batch_size": (int,),
        "lock_expires_after": (int, float),
        "persistent_failure_runs": (int,),
    }
    if isinstance(value, bool) or not isinstance(value, expected[key]):
        raise ConfigError(f"{path}: {key} has the wrong type ({type(value).__name__})")
    try:
        return TOP_LEVEL[key](str(value))
    except ValueError as error:
        raise ConfigError(f"{path}: {key}: {error}") from error


def _from_env(key: str, name: str, environ: Mapping[str, str], read: Callable[[str], Any]) -> Any:
    try:
        return read(environ[name])
    except ValueError as error:
        raise ConfigError(f"environment variable {name}: {error}") from error


def parse_options(options: Sequence[str]) -> dict[str, str]:
    """``-o KEY=VALUE`` pairs. Secrets are refused: they belong in the environment or file."""
    parsed: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"-o/--option takes KEY=VALUE; got {option!r}")
        if is_secret(key):
            raise ConfigError(
                f"refusing {key!r} on the command line; put secrets in an environment "
                "variable or the config file (see docs/configuration.md)"
            )
        parsed[key] = value
    return parsed


def resolve(
    flags: Mapping[str, Any],
    *,
    options: Sequence[str] = (),
    environ: Mapping[str, str],
    cwd: Path,
) -> EffectiveConfig:
    """Merge the three layers. ``flags`` maps option names to values (None: not given)."""
    config_file, _ = find_config_file(flags.get("config"), environ, cwd)
    file_data = read_config_file(config_file) if config_file else {}
    origins: dict[str, str] = {}

    def pick(key: str) -> Any:
        if flags.get(key) is not None:
            origins[key] = "flag"
            return flags[key]
        env_name = f"{ENV_PREFIX}{key.upper()}"
        if environ.get(env_name, "") != "":
            origins[key] = f"env {env_name}"
            return _from_env(key, env_name, environ, TOP_LEVEL[key])
        if key in file_data:
            origins[key] = f"file {config_file}"
            return _check_file_value(key, file_data[key], config_file)  # type: ignore[arg-type]
        return None

    adapter = pick("adapter")
    if adapter is None:
        adapter, origins["adapter"] = DEFAULT_ADAPTER, "default"
    state = pick("state")
    if state is None:
        state, origins["state"] = str(cwd / DEFAULT_STATE), "default"
    state_store = pick("state_store")
    if state_store is None:
        state_store, origins["state_store"] = DEFAULT_STATE_STORE, "default"
    min_score_change = pick("min_score_change")
    batch_size = pick("batch_size")
    lock_expires_after = pick("lock_expires_after")
    persistent_failure_runs = pick("persistent_failure_runs")

    # Adapter settings: file table < MUTUALITY_<ADAPTER>_<KEY> and short variables < flags.
    adapter_settings: dict[str, Any] = {}
    file_table = file_data.get("adapters", {}).get(adapter, {})
    for key, value in file_table.items():
        adapter_settings[key] = value
        origins[f"adapters.{adapter}.{key}"] = f"file {config_file}"
    for key, read in ADAPTER_FLAG_KEYS.items():
        env_name = f"{ENV_PREFIX}{key.upper()}"
        if environ.get(env_name, "") != "":
            adapter_settings[key] = _from_env(key, env_name, environ, read)
            origins[f"adapters.{adapter}.{key}"] = f"env {env_name}"
    prefix = f"{ENV_PREFIX}{adapter.upper()}_"
    for env_name in sorted(environ):
        if env_name.startswith(prefix) and len(env_name) > len(prefix):
            key = env_name[len(prefix) :].lower()
            read = ADAPTER_FLAG_KEYS.get(key, str)
            adapter_settings[key] = _from_env(key, env_name, environ, read)
            origins[f"adapters.{adapter}.{key}"] = f"env {env_name}"
    for key, value in parse_options(options).items():
        read = ADAPTER_FLAG_KEYS.get(key, str)
        try:
            adapter_settings[key] = read(value)
        except ValueError as error:
            raise ConfigError(f"-o {key}: {error}") from error
        origins[f"adapters.{adapter}.{key}"] = "flag -o"
    for key in ADAPTER_FLAG_KEYS:
        if flags.get(key) is not None:
            adapter_settings[key] = flags[key]
            origins[f"adapters.{adapter}.{key}"] = "flag"

    # Scoring: the file's [scoring] table, overridden key by key by MUTUALITY_SCORING_<KEY>.
    scoring: dict[str, Any] = dict(file_data.get("scoring", {}))
    for key in scoring:
        origins[f"scoring.{key}"] = f"file {config_file}"
    scoring_prefix = f"{ENV_PREFIX}SCORING_"
    for env_name in sorted(environ):
        if env_name.startswith(scoring_prefix) and len(env_name) > len(scoring_prefix):
            key = env_name[len(scoring_prefix) :].lower()
            scoring[key] = _scalar_from_text(environ[env_name])
            origins[f"scoring.{key}"] = f"env {env_name}"

    return EffectiveConfig(
        adapter=adapter,
        state=state_location(state, cwd),
        min_score_change=min_score_change,
        batch_size=batch_size,
        scoring=scoring,
        adapter_settings=adapter_settings,
        config_file=config_file,
        origins=origins,
        lock_expires_after=lock_expires_after,
        persistent_failure_runs=persistent_failure_runs,
        state_store=state_store,
    )


def state_location(text: str, cwd: Path) -> str:
    """A state file's path made absolute against ``cwd``; a URL (``scheme://...``) as given.

    Which of the two a store takes is the store's business; a file path is resolved
    here so that what ``config show`` prints is what the store opens.
    """
    if "://" in text:
        return text
    path = Path(text)
    return str(path if path.is_absolute() else cwd / path)
