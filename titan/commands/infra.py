"""`titan infra up|down|status|fetch`: the local Kafka broker, PostgreSQL and PGlite."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("infra", help="start/stop the local Kafka and PostgreSQL")
    sub = parser.add_subparsers(dest="infra_command", metavar="ACTION", required=True)

    up = sub.add_parser("up", help="start a local broker and database (idempotent)")
    up.add_argument("--kafka-port", type=_port, default=None)
    up.add_argument("--pg-port", type=_port, default=None)
    up.add_argument("--pglite-port", type=_port, default=None)
    up.add_argument("--no-kafka", action="store_true", help="do not start Kafka")
    up.add_argument("--no-postgres", action="store_true", help="do not start PostgreSQL")
    up.add_argument("--pglite", action="store_true", help="also start PGlite with TimescaleDB")
    up.set_defaults(func=_cmd_up)

    down = sub.add_parser("down", help="stop what `up` started (data is kept)")
    down.add_argument("--purge", action="store_true", help="also delete data and state")
    down.set_defaults(func=_cmd_down)

    status = sub.add_parser("status", help="what runs, where, with which DSNs")
    status.add_argument("--json", action="store_true", help="machine-readable (has passwords)")
    status.set_defaults(func=_cmd_status)

    topics = sub.add_parser("topics", help="create the topics on TITAN_KAFKA_BOOTSTRAP")
    topics.set_defaults(func=_cmd_topics)

    fetch = sub.add_parser("fetch", help="download the Kafka jars and PGlite packages only")
    fetch.add_argument("--no-pglite", action="store_true")
    fetch.set_defaults(func=_cmd_fetch)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be an integer, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 1..65535, got {value}")
    return value


def _cmd_up(args: argparse.Namespace) -> int:
    from shared.infra.local import UpOptions, up
    from shared.infra.state import titan_home

    if args.no_kafka and args.no_postgres and not args.pglite:
        print("nothing to start: --no-kafka and --no-postgres given", file=sys.stderr)
        return 2
    opts = UpOptions(
        kafka=not args.no_kafka, postgres=not args.no_postgres, pglite=args.pglite,
        kafka_port=args.kafka_port, pg_port=args.pg_port, pglite_port=args.pglite_port,
    )  # fmt: skip
    if opts.kafka and _bad_partitions("up"):
        return 2
    try:
        _, started = asyncio.run(up(titan_home(), opts))
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"titan infra up failed: {exc}", file=sys.stderr)
        return 1
    print("started: " + ", ".join(started) if started else "already running")
    return _print_status(json_out=False)


def _cmd_down(args: argparse.Namespace) -> int:
    from shared.infra.local import down
    from shared.infra.state import titan_home

    stopped = down(titan_home(), purge=args.purge)
    print("stopped: " + ", ".join(stopped) if stopped else "nothing was running")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    return _print_status(json_out=args.json)


def _print_status(*, json_out: bool) -> int:
    from shared.infra.state import load_local_infra, state_path

    infra = load_local_infra()
    if infra is None:
        if json_out:
            print(json.dumps({"running": {}, "state_file": None}))
        else:
            print(f"no local infrastructure ({state_path()} missing); run `titan infra up`")
        return 1
    running = infra.running()
    conditions = infra.conditions()
    if json_out:
        doc = infra.to_json() | {
            "running": running,
            "conditions": conditions,
            "state_file": str(state_path(infra.home)),
        }
        print(json.dumps(doc, indent=2, sort_keys=True))
        return 0
    print(f"state: {state_path(infra.home)}")
    if infra.kafka:
        k = infra.kafka
        print(f"kafka     {conditions['kafka']}  {k.bootstrap}  (Kafka {k.version}, pid {k.pid})")
    if infra.postgres:
        p = infra.postgres
        ts = "timescaledb" if p.timescaledb else "no timescaledb"
        print(f"postgres  {conditions['postgres']}  127.0.0.1:{p.port}/{p.database}  ({ts})")
        print("          DSNs with passwords: `titan infra status --json`")
    if infra.pglite:
        print(f"pglite    {conditions['pglite']}  {infra.pglite_dsn}")
    return 0 if any(running.values()) else 1


def _cmd_fetch(args: argparse.Namespace) -> int:
    from shared.infra.kafka import KafkaError, fetch_kafka
    from shared.infra.pglite import PgliteError, ensure_node_modules

    try:
        print(f"kafka jars: {fetch_kafka()}")
        if not args.no_pglite:
            print(f"pglite packages: {ensure_node_modules() / 'node_modules'}")
    except (KafkaError, PgliteError) as exc:
        print(f"titan infra fetch failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _bad_partitions(command: str) -> bool:
    from shared.topic_partitions import partition_config_error

    error = partition_config_error()
    if error is not None:
        print(f"titan infra {command}: {error}", file=sys.stderr)
    return error is not None


def _cmd_topics(args: argparse.Namespace) -> int:
    import os
    import re

    from shared.infra.kafka import KafkaError, ensure_topics
    from shared.topic_partitions import resolved_topics

    bootstrap = os.environ.get("TITAN_KAFKA_BOOTSTRAP")
    if not bootstrap:
        print("TITAN_KAFKA_BOOTSTRAP is not set", file=sys.stderr)
        return 2
    if _bad_partitions("topics"):
        return 2
    # The same names the services use, so a new topic set (other partition counts) can be
    # created beside the old one under a new prefix.
    prefix = os.environ.get("TITAN_TOPIC_PREFIX", "")
    if not re.fullmatch(r"[A-Za-z0-9._-]*", prefix):
        print(
            f"TITAN_TOPIC_PREFIX={prefix!r}: letters, digits, '.', '_' and '-' only",
            file=sys.stderr,
        )
        return 2
    specs = resolved_topics()
    names = {spec.name: prefix + spec.name for spec in specs}
    try:
        created = asyncio.run(ensure_topics(bootstrap, specs, names=names))
    except (KafkaError, OSError) as exc:
        print(f"titan infra topics failed: {exc}", file=sys.stderr)
        return 1
    print("created: " + ", ".join(created) if created else "all topics exist")
    return 0
