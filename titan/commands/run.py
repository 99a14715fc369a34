"""`titan run SERVICE`: run one service in the foreground until SIGTERM."""

from __future__ import annotations

import argparse
import importlib

SERVICES = {
    "market-data": "services.market_data.bootstrap",
    "pairs": "services.pairs.bootstrap",
    "regime": "services.regime.bootstrap",
    "signals": "services.signals.bootstrap",
    "backtest": "services.backtest.bootstrap",
}
# The schema spelling is accepted too (`titan run market_data`), as deploy manifests use it.
SERVICES["market_data"] = SERVICES["market-data"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("run", help="run one service (configured by TITAN_* variables)")
    parser.add_argument("service", choices=sorted(SERVICES))
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from shared.logging import configure_logging
    from shared.runtime.config import resolve_config
    from shared.runtime.service import ServiceRunner, run_forever

    module = importlib.import_module(SERVICES[args.service])
    definition = module.definition()
    settings, kafka = resolve_config(definition.name, module.SETTINGS)
    configure_logging(definition.name, settings.log_level)
    runner = ServiceRunner(definition, settings, kafka)
    return run_forever(runner)
