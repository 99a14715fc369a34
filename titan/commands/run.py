"""`titan run SERVICE`: run one service in the foreground until SIGTERM.

`titan run SERVICE --migrate-only` applies the service's pending schema migrations and exits
(the Helm chart's migrations Job): it needs TITAN_DATABASE_URL only, no broker.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.runtime.service import ServiceDefinition

SERVICES = {
    "market-data": "services.market_data.bootstrap",
    "pairs": "services.pairs.bootstrap",
    "regime": "services.regime.bootstrap",
    "signals": "services.signals.bootstrap",
    "backtest": "services.backtest.bootstrap",
    "portfolio": "services.portfolio.bootstrap",
    "execution": "services.execution.bootstrap",
    # A gateway with no database or consumer group: its bootstrap serves it itself.
    "console": "services.console.bootstrap",
}
# Exit code of a service stopped by a fault retrying cannot fix (a refused broker login).
CANNOT_CONTINUE = 3
# The schema spelling is accepted too (`titan run market_data`), as deploy manifests use it.
SERVICES["market_data"] = SERVICES["market-data"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("run", help="run one service (configured by TITAN_* variables)")
    parser.add_argument("service", choices=sorted(SERVICES))
    parser.add_argument(
        "--migrate-only",
        action="store_true",
        help="apply the service's pending schema migrations and exit",
    )
    parser.set_defaults(func=_run)


class _StopBeforeStart:
    """Remembers a SIGTERM/SIGINT that arrives while the service is still importing and
    configuring (a second or more: pandas, statsmodels). Without it the signal's default
    action kills the process (exit -15), which an orchestrator stopping a pod that is still
    starting, or a test stopping a service it just restarted, must not see."""

    def __init__(self) -> None:
        self.requested = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._remember)

    def _remember(self, signum: int, frame: object) -> None:
        self.requested = True

    def __call__(self) -> bool:
        return self.requested


def _run(args: argparse.Namespace) -> int:
    stop_before_start = _StopBeforeStart()  # first, before the heavy imports below
    from shared.logging import configure_logging
    from shared.runtime.broker_login import BrokerLoginRefused
    from shared.runtime.config import resolve_config
    from shared.runtime.service import ServiceRunner, run_forever

    if args.service == "console":
        from services.console.bootstrap import run

        return run(stop_before_start)
    module = importlib.import_module(SERVICES[args.service])
    definition = module.definition()
    if args.migrate_only:
        return _migrate(definition)
    settings, kafka = resolve_config(definition.name, definition.settings)
    configure_logging(definition.name, settings.log_level)
    runner = ServiceRunner(definition, settings, kafka)
    try:
        return run_forever(runner, stop_before_start)
    except BrokerLoginRefused as exc:
        print(f"titan run {args.service}: cannot continue: {exc}", file=sys.stderr)
        return CANNOT_CONTINUE


def _migrate(definition: ServiceDefinition[Any, Any]) -> int:
    """Apply the service's migrations with the base settings: a service's own required
    settings (the execution adapter's broker key) are not needed to migrate its schema."""
    import asyncio

    from shared.logging import configure_logging
    from shared.runtime.config import resolve_database_url
    from shared.runtime.service import apply_migrations, create_pool
    from shared.settings import ServiceSettings, load_or_exit

    settings = load_or_exit(ServiceSettings, **resolve_database_url(definition.name))
    configure_logging(definition.name, settings.log_level)

    async def migrate() -> list[str]:
        dsn = settings.database_url.get_secret_value()
        pool = await create_pool(dsn, definition.name, 1)
        try:
            return await apply_migrations(pool, definition.name, definition.migrations)
        finally:
            await pool.close()

    applied = asyncio.run(migrate())
    print(f"{definition.name}: " + (", ".join(applied) if applied else "up to date"))
    return 0
