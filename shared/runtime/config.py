"""Service configuration: TITAN_* environment first, the local infrastructure state second."""

from __future__ import annotations

import os
from typing import TypeVar

from shared.settings import KafkaSettings, ServiceSettings, load_or_exit

S = TypeVar("S", bound=ServiceSettings)


def resolve_database_url(service: str) -> dict[str, object]:
    """The database override of `service` when TITAN_DATABASE_URL is unset: the local
    infrastructure's DSN for it (none without one: the settings then report it missing)."""
    if os.environ.get("TITAN_DATABASE_URL"):
        return {}
    from shared.infra.state import load_local_infra

    infra = load_local_infra()
    return {} if infra is None else {"database_url": infra.service_dsn(service)}


def resolve_config(service: str, settings_cls: type[S]) -> tuple[S, KafkaSettings]:
    """Settings for `service`; unset broker/database fall back to `titan infra up`'s state."""
    overrides: dict[str, object] = {}
    kafka_overrides: dict[str, object] = {}
    if not os.environ.get("TITAN_DATABASE_URL") or not os.environ.get("TITAN_KAFKA_BOOTSTRAP"):
        from shared.infra.state import load_local_infra

        infra = load_local_infra()
        if infra is not None:
            if not os.environ.get("TITAN_DATABASE_URL"):
                overrides["database_url"] = infra.service_dsn(service)
            if not os.environ.get("TITAN_KAFKA_BOOTSTRAP"):
                kafka_overrides["bootstrap"] = infra.kafka_bootstrap
    settings = load_or_exit(settings_cls, **overrides)
    kafka = load_or_exit(KafkaSettings, **kafka_overrides)
    return settings, kafka
