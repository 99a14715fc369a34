"""`titan run SERVICE`: run one service in the foreground until SIGTERM."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

SERVICES = {
    "market-data": "services.market_data.bootstrap",
    "pairs": "services.pairs.bootstrap",
    "regime": "services.regime.bootstrap",
    "signals": "services.signals.bootstrap",
    "backtest": "services.backtest.bootstrap",
    "portfolio": "services.portfolio.bootstrap",
    "execution": "services.execution.bootstrap",
}
# Exit code of a service stopped by a fault retrying cannot fix (a refused broker login).
CANNOT_CONTINUE = 3
# The schema spelling is accepted too (`titan run market_data`), as deploy manifests use it.
SERVICES["market_data"] = SERVICES["market-data"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("run", help="run one service (configured by TITAN_* variables)")
    parser.add_argument("service", choices=sorted(SERVICES))
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

    module = importlib.import_module(SERVICES[args.service])
    definition = module.definition()
    settings, kafka = resolve_config(definition.name, definition.settings)
    configure_logging(definition.name, settings.log_level)
    runner = ServiceRunner(definition, settings, kafka)
    try:
        return run_forever(runner, stop_before_start)
    except BrokerLoginRefused as exc:
        print(f"titan run {args.service}: cannot continue: {exc}", file=sys.stderr)
        return CANNOT_CONTINUE
