"""Finding plugins: entry points in the ``mutuality.adapters`` and
``mutuality.state_stores`` groups, loaded lazily.

Finding (reading metadata) and loading (importing) are separate steps so that a
broken or half-installed plugin never breaks the whole CLI: ``mutuality adapters``
(and ``mutuality state stores``) shows it as failed with the reason, and only
selecting it is an error.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, cast

import attrs

from mutuality_cli.exit_codes import one_line
from mutuality_core.errors import ConfigError, MissingDependencyError
from mutuality_core.ports import AdapterPlugin, CommandProvider, StateStorePlugin

GROUP = "mutuality.adapters"
STATE_STORE_GROUP = "mutuality.state_stores"
log = logging.getLogger(__name__)


class EntryPointLike(Protocol):
    """The part of ``importlib.metadata.EntryPoint`` discovery needs (tests pass fakes)."""

    @property
    def name(self) -> str: ...

    @property
    def value(self) -> str: ...

    def load(self) -> Any: ...


@attrs.frozen
class PluginKind:
    """One entry-point group, what its plugins must offer, and how the CLI names it."""

    group: str
    noun: str  # "adapter": used in every message about this kind
    required: tuple[str, ...]  # attributes a loaded object must have to be one
    listing: str  # the command that lists what is installed
    option: str  # the option that selects one


ADAPTER = PluginKind(
    group=GROUP,
    noun="adapter",
    required=("name", "summary", "connect"),
    listing="mutuality adapters",
    option="--adapter",
)
STATE_STORE = PluginKind(
    group=STATE_STORE_GROUP,
    noun="state store",
    required=("name", "summary", "open"),
    listing="mutuality state stores",
    option="--state-store",
)


@attrs.frozen
class PluginInfo:
    """One installed plugin and whether it loads."""

    name: str
    target: str  # "module:attribute" the entry point names
    distribution: str | None
    version: str | None
    plugin: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def summary(self) -> str:
        return str(getattr(self.plugin, "summary", "") or "")

    @property
    def status(self) -> str:
        return "ok" if self.error is None else f"failed: {one_line(self.error)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "entry_point": self.target,
            "summary": self.summary,
            "status": "ok" if self.ok else "failed",
            "error": None if self.error is None else one_line(self.error),
        }


@attrs.frozen
class AdapterInfo(PluginInfo):
    """An installed adapter: a plugin that may also mount ``setup``/``fake`` commands."""

    def to_dict(self) -> dict[str, Any]:
        commands = sorted(plugin_commands(self.plugin)) if self.plugin else []
        return {**super().to_dict(), "commands": commands}


def _group(group: str) -> list[EntryPointLike]:
    """A group's entry points, one per name, sorted for determinism (no imports)."""
    seen: dict[str, EntryPointLike] = {}
    for ep in importlib.metadata.entry_points(group=group):
        seen.setdefault(ep.name, ep)
    return [seen[name] for name in sorted(seen)]


def entry_points() -> list[EntryPointLike]:
    """The adapters' entry points (tests replace this to install fake adapters)."""
    return _group(GROUP)


def state_store_entry_points() -> list[EntryPointLike]:
    """The state stores' entry points (tests replace this to install fake stores)."""
    return _group(STATE_STORE_GROUP)


def _distribution(ep: EntryPointLike) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"] or dist.name, dist.version


def _load(ep: EntryPointLike, kind: PluginKind) -> PluginInfo:
    info = AdapterInfo if kind is ADAPTER else PluginInfo
    dist_name, version = _distribution(ep)
    try:
        plugin = ep.load()
    except Exception as error:  # any import-time failure: show it, do not crash
        return info(ep.name, ep.value, dist_name, version, error=error)
    extra_error = missing_extra(ep)
    if extra_error is not None:
        return info(ep.name, ep.value, dist_name, version, plugin=plugin, error=extra_error)
    missing = [a for a in kind.required if not hasattr(plugin, a)]
    if missing:
        not_one = TypeError(
            f"{ep.value} is not a mutuality {kind.noun} plugin (missing {', '.join(missing)})"
        )
        return info(ep.name, ep.value, dist_name, version, error=not_one)
    return info(ep.name, ep.value, dist_name, version, plugin=plugin)


_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _installed(distribution_name: str) -> bool:
    try:
        importlib.metadata.distribution(distribution_name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def missing_extra(ep: EntryPointLike) -> MissingDependencyError | None:
    """The error for a plugin whose same-named extra is not installed, if so.

    Adapters import their CRM SDK only when connecting, so loading the plugin
    succeeds without it; by convention a plugin named like an extra of its
    distribution (``hubspot`` -> ``mutuality[hubspot]``) needs that extra, and the
    listing says so up front instead of at the first sync.
    """
    dist = getattr(ep, "dist", None)
    for requirement in (getattr(dist, "requires", None) or []) if dist else []:
        marker = _EXTRA_MARKER.search(requirement)
        name = _REQUIREMENT_NAME.match(requirement)
        if marker and name and marker.group(1) == ep.name and not _installed(name.group(1)):
            return MissingDependencyError(name.group(1), ep.name)
    return None


def discover_adapters() -> list[PluginInfo]:
    """Every installed adapter, each loaded once, failures included."""
    return [_load(ep, ADAPTER) for ep in entry_points()]


def discover_state_stores() -> list[PluginInfo]:
    """Every installed state store, each loaded once, failures included."""
    return [_load(ep, STATE_STORE) for ep in state_store_entry_points()]


def adapter_names() -> list[str]:
    return [ep.name for ep in entry_points()]


def _select(
    kind: PluginKind, name: str, eps: list[EntryPointLike], *, require_extra: bool = True
) -> Any:
    """The plugin of ``kind`` registered as ``name``; a one-line error that says what to do."""
    for ep in eps:
        if ep.name == name:
            info = _load(ep, kind)
            if info.plugin is not None and (
                info.ok or (not require_extra and isinstance(info.error, MissingDependencyError))
            ):
                return info.plugin
            error = info.error
            if isinstance(error, MissingDependencyError):
                raise error
            why = one_line(error) if error else "unknown error"
            raise ConfigError(
                f"{kind.noun} {name!r} failed to load: {why}; "
                f"run `{kind.listing}` to see what is installed"
            ) from error
    available = ", ".join(ep.name for ep in eps) or "none"
    raise ConfigError(
        f"no {kind.noun} named {name!r}; installed {kind.noun}s: {available} "
        f"(install a plugin package or fix {kind.option})"
    )


def load_adapter(name: str, *, require_extra: bool = True) -> AdapterPlugin:
    """The adapter registered as ``name``; a one-line error that says what to do otherwise.

    ``require_extra=False`` accepts a plugin whose optional dependency is missing
    (its ``fake`` command, say, may not need it; what does raises on its own).
    """
    return cast(AdapterPlugin, _select(ADAPTER, name, entry_points(), require_extra=require_extra))


def load_state_store(name: str) -> StateStorePlugin:
    """The state store registered as ``name`` (``sqlite`` unless configured otherwise)."""
    return cast(StateStorePlugin, _select(STATE_STORE, name, state_store_entry_points()))


def plugin_commands(
    plugin: object, *, strict: bool = False, name: str | None = None
) -> Mapping[str, Any]:
    """The extra Click commands an adapter offers (``setup``/``fake``), or nothing.

    A plugin whose ``commands()`` fails offers nothing when listing (``strict=False``);
    when the user asked for one of its commands the failure is a one-line error.
    """
    if not isinstance(plugin, CommandProvider):
        return {}
    commands = plugin.commands
    name = name or str(getattr(plugin, "name", "?"))
    try:
        offered = commands()
    except Exception as error:
        if not strict:
            log.debug("adapter %s: commands() failed: %s", name, error)
            return {}
        if isinstance(error, MissingDependencyError):
            raise
        raise ConfigError(
            f"adapter {name!r} could not load its commands: {one_line(error)}"
        ) from error
    return dict(offered) if isinstance(offered, Mapping) else {}


def names_offering(kind: str, infos: Iterable[PluginInfo]) -> list[str]:
    return [i.name for i in infos if i.plugin is not None and kind in plugin_commands(i.plugin)]
