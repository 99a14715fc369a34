"""Only for tests/integration/test_regime_service.py, which imports it: use tests.data instead."""

from tests.data import sp500_index

__all__ = ["sp500_index"]
