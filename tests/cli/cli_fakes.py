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
