"""The deciding thread through a store outage: one warning line a round, no traceback."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bridge.errors import StoreError
from bridge.migrate.audit import Audit
from bridge.migrate.overlay import ModeOverlay
from bridge.migrate.plan import Plan
from bridge.migrate.promoter import Promoter
from bridge.migrate.routing import Routing
from bridge.store import MemoryStore


@pytest.mark.parametrize(("failure", "level", "traceback"), [
    (StoreError("Redis store redis://127.0.0.1:6379/0: ConnectionError"), logging.WARNING, False),
    (KeyError("mode"), logging.ERROR, True),  # a bug is still logged with its traceback
], ids=["store-outage", "bug"])
def test_a_store_outage_is_a_warning_not_a_traceback(
        failure: Exception, level: int, traceback: bool, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()
    promoter = Promoter(store, ModeOverlay(store), Audit(store),
                        lambda: Plan(rules={}, routing=Routing()))

    def fails(*args: Any) -> Any:
        raise failure

    monkeypatch.setattr(promoter, "run_once", fails)
    with caplog.at_level(logging.WARNING, logger="bridge.migrate"):
        promoter.check()
    (record,) = caplog.records
    assert record.levelno == level and (record.exc_info is not None) == traceback
    if not traceback:
        assert "store is unavailable" in record.getMessage()
