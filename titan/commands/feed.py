"""`titan feed replay|websocket`: put trades on market.ticks.v1.

Every flag and file is checked before any broker is contacted, so mistakes fail fast with
exit code 2 and one clear line. The broker is TITAN_KAFKA_BOOTSTRAP (plus the other
TITAN_KAFKA_* settings) or, when unset, the local infrastructure of `titan infra up`. `--topic`
is a contract name; the topic prefix (TITAN_TOPIC_PREFIX, else that of the last `titan demo` /
`titan up` under TITAN_HOME) goes in front of it, as the services do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.topics import MARKET_TICKS

if TYPE_CHECKING:
    from services.market_data.feeds.encoding import TickLike
    from services.market_data.feeds.replay import FeedTick

USAGE_ERROR = 2


class FeedUsageError(ValueError):
    pass


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("feed", help="send trades to market.ticks.v1 (file replay, websocket)")
    feeds = parser.add_subparsers(dest="feed", metavar="FEED", required=True)

    replay = feeds.add_parser("replay", help="replay daily price files as trades")
    replay.add_argument("files", nargs="+", metavar="FILE", help="CSV(.gz) path or bundled name")
    replay.add_argument("--speed", default="max", help="'max' or N times real time")
    replay.add_argument("--symbols", default="", help="comma-separated subset, e.g. KO,PEP")
    replay.add_argument("--layout", choices=("auto", "wide", "long"), default="auto")
    replay.add_argument("--price-column", default="Adj Close", help="long layout price column")
    replay.add_argument("--close-time", default="21:00", help="UTC time of the daily tick")
    replay.add_argument("--malformed-rate", type=float, default=0.0, help="share of broken ticks")
    replay.add_argument("--seed", type=int, default=0, help="seed choosing the broken ticks")
    replay.add_argument("--topic", default=MARKET_TICKS.name)
    replay.add_argument("--dry-run", action="store_true", help="build and encode, do not send")
    replay.add_argument("--keep-open", action="store_true",
                        help="do not send the end-of-input watermark (more data will follow)")  # fmt: skip
    replay.set_defaults(func=_replay)

    ws = feeds.add_parser("websocket", help="relay a websocket JSON trade feed")
    ws.add_argument("url")
    ws.add_argument("--mapping", default="{}", help='JSON, e.g. {"symbol": "s", "price": "p"}')
    ws.add_argument("--match", default="{}", help='JSON filter, e.g. {"e": "trade"}')
    ws.add_argument("--topic", default=MARKET_TICKS.name)
    ws.add_argument("--max-ticks", type=int, default=None, help="stop after this many trades")
    ws.add_argument("--lateness-s", type=float, default=5.0,
                    help="watermark = latest trade time minus this many seconds")  # fmt: skip
    ws.set_defaults(func=_websocket)


def _fail(message: str) -> int:
    print(f"titan feed: {message}", file=sys.stderr)
    return USAGE_ERROR


def _replay(args: argparse.Namespace) -> int:
    from services.market_data.feeds.encoding import tick_event_bytes
    from services.market_data.feeds.pacing import paced_batches, parse_speed
    from services.market_data.feeds.replay import ReplayError, inject_malformed, replay_watermark

    try:
        speed = parse_speed(args.speed)
        ticks = _replay_ticks(args)
        ticks, malformed = inject_malformed(ticks, args.malformed_rate, args.seed)
        kafka = None if args.dry_run else _kafka_kwargs()
    except (ReplayError, ValueError) as exc:
        return _fail(str(exc))
    summary: dict[str, Any] = {"ticks": len(ticks), "malformed": len(malformed)}
    if args.dry_run:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        summary["bytes"] = sum(
            len(tick_event_bytes(t, producer="feed", produced_at=now)) for t in ticks
        )
    else:
        from services.market_data.feeds.kafka_producer import produce_ticks

        assert kafka is not None
        refused = _login_refused(kafka)
        if refused is not None:
            return _fail(refused)
        counts = asyncio.run(
            produce_ticks(
                paced_batches(ticks, speed),
                kafka,
                topic=_topic(args.topic),
                producer_name="feed-replay",
                watermark=replay_watermark(ticks),
                end_of_input=not args.keep_open,
            )
        )
        summary["sent"] = counts.sent
    summary["malformed_ticks"] = [
        {"index": m.index, "trade_id": m.trade_id, "kind": m.kind} for m in malformed
    ]
    print(json.dumps(summary))
    return 0


def _replay_ticks(args: argparse.Namespace) -> list[FeedTick]:
    from services.market_data.data import bundled_file
    from services.market_data.feeds.replay import parse_close_time, replay_ticks

    close_time = parse_close_time(args.close_time)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()] or None
    ticks: list[FeedTick] = []
    for name in args.files:
        path = Path(name)
        if not path.exists():
            path = bundled_file(name) or path
        ticks.extend(
            replay_ticks(
                path,
                layout=args.layout,
                price_column=args.price_column,
                symbols=symbols,
                close_time=close_time,
            )
        )
    if len(args.files) > 1:
        ticks.sort(key=lambda t: (t.ts, t.symbol))  # stable: file order breaks exact ties
    return ticks


def _topic(contract_name: str) -> str:
    """The topic behind the resolved prefix: TITAN_TOPIC_PREFIX, else the local pipeline's."""
    from shared.runtime.endpoints import resolve_topic_prefix

    return resolve_topic_prefix() + contract_name


def _kafka_kwargs() -> dict[str, object]:
    import os

    from shared.runtime.endpoints import resolve_kafka_bootstrap
    from shared.settings import KafkaSettings

    if os.environ.get("TITAN_KAFKA_BOOTSTRAP"):
        return KafkaSettings().client_kwargs()
    bootstrap = resolve_kafka_bootstrap()
    if bootstrap is None:
        raise FeedUsageError("no broker: set TITAN_KAFKA_BOOTSTRAP or run `titan infra up`")
    return KafkaSettings(bootstrap=bootstrap).client_kwargs()


def _login_refused(kafka: dict[str, object]) -> str | None:
    """Why the broker refuses these credentials, if it does (a down broker is not refusal:
    the producer's own retries deal with that)."""
    from shared.runtime.broker_login import BrokerLoginRefused, check_broker_login

    try:
        asyncio.run(check_broker_login(kafka))
    except BrokerLoginRefused as exc:
        return str(exc)
    except (OSError, RuntimeError):
        return None
    return None


def _websocket(args: argparse.Namespace) -> int:
    from services.market_data.feeds.websocket import FieldMapping, WebsocketTradeFeed

    try:
        if not args.url.startswith(("ws://", "wss://")):
            raise FeedUsageError(f"URL must start with ws:// or wss://, got {args.url!r}")
        mapping = FieldMapping.from_json(args.mapping)
        match = json.loads(args.match)
        if not isinstance(match, dict):
            raise FeedUsageError('--match must be a JSON object, e.g. {"e": "trade"}')
        if args.max_ticks is not None and args.max_ticks < 1:
            raise FeedUsageError(f"--max-ticks must be positive, got {args.max_ticks}")
        kafka = _kafka_kwargs()
    except ValueError as exc:
        return _fail(
            f"--match is not JSON: {exc}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        )
    refused = _login_refused(kafka)
    if refused is not None:
        return _fail(refused)
    feed = WebsocketTradeFeed(args.url, mapping=mapping, match=match)

    async def run() -> int:
        from services.market_data.feeds.kafka_producer import produce_ticks

        counts = await produce_ticks(
            _limited(feed.ticks(), args.max_ticks),
            kafka,
            topic=_topic(args.topic),
            producer_name="feed-ws",
            watermark=_bounded_lateness(args.lateness_s),
        )
        return counts.sent

    sent = asyncio.run(run())
    print(json.dumps({"sent": sent, "invalid": feed.stats.invalid, "ignored": feed.stats.ignored}))
    return 0


def _bounded_lateness(lateness_s: float) -> Callable[[int, Sequence[TickLike]], int | None]:
    """A live feed's watermark: the latest trade time seen minus the lateness it allows."""
    latest: list[int] = []

    def watermark(_sent: int, batch: Sequence[TickLike]) -> int | None:
        from shared.runtime.watermarks import to_us

        if batch:
            newest = max(to_us(t.ts) for t in batch)
            latest[:] = [max(newest, *latest)]
        return latest[0] - int(lateness_s * 1e6) if latest else None

    return watermark


async def _limited(
    batches: AsyncIterator[Sequence[TickLike]], limit: int | None
) -> AsyncIterator[Sequence[TickLike]]:
    seen = 0
    async for batch in batches:
        if limit is not None and seen + len(batch) >= limit:
            yield batch[: limit - seen]
            return
        seen += len(batch)
        yield batch
