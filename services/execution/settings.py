"""TITAN_EXECUTION_*: where the broker is, the API key, and the placement loop's pace."""

from __future__ import annotations

from pydantic import Field, SecretStr

from services.execution.broker import BrokerCredentials
from shared.settings import ServiceSettings


class ExecutionSettings(ServiceSettings):
    """TITAN_EXECUTION_BROKER_URL, TITAN_EXECUTION_API_KEY_ID, TITAN_EXECUTION_API_SECRET_KEY
    and the loop knobs. The key has no default: a paper account's key is still a secret."""

    execution_broker_url: str = Field(
        default="https://paper-api.alpaca.markets", pattern=r"^https?://[^\s]+$"
    )
    execution_api_key_id: SecretStr
    execution_api_secret_key: SecretStr
    # Longest wait for one broker answer. Past it the order's fate is unknown and the next
    # attempt asks the broker by client order id before submitting again.
    execution_request_timeout_s: float = Field(default=10.0, gt=0.0, le=120.0)
    # How often the placement loop looks for orders to place, and reconciliation for orders
    # still open at the broker.
    execution_poll_interval_s: float = Field(default=0.5, gt=0.0, le=60.0)
    execution_reconcile_interval_s: float = Field(default=2.0, gt=0.0, le=3600.0)
    # Orders decided longer ago than this are not sent (rejected as stale); 0: no limit.
    # Three days covers a weekend's gap between a Friday close decision and Monday's open.
    execution_max_order_age_s: float = Field(default=3 * 86_400.0, ge=0.0)
    execution_batch_size: int = Field(default=20, ge=1, le=500)
    # First backoff after a 5xx or a timeout, doubled per failed attempt up to the cap.
    execution_backoff_initial_s: float = Field(default=0.5, gt=0.0, le=60.0)
    execution_backoff_max_s: float = Field(default=60.0, gt=0.0, le=3600.0)

    def credentials(self) -> BrokerCredentials:
        return BrokerCredentials(
            self.execution_api_key_id.get_secret_value(),
            self.execution_api_secret_key.get_secret_value(),
        )

    @property
    def claim_lease_s(self) -> float:
        """How long a claimed order is left to its claimer before another attempt may start:
        longer than one attempt's three calls (ask, submit, ask again)."""
        return 4.0 * self.execution_request_timeout_s
