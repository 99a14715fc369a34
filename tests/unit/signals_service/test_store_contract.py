"""The store contract on the in-memory fake (the PostgreSQL run is an integration test)."""

from __future__ import annotations

import pytest

from services.signals.store import SignalsStore
from tests.unit.signals_service.fake_store import InMemorySignalsStore
from tests.unit.signals_service.store_contract import CHECKS, StoreFactory


async def _new() -> SignalsStore:
    return InMemorySignalsStore()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_fake_store_meets_the_contract(check: object) -> None:
    factory: StoreFactory = _new
    await check(factory)  # type: ignore[operator]
