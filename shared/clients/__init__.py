"""HTTP clients of TITAN services' public APIs, for other services and the CLI."""

from shared.clients.market_data import HistoryClient, HistoryUnavailable

__all__ = ["HistoryClient", "HistoryUnavailable"]
