"""`titan signals tail|active`: follow signals.v1, or list open positions.

    titan signals tail --json [--from-beginning | --from TIME] [--limit N] [--idle-exit S]

prints one signal event per line (the JSON envelope with --json, else a readable line) and
exits after N signals or after S seconds without one. Broker: TITAN_KAFKA_BOOTSTRAP, else the
local infrastructure of `titan infra up`; topic prefix: TITAN_TOPIC_PREFIX, else that of the
last `titan demo` / `titan up` under TITAN_HOME (shared/runtime/endpoints.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("signals", help="follow trading signals, list positions")
    sub = parser.add_subparsers(dest="signals_command", metavar="ACTION", required=True)

    tail = sub.add_parser("tail", help="print signals from signals.v1 as they arrive")
    tail.add_argument("--json", action="store_true", help="one JSON envelope per line")
    start = tail.add_mutually_exclusive_group()
    start.add_argument("--from-beginning", action="store_true", help="replay the whole topic")
    start.add_argument("--from", dest="from_time", type=_time, help="start at an ISO time")
    tail.add_argument("--limit", type=_positive_int, default=None, help="exit after N signals")
    tail.add_argument(
        "--idle-exit", type=_positive_float, default=None, help="exit after S idle seconds"
    )
    tail.add_argument("--group", default=None, help="consumer group (default: none)")
    tail.set_defaults(func=_cmd_tail)

    active = sub.add_parser("active", help="open positions (GET /signals/active)")
    active.set_defaults(func=_cmd_active)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text}")
    return value


def _time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO time, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _bootstrap() -> str | None:
    from shared.runtime.endpoints import resolve_kafka_bootstrap

    return resolve_kafka_bootstrap()


def _cmd_tail(args: argparse.Namespace) -> int:
    bootstrap = _bootstrap()
    if bootstrap is None:
        print(
            "titan signals tail: no broker; set TITAN_KAFKA_BOOTSTRAP or run `titan infra up`",
            file=sys.stderr,
        )
        return 2
    try:
        return asyncio.run(_tail(args, bootstrap))
    except (LookupError, OSError) as exc:
        print(f"titan signals tail: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        if type(exc).__module__.startswith("aiokafka"):
            print(f"titan signals tail: Kafka at {bootstrap}: {exc}", file=sys.stderr)
            return 1
        raise


async def _tail(args: argparse.Namespace, bootstrap: str) -> int:
    from services.signals.client import SignalSubscriber
    from services.signals.stream_position import StartAt
    from shared.runtime.endpoints import resolve_topic_prefix

    start: StartAt = "beginning" if args.from_beginning else (args.from_time or "now")
    printed = 0
    last_seen = time.monotonic()
    async with SignalSubscriber(
        bootstrap,
        topic_prefix=resolve_topic_prefix(),
        start=start,
        group_id=args.group,
    ) as subscriber:
        while True:
            wait = 1.0
            if args.idle_exit is not None:
                wait = max(0.0, min(wait, args.idle_exit - (time.monotonic() - last_seen)))
            wanted = 500 if args.limit is None else args.limit - printed
            for envelope in await subscriber.poll(wanted, wait):
                print(_line(envelope, as_json=args.json), flush=True)
                printed += 1
                last_seen = time.monotonic()
            if args.limit is not None and printed >= args.limit:
                return 0
            if args.idle_exit is not None and time.monotonic() - last_seen >= args.idle_exit:
                return 0


def _line(envelope: Any, *, as_json: bool) -> str:
    if as_json:
        return str(envelope.model_dump_json())
    s = envelope.payload
    legs = " ".join(f"{leg.side} {leg.symbol} {leg.weight:.3f}" for leg in s.legs)
    z = "-" if s.z_score is None else f"{s.z_score:.3f}"
    return f"{s.bar_time.isoformat()} {s.pair_id} {s.action} z={z} [{legs}] {s.reason}"


def _cmd_active(args: argparse.Namespace) -> int:
    from services.signals.client import BlockingSignalClient, SignalSource

    class _NoStream(SignalSource):
        async def start(self) -> None:
            return None

        async def poll(self, max_records: int, wait_s: float) -> list[Any]:
            return []

        async def stop(self) -> None:
            return None

    try:
        with BlockingSignalClient(_NoStream()) as client:
            positions = client.active_positions()
    except (LookupError, ValueError, OSError) as exc:
        print(f"titan signals active: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(positions, indent=2))
    return 0
