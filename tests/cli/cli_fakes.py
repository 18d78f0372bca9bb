"""Fake adapters for CLI tests: in-memory sources and writers, and entry points that load them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from mutuality_core.model import Activity, Contact
from mutuality_core.ports import Connection, Page, ScoreUpdate, WriteResult


@attrs.define
class FakeDist:
    name: str = "fake-dist"
    version: str = "9.9.9"
    requires: list[str] | None = None

    @property
    def metadata(self) -> dict[str, str]:
        return {"Name": self.name}


@attrs.define
class FakeEntryPoint:
    """Quacks like importlib.metadata.EntryPoint; ``load`` returns or raises ``target``."""

    name: str
    target: Any
    value: str = "fake_module:plugin"
    dist: FakeDist | None = attrs.field(factory=FakeDist)

    def load(self) -> Any:
        if isinstance(self.target, BaseException):
            raise self.target
        return self.target


@attrs.define
class MemorySource:
    contacts: Sequence[Contact]
    activities: Sequence[Activity]
    complete_history: bool = True
    fail_with: BaseException | None = None

    def read(self, cursor: str | None) -> Iterator[Page]:
        if self.fail_with is not None:
            raise self.fail_with
        yield Page(contacts=list(self.contacts), activities=list(self.activities), cursor="end")


@attrs.define
class MemoryWriter:
    batch_size: int = 50
    fail_ids: frozenset[str] = frozenset()
    written: dict[str, ScoreUpdate] = attrs.field(factory=dict)
    fail_with: BaseException | None = None

    def write(self, updates: Sequence[ScoreUpdate]) -> Sequence[WriteResult]:
        if self.fail_with is not None:
            raise self.fail_with
        results = []
        for update in updates:
            cid = update.contact.id
            if cid in self.fail_ids:
                results.append(WriteResult(cid, ok=False, error="rejected by fake CRM"))
            else:
                self.written[cid] = update
                results.append(WriteResult(cid, ok=True))
        return results

    def close(self) -> None:
        pass


@attrs.define
class FakePlugin:
    """An adapter plugin whose connection is built by ``make_connection(settings, environ)``."""

    name: str = "memory"
    summary: str = "In-memory test adapter"
    make_connection: Callable[[Mapping[str, Any], Mapping[str, str]], Connection] | None = None
    connect_error: BaseException | None = None
    extra_commands: Mapping[str, Any] | None = None
    seen_settings: list[Mapping[str, Any]] = attrs.field(factory=list)

    def connect(self, settings: Mapping[str, Any], *, environ: Mapping[str, str]) -> Connection:
        self.seen_settings.append(dict(settings))
        if self.connect_error is not None:
            raise self.connect_error
        assert self.make_connection is not None
        return self.make_connection(settings, environ)

    def commands(self) -> Mapping[str, Any]:
        return self.extra_commands or {}


#: What a state store must offer for a run (the StateStore Protocol), nothing more.
_RUN_METHODS = (
    "lock", "get_cursor", "begin_full_read", "apply_page", "finish_full_read",
    "full_read_pending", "iter_histories", "written", "record_written", "failed",
    "record_failed", "start_run", "finish_run", "runs",
)  # fmt: skip
#: What ``mutuality state`` needs beyond a run (the StateStoreAdmin Protocol).
_ADMIN_METHODS = ("targets", "cached_counts", "lock_holder", "break_lock", "reset")


def _delegate(name: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.inner, name)(*args, **kwargs)

    method.__name__ = name
    return method


class PlainStateStore:
    """A state store with only the run methods (no admin, no counts), kept in SQLite.

    Stands for a third party's store: the CLI must not need more than it declares.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self.inner.close()


class AdminStateStore(PlainStateStore):
    """A third party's store that also lists, inspects, unlocks and resets targets."""


for _name in _RUN_METHODS:
    setattr(PlainStateStore, _name, _delegate(_name))
for _name in _ADMIN_METHODS:
    setattr(AdminStateStore, _name, _delegate(_name))


@attrs.define
class FakeStateStorePlugin:
    """A ``mutuality.state_stores`` plugin whose stores are kept in SQLite under the hood."""

    name: str = "plain"
    summary: str = "Test state store"
    admin: bool = False
    opened: list[tuple[str, bool, float | None]] = attrs.field(factory=list)
    stores: list[PlainStateStore] = attrs.field(factory=list)

    def open(
        self, location: str, *, create: bool = True, lock_expires_after: float | None = None
    ) -> PlainStateStore:
        from mutuality_adapters.sqlite_state import plugin

        self.opened.append((location, create, lock_expires_after))
        inner = plugin.open(location, create=create, lock_expires_after=lock_expires_after)
        store = (AdminStateStore if self.admin else PlainStateStore)(inner)
        self.stores.append(store)
        return store
