"""The console's live signal stream resumes where a reconnecting browser left off: event ids
are stream positions (`0:12,1:40`), `ready` carries the start, the last signal of a batch the
position after it; the Last-Event-ID header (or ?last_event_id=) comes back as the position
the subscription starts from, and a malformed one is a 400 naming what is wrong."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.console.bootstrap import build
from services.console.gateway import Upstream
from shared.events import SignalEmitted
from shared.runtime.auth import BearerAuth
from shared.runtime.metrics import RuntimeMetrics
from titan.client.signals import StreamPosition, Subscription

STREAM = "/api/signals/stream"
# Each poll's signals and the consumer's position after that poll.
Script = list[tuple[list[SignalEmitted], dict[int, int]]]


def signal(n: int) -> SignalEmitted:
    return SignalEmitted(
        signal_id=f"sig-{n}", pair_id="KO~PEP", action="close", reason="z back inside exit",
        bar_time=datetime(2024, 1, 2 + n, tzinfo=UTC), z_score=0.1, hedge_ratio=1.0,
        params_version="v1", legs=[],
    )  # fmt: skip


class ScriptedSubscription(Subscription):
    """Polls hand out scripted batches, each with the position the consumer is at after it;
    the stream ends (console shutting down) once the script is played."""

    def __init__(self, upstream: Upstream, start: StreamPosition, script: Script) -> None:
        super().__init__("127.0.0.1:9", "t.", start, None)  # builds, never connects
        self.upstream = upstream
        self.at = dict(start)
        self.script = list(script)
        self.closed = False

    async def __aenter__(self) -> ScriptedSubscription:
        return self

    async def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[SignalEmitted]:  # noqa: ASYNC109
        if not self.script:
            self.upstream.closing.set()
            return []
        batch, self.at = self.script.pop(0)
        return batch

    async def position(self) -> dict[int, int]:
        return dict(self.at)

    async def close(self) -> None:
        self.closed = True


class ScriptedUpstream(Upstream):
    def __init__(self, end: dict[int, int], script: Script) -> None:
        super().__init__(urls={"signals": "http://127.0.0.1:9"})
        self.end = end
        self.script = script
        self.resumed_from: list[StreamPosition | None] = []
        self.subscriptions: list[ScriptedSubscription] = []

    def subscribe(self, position: StreamPosition | None = None) -> Subscription:
        self.resumed_from.append(position)
        sub = ScriptedSubscription(self, self.end if position is None else position, self.script)
        self.subscriptions.append(sub)
        return sub


@pytest.fixture
def upstream() -> ScriptedUpstream:
    return ScriptedUpstream(
        end={0: 12, 1: 40},
        script=[
            ([signal(1), signal(2)], {0: 14, 1: 40}),
            ([], {0: 14, 1: 43}),  # only watermark records were read: nothing to send
            ([signal(3)], {0: 14, 1: 45}),  # past an undecodable record too
        ],
    )


@pytest.fixture
def client(upstream: ScriptedUpstream) -> Iterator[TestClient]:
    app = build(upstream, RuntimeMetrics("console"), BearerAuth(SecretStr("t" * 40)))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def events(body: str) -> list[dict[str, str]]:
    """The SSE messages of a body, comments left out."""
    out: list[dict[str, str]] = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line[:1] != ":")
        if fields:
            out.append(fields)
    return out


def test_ids_carry_the_start_and_the_position_after_each_batch(
    client: TestClient, upstream: ScriptedUpstream
) -> None:
    response = client.get(STREAM)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    sent = events(response.text)
    assert [(e["event"], e.get("id")) for e in sent] == [
        ("ready", "0:12,1:40"),
        ("signal", None),
        ("signal", "0:14,1:40"),  # the last of its batch: a reconnect resumes after both
        ("signal", "0:14,1:45"),
    ]
    assert json.loads(sent[0]["data"]) == {"topic": "t.signals.v1", "position": "0:12,1:40"}
    assert [json.loads(e["data"])["signal_id"] for e in sent[1:]] == ["sig-1", "sig-2", "sig-3"]
    assert upstream.resumed_from == [None]  # no id: from the topic's end
    assert upstream.subscriptions[0].closed


def test_a_reconnect_resumes_from_its_last_event_id(
    client: TestClient, upstream: ScriptedUpstream
) -> None:
    sent = events(client.get(STREAM, headers={"Last-Event-ID": "1:40,0:14"}).text)
    assert sent[0]["id"] == "0:14,1:40"  # the subscription's own start, normalised
    query = client.get(STREAM, params={"last_event_id": "0:3,1:4"},
                       headers={"Last-Event-ID": "0:14,1:40"})  # fmt: skip
    assert query.status_code == 200
    blank = client.get(STREAM, headers={"Last-Event-ID": "  "})
    assert blank.status_code == 200
    assert upstream.resumed_from == [{0: 14, 1: 40}, {0: 3, 1: 4}, None]


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("42", "Last-Event-ID '42' is not an event id of this stream: '42' is not "
               "partition:offset (non-negative integers); expected comma-separated pairs "
               "like 0:12,1:40"),
        ("0:12,0:13", "Last-Event-ID '0:12,0:13' is not an event id of this stream: "
                      "partition 0 is given twice"),
        ("0:99999999999999999999", "Last-Event-ID '0:99999999999999999999' is not an event "
         "id of this stream: stream position: offset 99999999999999999999 of partition 0 is "
         "outside 0..9223372036854775807"),
    ],
)  # fmt: skip
def test_a_malformed_last_event_id_is_a_400_saying_why(
    client: TestClient, upstream: ScriptedUpstream, header: str, detail: str
) -> None:
    response = client.get(STREAM, headers={"Last-Event-ID": header})
    assert response.status_code == 400
    assert response.json() == {"detail": detail}
    assert upstream.resumed_from == []  # refused before any subscription


def test_a_malformed_query_id_is_a_400_and_a_long_one_is_cut(client: TestClient) -> None:
    response = client.get(STREAM, params={"last_event_id": "0:1,x"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("last_event_id '0:1,x' is not an event id")
    long = client.get(STREAM, headers={"Last-Event-ID": "0:1," * 500 + "x"})
    assert long.status_code == 400 and len(long.json()["detail"]) < 400


def test_the_page_skips_a_signal_it_already_shows(client: TestClient) -> None:
    # The stream re-sends a batch the browser got only part of before a drop: the page must
    # drop signal ids already in its table, or a reconnect would show rows twice.
    script = client.get("/static/console.js").text
    assert 'tr[data-signal-id="${CSS.escape(s.signal_id)}"]' in script
