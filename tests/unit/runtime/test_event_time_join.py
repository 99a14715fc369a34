"""The event-time join: any interleaving, batching, watermark timing or restart of the same
input streams releases the same events in the same order (contract rule 7)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.runtime.watermarks import (
    END_OF_INPUT_US,
    EventTimeJoin,
    Timed,
    describe,
    event_id_of,
    from_us,
    is_watermark,
    minus,
    parse_watermark,
    to_us,
    watermark_record,
)

TOPICS = ("a.v1", "b.v1")
T0 = datetime(2024, 1, 1, tzinfo=UTC)

# One input stream: per (topic, partition), event times that never decrease.
streams = st.dictionaries(
    st.tuples(st.sampled_from(TOPICS), st.integers(0, 2)),
    st.lists(st.integers(0, 40), min_size=0, max_size=25).map(sorted),
    min_size=1,
    max_size=6,
)


def _events(stream: dict[tuple[str, int], list[int]]) -> dict[tuple[str, int], list[Timed]]:
    out: dict[tuple[str, int], list[Timed]] = {}
    for (topic, partition), days in stream.items():
        out[(topic, partition)] = [
            Timed(
                to_us(T0 + timedelta(days=d)),
                TOPICS.index(topic),
                (partition, n),
                f"{topic}/{partition}/{n}",
                topic,
                partition,
                n,
                (topic, partition, n, d),
                b"",
            )
            for n, d in enumerate(days)
        ]
    return out


def _run(
    stream: dict[tuple[str, int], list[Timed]],
    picks: list[int],
    batch_sizes: list[int],
    marks_every: list[bool],
    restart_at: set[int],
) -> tuple[list[list[object]], int]:
    """Deliver the partitions' events interleaved by `picks`, in batches, each partition's
    watermark following its own progress when `marks_every` says so; returns the releases."""
    queues = {tp: list(events) for tp, events in stream.items()}
    order = sorted(queues)
    arrivals: list[tuple[tuple[str, int], Timed | None]] = []
    k = 0
    while any(queues.values()):
        tp = order[picks[k % len(picks)] % len(order)] if picks else order[0]
        k += 1
        if not queues[tp]:
            tp = next(t for t in order if queues[t])
        arrivals.append((tp, queues[tp].pop(0)))
        if marks_every[k % len(marks_every)]:
            arrivals.append((tp, None))  # a watermark record right after this event
    join = EventTimeJoin(frozenset(TOPICS))
    assigned = order
    sent: dict[tuple[str, int], list[int]] = {tp: [] for tp in order}
    releases: list[list[object]] = []
    i = n_batch = 0
    while i < len(arrivals):
        size = batch_sizes[n_batch % len(batch_sizes)]
        chunk = arrivals[i : i + size]
        i += size
        n_batch += 1
        marks: dict[tuple[str, int], int] = {}
        timed = []
        for tp, event in chunk:
            if event is None:
                # promise: nothing before the next event of this partition follows
                rest = [e.time_us for e in stream[tp] if e.offset > (sent[tp] or [-1])[-1]]
                marks[tp] = (min(rest) - 1) if rest else END_OF_INPUT_US
            else:
                sent[tp].append(event.offset)
                timed.append(event)
        before = join.input_watermark(assigned)
        join.add(timed, before)
        join.observe(marks)
        released = join.release(join.input_watermark(assigned))
        join.mark_persisted(join.unpersisted())
        releases.append([t.item for t in released.items])
        if n_batch in restart_at:  # a restart rebuilds the join from what was stored
            join = EventTimeJoin(
                frozenset(TOPICS), dict(join.watermarks), [replace(t) for t in join.pending]
            )
            join.mark_persisted(join.pending)
    join.observe({tp: END_OF_INPUT_US for tp in assigned})
    releases.append([t.item for t in join.release(join.input_watermark(assigned)).items])
    return releases, join.late


@settings(max_examples=150, deadline=None)
@given(
    stream=streams,
    picks=st.lists(st.integers(0, 10), min_size=1, max_size=30),
    batch_sizes=st.lists(st.integers(1, 9), min_size=1, max_size=5),
    marks_every=st.lists(st.booleans(), min_size=1, max_size=7),
    restart_at=st.sets(st.integers(1, 12), max_size=3),
)
def test_any_interleaving_releases_the_one_sorted_sequence(
    stream: dict[tuple[str, int], list[int]],
    picks: list[int],
    batch_sizes: list[int],
    marks_every: list[bool],
    restart_at: set[int],
) -> None:
    events = _events(stream)
    releases, late = _run(events, picks, batch_sizes, marks_every, restart_at)
    everything = sorted((e for es in events.values() for e in es), key=Timed.sort_key)
    assert [item for release in releases for item in release] == [e.item for e in everything]
    assert late == 0  # every producer kept its promise
    for release in releases:  # each release is a slice of the one order
        keys = [everything[[e.item for e in everything].index(x)].sort_key() for x in release]
        assert keys == sorted(keys)


def test_nothing_is_released_until_every_assigned_partition_has_a_watermark() -> None:
    join = EventTimeJoin(frozenset({"a.v1"}))
    event = Timed(to_us(T0), 0, (), "e1", "a.v1", 0, 0, "x", b"")
    join.add([event], None)
    join.observe({("a.v1", 0): END_OF_INPUT_US})
    assigned = [("a.v1", 0), ("a.v1", 1)]
    assert join.input_watermark(assigned) is None
    assert join.release(join.input_watermark(assigned)).items == []
    join.observe({("a.v1", 1): to_us(T0)})
    assert [t.item for t in join.release(join.input_watermark(assigned)).items] == ["x"]


def test_copies_of_one_event_are_released_once_and_late_events_are_counted() -> None:
    join = EventTimeJoin(frozenset({"a.v1"}))
    first = Timed(to_us(T0), 0, (), "same-id", "a.v1", 0, 0, "x", b"")
    copy = replace(first, offset=1)
    join.add([first, copy], None)
    join.observe({("a.v1", 0): to_us(T0)})
    assert [t.item for t in join.release(join.input_watermark([("a.v1", 0)])).items] == ["x"]
    assert join.add([replace(first, offset=2, ident="other")], to_us(T0)) == 1
    assert join.late == 1


def test_watermark_records_round_trip_and_keep_their_partition() -> None:
    record = watermark_record("p.market.bars.v1", 2, to_us(T0), "titan-market_data")
    assert record.partition == 2 and record.key == "__watermark__.2"
    assert is_watermark(record.headers) and not is_watermark(())
    assert parse_watermark(record.value) == to_us(T0)
    assert from_us(to_us(T0)) == T0
    assert describe(END_OF_INPUT_US) == "end of input"
    assert minus(END_OF_INPUT_US, timedelta(days=1)) == END_OF_INPUT_US
    assert minus(to_us(T0), timedelta(days=1)) == to_us(T0 - timedelta(days=1))
    for bad in (b"", b"{}", b'{"watermark_us": "x"}', b"[1]"):
        try:
            parse_watermark(bad)
        except ValueError as exc:
            assert "malformed watermark" in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")


def test_event_id_is_read_off_the_envelope_bytes() -> None:
    raw = b'{"event_id":"92870b79-295a-5e4c-b88b-e2f5d5b4b273","event_type":"Bar"}'
    assert event_id_of(raw) == "92870b79-295a-5e4c-b88b-e2f5d5b4b273"
    assert event_id_of(b"not an envelope") is None


def test_a_bounded_wait_releases_what_waited_too_long_and_names_the_lagging_input() -> None:
    join = EventTimeJoin(frozenset({"a.v1", "b.v1"}))
    assigned = [("a.v1", 0), ("b.v1", 0)]
    old = Timed(to_us(T0), 0, (), "old", "a.v1", 0, 0, "old", b"")
    new = Timed(to_us(T0 + timedelta(days=2)), 0, (), "new", "a.v1", 0, 1, "new", b"")
    join.add([old], None, now=100.0)
    join.add([new], None, now=104.0)
    join.observe({("a.v1", 0): to_us(T0 + timedelta(days=3))})  # b.v1 is silent
    assert join.input_watermark(assigned) is None
    assert join.overdue(now=103.0, max_wait_s=5.0) is None
    through = join.overdue(now=106.0, max_wait_s=5.0)
    assert through == to_us(T0)  # only what waited 5 s, not the newer event
    lagging = join.force(through, assigned)
    assert lagging == ["b.v1[0]@none"]
    assert [t.item for t in join.release(join.input_watermark(assigned)).items] == ["old"]
    # the watermark never goes back below what was released; a late copy is counted
    assert join.input_watermark(assigned) == to_us(T0)
    assert join.add([replace(old, offset=5, ident="again")], join.input_watermark(assigned)) == 1
