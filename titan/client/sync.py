"""`Titan`: the synchronous client for Django views, Celery tasks and scripts.

It owns ONE event loop running in a daemon thread for its whole life
(`shared.runtime.loop_thread`) and hands every call to it — never a loop per call — so it
works from plain threads, from many threads at once (one pooled HTTP client serves them all),
and from code that is itself inside a running event loop (async Django calling sync code,
Jupyter).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from shared.events import SignalEmitted
from shared.runtime.loop_thread import CLOSE_TIMEOUT_S, LoopThread
from titan.client.aio import DEFAULT_TIMEOUT_S, AsyncTitan
from titan.client.errors import TitanError, TitanTimeout
from titan.client.signals import Subscription

# A call without its own `timeout` may still page through many requests (bars of 20 symbols
# over 30 years); it is cancelled after this many request timeouts.
CALL_TIMEOUTS = 10


class ClientClosed(TitanError):
    """The client was closed; make a new one."""


def _loop_thread() -> LoopThread:
    return LoopThread(
        "titan-client-loop",
        closed=lambda: ClientClosed("this Titan client is closed"),
        timed_out=lambda timeout: TitanTimeout(f"no answer within {timeout} s"),
        own_thread="the sync client was called from its own loop thread (e.g. inside a "
        "progress callback): use the values passed to the callback, or AsyncTitan",
    )


class SyncSubscription:
    """The blocking form of `signals.subscribe()`: iterate, or `poll()`; close when done."""

    def __init__(self, runner: LoopThread, sub: Subscription) -> None:
        self._runner = runner
        self._sub = sub
        self.topic = sub.topic

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[SignalEmitted]:
        return self._runner.run(lambda: self._sub.poll(max_records, timeout), timeout + 30.0)

    def position(self) -> dict[int, int]:
        """Where to resume (partition -> next offset), as `Subscription.position`."""
        return self._runner.run(self._sub.position, 30.0)  # may connect first, as poll does

    def __iter__(self) -> Iterator[SignalEmitted]:
        while True:
            yield self._runner.run(self._sub.__anext__, None)

    def close(self) -> None:
        self._runner.run(self._sub.close, CLOSE_TIMEOUT_S)

    def __enter__(self) -> SyncSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SyncNamespace:
    """A namespace of AsyncTitan whose coroutine methods run on the loop thread and block.

    A call's `timeout=` argument (if any) bounds it, plus one request timeout of grace;
    other calls are bounded by CALL_TIMEOUTS request timeouts."""

    def __init__(self, target: object, runner: LoopThread, request_timeout: float) -> None:
        self._target = target
        self._runner = runner
        self._request_timeout = request_timeout

    def __dir__(self) -> list[str]:
        return [n for n in dir(self._target) if not n.startswith("_")]

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if name.startswith("_") or not callable(attr):
            return attr
        if name == "subscribe":
            return lambda *a, **kw: SyncSubscription(self._runner, attr(*a, **kw))
        if not inspect.iscoroutinefunction(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            timeout = kwargs.get("timeout")
            limit = (
                timeout + self._request_timeout
                if isinstance(timeout, int | float)
                else self._request_timeout * CALL_TIMEOUTS
            )
            coroutine: Callable[[], Awaitable[Any]] = lambda: attr(*args, **kwargs)  # noqa: E731
            return self._runner.run(coroutine, limit)  # type: ignore[arg-type]

        call.__name__ = name
        call.__doc__ = attr.__doc__
        return call


class Titan:
    """The synchronous TITAN client: same namespaces, arguments and results as AsyncTitan.

        with Titan() as t:
            closes = t.market_data.closes(["KO", "PEP"], start="2020-01-01", end="2021-01-01")
            result = t.backtest.run("KO", "PEP", start="2015-01-01", end="2020-01-01")

    Thread-safe: share one instance across threads (a Django process, a Celery worker).
    """

    def __init__(
        self,
        *,
        urls: Mapping[str, str] | None = None,
        home: str | Path | None = None,
        kafka_bootstrap: str | None = None,
        topic_prefix: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        api_token: str | None = None,
    ) -> None:
        self.aio = AsyncTitan(urls=urls, home=home, kafka_bootstrap=kafka_bootstrap,
                              topic_prefix=topic_prefix, timeout=timeout,
                              api_token=api_token)  # fmt: skip
        self._runner = _loop_thread()
        ns = [SyncNamespace(getattr(self.aio, n), self._runner, timeout) for n in NAMESPACES]
        self.market_data, self.pairs, self.regime, self.signals, self.backtest, self.params = ns

    @property
    def addresses(self) -> Any:
        return self.aio.addresses

    def health(self) -> dict[str, bool]:
        return self._runner.run(self.aio.health, self.aio.timeout + 10.0)

    def close(self) -> None:
        self._runner.close(self.aio.aclose)

    def __enter__(self) -> Titan:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


NAMESPACES = ("market_data", "pairs", "regime", "signals", "backtest", "params")
