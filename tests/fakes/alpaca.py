"""A fake Alpaca paper-trading broker: a real HTTP server speaking the orders API.

    python -m tests.fakes.alpaca --port N --record FILE --script FILE [--port-file F]

Endpoints (JSON, auth by APCA-API-KEY-ID / APCA-API-SECRET-KEY, 401 otherwise):
  POST /v2/orders                              market/limit orders; 422 "client_order_id must
                                               be unique" for a client order id seen before
  GET  /v2/orders?status=open|closed|all       orders, oldest first (direction=desc: newest)
  GET  /v2/orders/{id}                         404 {"code": 40410000, ...} when unknown
  GET  /v2/orders:by_client_order_id?client_order_id=...

Every request is appended to the record file as one JSON line (method, path, query, body,
status, client_order_id, and `created`: whether this request created an order).

The script (JSON) says how each symbol's submissions go; the k-th POST for a symbol plays
`symbols[symbol][k]` (the last one repeats; `default` for symbols not listed):
  fill      accepted; filled at its first read
  partial   accepted; partially filled (half) at the first read, filled at the second
  reject    403 {"code": 40310000, "message": "insufficient buying power"}; nothing created
  throttle  429 with Retry-After: `retry_after_s`; nothing created
  error     503; nothing created
  slow      the order IS created (it fills like `fill`), and the answer comes after `slow_s`
            seconds: past the client's timeout, the nastiest case for exactly-once
Fill prices: `prices[symbol]` (default 100.0); a partial fill's rest fills 0.1 % higher.
`latency_ms`: every answer waits this long (orders then take time to place, like a real
broker's round trip).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

PLANS = ("fill", "partial", "reject", "throttle", "error", "slow")
TERMINAL = ("filled", "canceled", "expired", "rejected", "replaced")
ASSET_NAMESPACE = uuid.UUID("0b6e6c50-4a4c-4c2c-9a51-3c1f1c7a1e01")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Script:
    default: list[str] = field(default_factory=lambda: ["fill"])
    symbols: dict[str, list[str]] = field(default_factory=dict)
    prices: dict[str, float] = field(default_factory=dict)
    retry_after_s: float = 1.0
    slow_s: float = 3.0
    latency_ms: float = 0.0

    @classmethod
    def load(cls, path: Path | None) -> Script:
        data = json.loads(path.read_text()) if path is not None else {}
        script = cls(**data)
        for plans in [script.default, *script.symbols.values()]:
            unknown = [p for p in plans if p not in PLANS]
            if not plans or unknown:
                raise SystemExit(f"bad script {path}: plans {plans}; known: {', '.join(PLANS)}")
        return script

    def plan(self, symbol: str, k: int) -> str:
        plans = self.symbols.get(symbol, self.default)
        return plans[min(k, len(plans) - 1)]


@dataclass
class FakeOrder:
    data: dict[str, Any]
    plan: str
    reads: int = 0


class Broker:
    """The broker's state, shared by the server's threads under one lock."""

    def __init__(self, script: Script, record: Path) -> None:
        self.script = script
        self.record_path = record
        self.lock = threading.Lock()
        self.orders: dict[str, FakeOrder] = {}
        self.by_client: dict[str, str] = {}
        self.posts: dict[str, int] = {}
        self.seq = 0

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.seq += 1
            line = json.dumps({"seq": self.seq, "at": time.time(), **entry})
            with self.record_path.open("a") as f:
                f.write(line + "\n")

    def submit(self, body: Any) -> tuple[int, Any, dict[str, str], str, bool]:
        """(status, answer, headers, plan, created) of one POST /v2/orders."""
        invalid = _invalid(body)
        symbol = str(body.get("symbol", "")).upper() if isinstance(body, dict) else ""
        with self.lock:
            k = self.posts.get(symbol, 0)
            self.posts[symbol] = k + 1
            plan = self.script.plan(symbol, k)
            if plan == "throttle":
                headers = {"Retry-After": f"{self.script.retry_after_s:g}"}
                return (
                    429,
                    {"code": 42910000, "message": "rate limit exceeded"},
                    headers,
                    plan,
                    False,
                )
            if invalid:
                return 422, {"code": 40010001, "message": invalid}, {}, plan, False
            cid = str(body.get("client_order_id") or uuid.uuid4())
            if cid in self.by_client:
                answer = {"code": 40010001, "message": "client_order_id must be unique"}
                return 422, answer, {}, plan, False
            if plan == "reject":
                return (
                    403,
                    {"code": 40310000, "message": "insufficient buying power"},
                    {},
                    plan,
                    False,
                )
            if plan == "error":
                return 503, {"code": 50010000, "message": "internal server error"}, {}, plan, False
            order = _new_order(body, cid, symbol)
            self.orders[order["id"]] = FakeOrder(order, plan)
            self.by_client[cid] = order["id"]
            return 200, dict(order), {}, plan, True

    def read(self, order_id: str) -> dict[str, Any] | None:
        """The order as a read sees it; reads move scripted fills forward."""
        with self.lock:
            fake = self.orders.get(order_id)
            if fake is None:
                return None
            fake.reads += 1
            self._progress(fake)
            return dict(fake.data)

    def _progress(self, fake: FakeOrder) -> None:
        data = fake.data
        if data["status"] in TERMINAL:
            return
        qty = Decimal(data["qty"])
        price = Decimal(str(self.script.prices.get(data["symbol"], 100.0)))
        if fake.plan == "partial" and fake.reads == 1:
            half = (qty / 2).quantize(Decimal("1")) if qty >= 2 else qty / 2
            _fill(data, half, price, "partially_filled")
        else:
            done = Decimal(data["filled_qty"])
            rest_price = price * Decimal("1.001") if done > 0 else price
            avg = (
                (Decimal(data["filled_avg_price"]) * done + rest_price * (qty - done)) / qty
                if done > 0
                else price
            )
            _fill(data, qty, avg, "filled")

    def list(self, status: str, direction: str) -> list[dict[str, Any]]:
        with self.lock:
            ids = list(self.orders)
        out = [o for o in (self.read(i) for i in ids) if o is not None]
        if status == "open":
            out = [o for o in out if o["status"] not in TERMINAL]
        elif status == "closed":
            out = [o for o in out if o["status"] in TERMINAL]
        return out[::-1] if direction == "desc" else out


def _fill(data: dict[str, Any], filled: Decimal, avg: Decimal, status: str) -> None:
    now = _now()
    data["filled_qty"] = str(filled.normalize())
    data["filled_avg_price"] = str(avg.quantize(Decimal("0.000001")).normalize())
    data["status"] = status
    data["updated_at"] = now
    if status == "filled":
        data["filled_at"] = now


def _invalid(body: Any) -> str | None:
    """Alpaca's 422 message for a malformed order, None when it is well formed."""
    if not isinstance(body, dict):
        return "request body format is invalid"
    if not isinstance(body.get("symbol"), str) or not body["symbol"]:
        return "symbol is required"
    try:
        qty = Decimal(str(body.get("qty")))
    except InvalidOperation:
        return "qty is invalid"
    if not qty.is_finite() or qty <= 0:
        return "qty must be > 0"
    if body.get("side") not in ("buy", "sell"):
        return "side must be buy or sell"
    if body.get("type") not in ("market", "limit"):
        return "invalid order type"
    if body.get("time_in_force") not in ("day", "gtc", "opg", "cls", "ioc", "fok"):
        return "invalid time_in_force"
    if len(str(body.get("client_order_id", ""))) > 128:
        return "client_order_id must be no more than 128 characters"
    return None


def _new_order(body: dict[str, Any], cid: str, symbol: str) -> dict[str, Any]:
    now = _now()
    return {
        "id": str(uuid.uuid4()),
        "client_order_id": cid,
        "created_at": now,
        "updated_at": now,
        "submitted_at": now,
        "filled_at": None,
        "expired_at": None,
        "canceled_at": None,
        "failed_at": None,
        "replaced_at": None,
        "replaced_by": None,
        "replaces": None,
        "asset_id": str(uuid.uuid5(ASSET_NAMESPACE, symbol)),
        "symbol": symbol,
        "asset_class": "us_equity",
        "notional": None,
        "qty": str(Decimal(str(body["qty"])).normalize()),
        "filled_qty": "0",
        "filled_avg_price": None,
        "order_class": "",
        "order_type": body["type"],
        "type": body["type"],
        "side": body["side"],
        "time_in_force": body["time_in_force"],
        "limit_price": body.get("limit_price"),
        "stop_price": None,
        "status": "accepted",
        "extended_hours": False,
        "legs": None,
        "trail_percent": None,
        "trail_price": None,
        "hwm": None,
    }


def make_handler(broker: Broker, key_id: str, secret: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return None  # the record file is the log

        def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def _authorized(self) -> bool:
            return (
                self.headers.get("APCA-API-KEY-ID") == key_id
                and self.headers.get("APCA-API-SECRET-KEY") == secret
            )

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                body = raw.decode("utf-8", "replace")
            entry: dict[str, Any] = {"method": method, "path": url.path, "query": query,
                                     "body": body}  # fmt: skip
            time.sleep(broker.script.latency_ms / 1000.0)
            headers: dict[str, str]
            if not self._authorized():
                status, answer, headers = 401, {"code": 40110000, "message": "unauthorized."}, {}
            elif method == "POST" and url.path == "/v2/orders":
                status, answer, headers, plan, created = broker.submit(body)
                cid = body.get("client_order_id") if isinstance(body, dict) else None
                entry.update(plan=plan, created=created, client_order_id=cid)
                if plan == "slow" and created:
                    entry.update(status=status, delayed_s=broker.script.slow_s)
                    broker.record(entry)
                    time.sleep(broker.script.slow_s)
                    # The client has usually given up and closed the connection by now.
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self._answer(status, answer, headers)
                    return
            elif method == "GET":
                status, answer, headers = self._get(url.path, query)
            else:
                status, answer, headers = 404, {"code": 40410000, "message": "not found"}, {}
            entry.setdefault("created", False)
            entry["status"] = status
            broker.record(entry)
            self._answer(status, answer, headers)

        def _get(self, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
            not_found: tuple[int, Any, dict[str, str]] = (
                404, {"code": 40410000, "message": "order not found"}, {},
            )  # fmt: skip
            if path == "/v2/orders":
                limit = int(query.get("limit", "50"))
                orders = broker.list(query.get("status", "open"), query.get("direction", "desc"))
                return 200, orders[:limit], {}
            if path == "/v2/orders:by_client_order_id":
                with broker.lock:
                    oid = broker.by_client.get(query.get("client_order_id", ""))
                found = broker.read(oid) if oid is not None else None
                return not_found if found is None else (200, found, {})
            if path.startswith("/v2/orders/"):
                found = broker.read(path.removeprefix("/v2/orders/"))
                return not_found if found is None else (200, found, {})
            return 404, {"code": 40410000, "message": "endpoint not found"}, {}

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

    return Handler


def read_record(path: Path) -> list[dict[str, Any]]:
    """The requests a fake broker recorded, in arrival order."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.alpaca", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--port", type=int, required=True, help="0: any free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--record", type=Path, required=True, help="JSON lines, appended")
    parser.add_argument("--script", type=Path, help="JSON plans (default: every order fills)")
    parser.add_argument("--port-file", type=Path, help="the bound port is written here")
    parser.add_argument("--key-id", default="fake-key-id")
    parser.add_argument("--secret-key", default="fake-secret-key")
    args = parser.parse_args(argv)
    broker = Broker(Script.load(args.script), args.record)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(broker, args.key_id,
                                                                      args.secret_key))  # fmt: skip
    server.daemon_threads = True
    port = server.server_address[1]
    if args.port_file is not None:
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(str(port))
        tmp.replace(args.port_file)  # whole or absent: the reader never sees half a number
    print(f"fake alpaca listening on {args.host}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
