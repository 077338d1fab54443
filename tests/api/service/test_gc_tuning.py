"""The garbage collector tuning a serving process applies once started."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from api.cli.serve import _settings
from api.service.gc_tuning import YOUNG_THRESHOLD, tune_for_serving
from api.settings import Settings


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_startup_objects_are_frozen_and_young_collections_are_rarer() -> None:
    gc.unfreeze()
    long_lived = [object() for _ in range(1000)]
    tune_for_serving()
    assert gc.get_freeze_count() >= len(long_lived)
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD > 700


def test_serve_tunes_the_collector_and_other_settings_do_not() -> None:
    options = {
        "database_url": "sqlite:///unused.db",
        "host": "127.0.0.1",
        "port": 8000,
        "snapshot_every": 1000,
        "snapshot_seconds": 30.0,
        "bootstrap": True,
    }
    assert _settings(options).tune_gc
    assert not Settings(database_url="sqlite:///unused.db").tune_gc
