"""HTTP read endpoints under load, against a bare FastAPI endpoint in the same run.

    python bench/http_load.py [--clients 200] [--requests 2000] [--symbols KO,PEP,...]

Runs market_data, pairs and signals as processes on the local Kafka and PostgreSQL (`titan
infra up`'s, started in TITAN_HOME if they are not running), replays the bundled 20-stock
file (or --symbols of it) through them until they drained, then sends --requests requests
to each of `GET /bars` (two symbols, a year of daily bars, a different year per request),
`GET /pairs` and `GET /signals/active` from --clients concurrent clients on loopback (one
httpx connection each), and the same load to a bare FastAPI endpoint returning a small JSON
object, served by uvicorn in its own process like the services. Latency is measured per
request from send to the last byte read; an error is any exception or non-2xx answer.

Last line: one JSON object {"clients", "requests", "endpoints": {path: {"p50_ms", "p99_ms",
"errors", "rps"}}, "baseline": {...}, "ratio_p99": {path: p99 / baseline p99}}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.infra.ports import free_ports  # noqa: E402

SERVICES = ("market_data", "pairs", "signals")
BARE_APP = """
from fastapi import FastAPI
app = FastAPI()

@app.get("/ping")
async def ping() -> dict[str, object]:
    return {"status": "ok", "items": [1, 2, 3]}
"""


async def load(
    base: str, paths: Callable[[int], str], clients: int, requests: int
) -> dict[str, float]:
    """`requests` GETs of paths(i) from `clients` concurrent clients: latency figures."""
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def client() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=limits) as http:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                sent = time.perf_counter()
                try:
                    response = await http.get(paths(i))
                    await response.aread()
                    ok = 200 <= response.status_code < 300
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - sent)
                errors += 0 if ok else 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - started
    ms = np.array(latencies) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "errors": errors,
        "rps": round(requests / wall, 1),
    }


def start_bare_app(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    (folder / "bare_app.py").write_text(BARE_APP)
    (port,) = free_ports(1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port),
         "--log-level", "warning"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return proc, f"http://127.0.0.1:{port}"


async def wait_up(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(url)).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} not answering after {timeout_s:.0f} s")


async def run_pipeline(symbols: list[str] | None, home: Path) -> Any:
    """The three services, drained after a replay of the bundled file; returns the pipeline."""
    from services.market_data.data import bundled_file
    from services.market_data.feeds.kafka_producer import produce_ticks
    from services.market_data.feeds.replay import replay_ticks, replay_watermark
    from shared.infra.local import UpOptions, up
    from titan.commands.demo import DEMO_ENV
    from titan.drain import end_inputs_nobody_produces, wait_until_done
    from titan.pipeline import Pipeline

    path = bundled_file("sp500_20stocks_daily_1990_2022.csv.gz")
    assert path is not None
    ticks = replay_ticks(path, symbols=symbols)
    infra, _ = await up(home, UpOptions())
    pipeline = Pipeline(infra, SERVICES, home / "http-load-logs", extra_env=DEMO_ENV)
    await pipeline.prepare()
    await end_inputs_nobody_produces(pipeline)
    pipeline.start_services()

    async def batches() -> Any:
        for i in range(0, len(ticks), 10_000):
            yield ticks[i : i + 10_000]

    await produce_ticks(
        batches(), {"bootstrap_servers": pipeline.bootstrap},
        topic=pipeline.topic("market.ticks.v1"), producer_name="bench-http-load",
        watermark=replay_watermark(ticks), end_of_input=True,
    )  # fmt: skip
    await wait_until_done(pipeline, 1800.0, lambda _lag: None)
    return pipeline


def service_urls() -> dict[str, str]:
    from shared.runtime.endpoints import lookup_endpoint

    urls = {s: lookup_endpoint(s) for s in SERVICES}
    missing = [s for s, u in urls.items() if u is None]
    if missing:
        sys.exit(f"no endpoint registered for {', '.join(missing)}")
    return {s: str(u) for s, u in urls.items()}


def bars_path(i: int) -> str:
    year = 1991 + i % 31
    return f"/bars?symbols=KO,PEP&interval=1d&start={year}-01-01T00:00:00Z&end={year + 1}-01-01T00:00:00Z"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--requests", type=int, default=2000, help="per endpoint")
    parser.add_argument("--symbols", default=None, help="comma-separated subset of the file")
    args = parser.parse_args()
    if args.clients < 1 or args.requests < args.clients:
        parser.error("need --clients >= 1 and --requests >= --clients")
    home = Path(os.environ.get("TITAN_HOME") or tempfile.mkdtemp(prefix="titan-http-load-"))
    os.environ["TITAN_HOME"] = str(home)  # the services register their URLs there
    symbols = args.symbols.split(",") if args.symbols else None
    pipeline = await run_pipeline(symbols, home)
    folder = Path(tempfile.mkdtemp(prefix="titan-bare-app-"))
    bare, bare_url = start_bare_app(folder)
    try:
        urls = service_urls()
        await wait_up(bare_url + "/ping")
        targets: dict[str, tuple[str, Callable[[int], str]]] = {
            "/bars": (urls["market_data"], bars_path),
            "/pairs": (urls["pairs"], lambda _i: "/pairs"),
            "/signals/active": (urls["signals"], lambda _i: "/signals/active"),
        }
        endpoints: dict[str, dict[str, float]] = {}
        for name, (base, paths) in targets.items():
            await load(base, paths, min(args.clients, 20), min(args.requests, 100))  # warm up
            endpoints[name] = await load(base, paths, args.clients, args.requests)
            print(f"{name}: {endpoints[name]}", file=sys.stderr)
        baseline = await load(bare_url, lambda _i: "/ping", args.clients, args.requests)
        print(f"bare FastAPI /ping: {baseline}", file=sys.stderr)
    finally:
        bare.terminate()
        bare.wait(10)
        pipeline.stop_services()
    ratio = {n: round(e["p99_ms"] / baseline["p99_ms"], 2) for n, e in endpoints.items()}
    print(json.dumps({
        "clients": args.clients, "requests": args.requests, "endpoints": endpoints,
        "baseline": baseline, "ratio_p99": ratio,
    }))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
