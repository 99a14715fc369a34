"""Only for tests/integration/test_backtest_service.py, which imports it: use tests.data instead."""

from tests.data import msft_ibm_closes

__all__ = ["msft_ibm_closes"]
