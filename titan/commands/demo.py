"""`titan demo`: the whole pipeline on the bundled 20-stock data, with a live signal feed.

Starts the local infrastructure if it is not up, then market_data, pairs, regime and signals
as child processes on a fresh topic prefix and database, replays the file as fast as
possible (with its watermarks and the end of input), prints signals as they arrive with a
progress line, and exits with a summary once every service has consumed everything: counts
and one content digest per output topic (titan/digests.py). `--offline` computes the same
summary in one process with no Kafka or PostgreSQL (titan/offline.py); the digests of the two
must be equal. The infrastructure stays up (`titan infra down`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_SERVICES = ("market_data", "pairs", "regime", "signals", "portfolio")
# Daily closes only; regime models refitted quarterly (63 bars) instead of weekly so that
# 33 years of history replay in minutes. Variables already set in the environment win.
DEMO_ENV = {
    "TITAN_BAR_INTERVALS": "1d",
    "TITAN_REGIME_REFIT_EVERY_BARS": "63",
    "TITAN_REGIME_WINDOW_BARS": "756",
    # The portfolio's risk limits and costs, so that the demo shows them at work.
    "TITAN_PORTFOLIO_MAX_PAIRS": "8",
    "TITAN_PORTFOLIO_MAX_SYMBOL_EXPOSURE": "0.5",
    "TITAN_PORTFOLIO_MAX_NET_EXPOSURE": "0.5",
    "TITAN_PORTFOLIO_DRAWDOWN_KILL": "0.25",
    "TITAN_PORTFOLIO_COMMISSION_BPS": "1",
    "TITAN_PORTFOLIO_SLIPPAGE_BPS": "2",
    "TITAN_PORTFOLIO_BORROW_BPS_ANNUAL": "50",
}


# With several replicas, every screen's pair space is shared among the pairs replicas (the
# owner and its standbys, services/pairs/screen_grid.py) however small, so that the demo runs
# that path; a lease of 5 s keeps a block claimed by a killed replica from stalling a screen.
def replicas_env(replicas: int) -> dict[str, str]:
    if replicas < 2:
        return {}
    return {
        "TITAN_PAIRS_SCREEN_GRID_BLOCKS": str(replicas),
        "TITAN_PAIRS_SCREEN_GRID_MIN_PAIRS": "0",
        "TITAN_PAIRS_SCREEN_GRID_LEASE_S": "5",
    }


# With the backtest service: signals waits for the parameter sets of each activation; the
# walk-forward publication bar drops the deflated-Sharpe test (0.95 by default), which no pair
# of this file passes with the grid's trials, so that the demo shows sets published and used.
BACKTEST_DEMO_ENV = {
    "TITAN_SIGNALS_AWAIT_PARAMS": "true",
    "TITAN_BACKTEST_LIFECYCLE_OPTIONS": '{"min_deflated_sharpe": 0.0}',
}


def register(sub: Any) -> None:
    parser = sub.add_parser("demo", help="run the whole pipeline on the bundled 20-stock data")
    parser.add_argument("--file", default="sp500_20stocks_daily_1990_2022.csv.gz",
                        help="a price file (path, or the name of a bundled file)")  # fmt: skip
    parser.add_argument("--symbols", default=None, help="comma-separated subset of symbols")
    parser.add_argument("--with-backtest", action="store_true",
                        help="also run the backtest service (walk-forward on active pairs)")  # fmt: skip
    parser.add_argument("--services", default=",".join(DEFAULT_SERVICES),
                        help="comma-separated services to run (default: %(default)s)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before giving up")
    parser.add_argument("--quiet", action="store_true", help="no per-signal lines")
    parser.add_argument("--json", action="store_true",
                        help="print only the summary, as one JSON object")  # fmt: skip
    parser.add_argument("--chaos", type=int, default=None, metavar="SEED",
                        help="random start order, batch sizes and delays, a CPU hog and a "
                        "SIGKILL of every service (the digests must not change)")  # fmt: skip
    from titan.faults import add_fault_arguments

    add_fault_arguments(parser)
    parser.add_argument("--replicas", type=_replica_count, default=1, metavar="N",
                        help="processes per service, each a member of its consumer group "
                        "(default: 1)")  # fmt: skip
    parser.add_argument("--offline", action="store_true",
                        help="same domain code in one process, no Kafka or PostgreSQL")  # fmt: skip
    parser.add_argument("--keep-running", action="store_true",
                        help="leave every service (backtest included) running in the background "
                        "for the client, a notebook or Django; `titan down` stops them")  # fmt: skip
    parser.set_defaults(func=_demo)


MAX_REPLICAS = 8


def _replica_count(raw: str) -> int:
    try:
        n = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {raw!r}") from None
    if not 1 <= n <= MAX_REPLICAS:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_REPLICAS}, got {n}")
    return n


def _demo(args: argparse.Namespace) -> int:
    from services.market_data.feeds.replay import ReplayError, replay_ticks
    from shared.topic_partitions import partition_config_error

    path = _resolve_file(args.file)
    if path is None:
        print(f"titan demo: no such file {args.file!r}", file=sys.stderr)
        return 2
    from titan.pipeline import SERVICE_INPUTS

    unknown = [s for s in args.services.split(",") if s.strip() and s.strip() not in SERVICE_INPUTS]
    if unknown:
        print(
            f"titan demo: unknown services {unknown}; known: {sorted(SERVICE_INPUTS)}",
            file=sys.stderr,
        )
        return 2
    symbols = [s.strip().upper() for s in args.symbols.split(",")] if args.symbols else None
    try:
        ticks = replay_ticks(path, symbols=symbols)
    except ReplayError as exc:
        print(f"titan demo: {exc}", file=sys.stderr)
        return 2
    if args.keep_running and (args.offline or args.chaos is not None):
        print("titan demo: --keep-running needs live services (not --offline or --chaos)",
              file=sys.stderr)  # fmt: skip
        return 2
    from titan.faults import plan_from

    if isinstance(plan := plan_from(args), str):
        print(f"titan demo: {plan}", file=sys.stderr)
        return 2
    args.fault_plan = plan
    if not args.offline and (error := partition_config_error()) is not None:
        print(f"titan demo: {error}", file=sys.stderr)
        return 2
    try:
        if args.offline:
            return asyncio.run(_run_offline(args, path, symbols, ticks))
        return asyncio.run(_run(args, path, symbols, ticks))
    except KeyboardInterrupt:
        return 130


async def _run_offline(
    args: argparse.Namespace, path: Path, symbols: list[str] | None, ticks: list[Any]
) -> int:
    from titan.digests import digests_of
    from titan.offline import run_offline

    started_at = time.monotonic()
    env = {**DEMO_ENV, **(BACKTEST_DEMO_ENV if args.with_backtest else {})}
    events = await run_offline(ticks, env, with_backtest=args.with_backtest)
    pairs = {t: [(str(e.event_id), e.payload.model_dump(mode="json")) for e in evs]
             for t, evs in events.items()}  # fmt: skip
    summary = summarize(path, symbols, len(ticks), pairs, digests_of(pairs))
    summary.update(mode="offline", elapsed_s=round(time.monotonic() - started_at, 1))
    _print_summary(summary, args.json)
    return 0


def summarize(
    path: Path,
    symbols: list[str] | None,
    ticks: int,
    events: dict[str, list[tuple[str, Any]]],
    digests: dict[str, Any],
) -> dict[str, Any]:
    """The part of the summary that must be equal live and offline (content only)."""
    from titan.portfolio_summary import portfolio_summary

    lifecycle = events.get("pairs.lifecycle.v1", [])
    found = sorted({p["pair_id"] for _, p in lifecycle if p.get("to_state") == "active"})
    return {
        "file": path.name,
        "symbols": symbols,
        "ticks": ticks,
        "pairs_found": found,
        "pair_tests": digests["pairs.tests.v1"]["count"],
        "regime_shifts": digests["regime.shifts.v1"]["count"],
        "signals": digests["signals.v1"]["count"],
        "portfolio": portfolio_summary(events, digests),
        "digests": digests,
    }


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, separators=(",", ":")))
        return
    print("\n" + json.dumps(summary, indent=2))


def _resolve_file(name: str) -> Path | None:
    from services.market_data.data import bundled_file

    path = Path(name)
    if path.exists():
        return path
    bundled = bundled_file(name)
    return bundled if bundled is not None and bundled.exists() else None


async def _run(
    args: argparse.Namespace, path: Path, symbols: list[str] | None, ticks: list[Any]
) -> int:
    from services.market_data.feeds.kafka_producer import produce_ticks
    from services.market_data.feeds.replay import replay_watermark
    from shared.infra.local import UpOptions, up
    from shared.infra.state import titan_home
    from titan.pipeline import GATEWAYS, Pipeline

    started_at = time.monotonic()
    home = titan_home()
    print("titan demo: making sure the local Kafka and PostgreSQL are up ...", file=sys.stderr)
    infra, started = await up(home, UpOptions())
    if started:
        print(f"titan demo: started {', '.join(started)}", file=sys.stderr)
    services = tuple(s.strip() for s in args.services.split(",") if s.strip())
    with_backtest = args.with_backtest or args.keep_running  # the client runs backtests
    services += ("backtest",) if with_backtest and "backtest" not in services else ()
    from titan.chaos import CHAOS_ENV, Chaos
    from titan.drain import end_inputs_nobody_produces, wait_until_done

    chaos = Chaos(args.chaos) if args.chaos is not None else None
    env = {**DEMO_ENV, **(CHAOS_ENV if chaos is not None else {}), **replicas_env(args.replicas)}
    if "backtest" in services:
        env.update(BACKTEST_DEMO_ENV)
    from titan.local_services import record, stop_recorded

    if stopped := stop_recorded(home):  # one set of services registers under one TITAN_HOME
        print(f"titan demo: stopped the services left running: {', '.join(stopped)}",
              file=sys.stderr)  # fmt: skip
    pipeline = Pipeline(infra, services, home / "demo-logs", extra_env=env,
                        replicas=args.replicas, detached=args.keep_running,
                        gateways=GATEWAYS if args.keep_running else ())  # fmt: skip
    await pipeline.prepare()
    record(pipeline, home, "demo", running=False)  # its topic prefix, for tail and the client
    print(f"titan demo: topic prefix {pipeline.prefix}  database {pipeline.database}  "
          f"logs {pipeline.log_dir}", file=sys.stderr)  # fmt: skip
    ended = await end_inputs_nobody_produces(pipeline)
    if ended and not args.json:
        print(f"titan demo: no service produces {', '.join(ended)} here: sent its end of input",
              file=sys.stderr)  # fmt: skip
    killer: asyncio.Task[None] | None = None
    from titan.faults import FaultRun

    faults = (
        FaultRun(args.fault_plan, chaos, pipeline, infra)
        if chaos is not None and args.fault_plan.active
        else None
    )
    if chaos is not None:
        chaos.start_hog()
        await chaos.start(pipeline)
        if faults is not None:
            faults.start()
        else:
            killer = asyncio.create_task(chaos.kill_each_once(pipeline))
    else:
        pipeline.start_services()
        if args.keep_running:
            record(pipeline, home, "demo", running=True)
    keep = False
    watcher = asyncio.create_task(_watch(pipeline, args.quiet or args.json))
    try:

        async def batches() -> Any:
            for i in range(0, len(ticks), 10_000):
                pipeline.check_alive()
                yield ticks[i : i + 10_000]

        counts = await produce_ticks(
            batches(), {"bootstrap_servers": pipeline.bootstrap},
            topic=pipeline.topic("market.ticks.v1"), producer_name="titan-demo",
            watermark=replay_watermark(ticks), end_of_input=True,
        )  # fmt: skip
        if not args.json:
            print(f"\ntitan demo: replayed {counts.sent} ticks; waiting for the pipeline "
                  "to drain", file=sys.stderr)  # fmt: skip
        if killer is not None:
            await killer  # every service was killed once before the drain is judged
        if faults is not None:
            await faults.after_replay()  # every fault is done before the drain is judged

        def progress(lag: dict[str, int]) -> None:
            if args.json:
                return
            stats = watcher_stats
            lags = " ".join(f"{s}:{n}" for s, n in lag.items())
            sys.stderr.write(
                f"\r[{time.monotonic() - started_at:6.1f}s] lag {lags} | active pairs "
                f"{len(stats['active'])} shifts {stats['shifts']} signals {stats['signals']}   "
            )
            sys.stderr.flush()

        await wait_until_done(pipeline, args.timeout, progress)
        if faults is not None and await faults.last_poison():
            await wait_until_done(pipeline, args.timeout, progress)
        keep = args.keep_running
        fault_figures = await faults.figures(home) if faults is not None else {}
    finally:
        if killer is not None:
            killer.cancel()
        if faults is not None:
            faults.cancel()
        if chaos is not None:
            chaos.stop()
        if not keep:
            pipeline.stop_services()
        watcher.cancel()
    from shared.topics import topic
    from titan.digests import DIGEST_TOPICS, delivery_audit, digests_of, read_published

    strict = args.fault_plan.poison > 0  # poison records are not events
    published = {}
    for t in DIGEST_TOPICS:
        ends = await pipeline.end_offsets({t})
        published[t] = await read_published(pipeline.bootstrap, ends,
                                            topic(t).events if strict else None)  # fmt: skip
    events = {t: [(r.event_id, r.payload) for r in rs] for t, rs in published.items()}
    elapsed = time.monotonic() - started_at
    summary = summarize(path, symbols, len(ticks), events, digests_of(events))
    summary.update(mode="live", elapsed_s=round(elapsed, 1), topic_prefix=pipeline.prefix,
                   database=pipeline.database, replicas=args.replicas,
                   delivery={t: delivery_audit(rs) for t, rs in published.items()})  # fmt: skip
    if chaos is not None:
        summary["chaos"] = {"seed": chaos.seed, "killed": chaos.kills, "retired": chaos.retired,
                            **fault_figures}  # fmt: skip
    _print_summary(summary, args.json)
    if not args.json:
        left = "the services and " if keep else ""
        print(f"titan demo: done in {elapsed:.0f} s; {left}the infrastructure stay up "
              f"(`titan status` lists them, `titan down` stops them)", file=sys.stderr)  # fmt: skip
    return 0


watcher_stats: dict[str, Any] = {"active": set(), "ever_active": set(), "shifts": 0, "signals": 0}


async def _watch(pipeline: Any, quiet: bool) -> None:
    """Follow lifecycle, regime shifts and signals; print each signal as it arrives."""
    from aiokafka import AIOKafkaConsumer

    from shared.runtime.watermarks import is_watermark

    topics = {
        pipeline.topic(t): t for t in ("pairs.lifecycle.v1", "regime.shifts.v1", "signals.v1")
    }
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=pipeline.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    seen: set[str] = set()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                for m in messages:
                    if is_watermark(m.headers):
                        continue  # a producer's event-time progress, not an event
                    try:
                        event = json.loads(m.value)
                    except (TypeError, ValueError):
                        continue
                    if event.get("event_id") in seen:
                        continue  # an exact copy of an event already counted
                    seen.add(event.get("event_id"))
                    _count(topics[m.topic], event, quiet)
    finally:
        await consumer.stop()


def _count(topic: str, event: dict[str, Any], quiet: bool) -> None:
    p = event.get("payload", {})
    if topic == "pairs.lifecycle.v1":
        if p.get("to_state") == "active":
            watcher_stats["active"].add(p["pair_id"])
            watcher_stats["ever_active"].add(p["pair_id"])
        else:
            watcher_stats["active"].discard(p.get("pair_id"))
    elif topic == "regime.shifts.v1":
        watcher_stats["shifts"] += 1
    else:
        watcher_stats["signals"] += 1
        if not quiet:
            legs = " ".join(
                f"{leg['side']} {leg['weight']:.2f} {leg['symbol']}" for leg in p.get("legs", [])
            )
            sys.stderr.write("\r" + " " * 110 + "\r")
            z = p.get("z_score")
            print(f"{p.get('bar_time', '')[:10]} {p.get('pair_id', ''):<10} {p.get('action', ''):<18} "
                  f"z={z if z is None else round(z, 2)!s:<6} {legs}")  # fmt: skip
