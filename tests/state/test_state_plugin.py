"""The SQLite state store as the ``mutuality.state_stores`` plugin ``sqlite``."""

from __future__ import annotations

from datetime import timedelta
from importlib.metadata import entry_points

import pytest
from mutuality_adapters.sqlite_state import DEFAULT_LOCK_EXPIRES_AFTER, SQLiteStateStore, plugin
from mutuality_adapters.sqlite_state.plugin import lock_expiry

from mutuality_core.errors import ConfigError, StateError
from mutuality_core.ports import (
    ContactCache,
    CountingStateStore,
    StateStore,
    StateStoreAdmin,
    StateStorePlugin,
    WrittenHistory,
)


def test_registered_first_party_under_the_state_stores_group():
    (ep,) = [e for e in entry_points(group="mutuality.state_stores") if e.name == "sqlite"]
    assert ep.value == "mutuality_adapters.sqlite_state:plugin"
    assert ep.load() is plugin
    assert isinstance(plugin, StateStorePlugin)
    assert plugin.name == "sqlite" and plugin.summary


def test_opens_a_store_with_every_capability_the_cli_asks_for(tmp_path):
    location = tmp_path / "deep" / "state.sqlite"
    store = plugin.open(str(location))
    try:
        assert isinstance(store, SQLiteStateStore) and location.exists()
        for capability in (
            StateStore,
            StateStoreAdmin,
            CountingStateStore,
            ContactCache,
            WrittenHistory,
        ):
            assert isinstance(store, capability), capability.__name__
    finally:
        store.close()


def test_create_false_needs_an_existing_file_and_leaves_nothing_behind(tmp_path):
    location = tmp_path / "none" / "state.sqlite"
    with pytest.raises(ConfigError, match=r"no state file at .*run `mutuality sync` first"):
        plugin.open(str(location), create=False)
    assert not location.parent.exists()

    plugin.open(str(tmp_path / "state.sqlite")).close()
    plugin.open(str(tmp_path / "state.sqlite"), create=False).close()


def test_a_url_is_refused_with_what_to_do_instead(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StateError, match=r"not at a URL .*--state-store"):
        plugin.open("postgresql://db.example/mutuality", create=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (None, DEFAULT_LOCK_EXPIRES_AFTER),
        (0, None),
        (300, timedelta(minutes=5)),
        (0.5, timedelta(milliseconds=500)),
    ],
)
def test_lock_expiry_from_the_setting(seconds, expected):
    assert lock_expiry(seconds) == expected


def test_a_negative_lock_expiry_is_a_config_error():
    with pytest.raises(ConfigError, match="lock_expires_after"):
        lock_expiry(-1)
