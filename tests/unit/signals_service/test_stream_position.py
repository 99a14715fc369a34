"""Stream positions (partition -> next offset): their text form `0:12,1:40`, the checks that
keep a bad one from reaching Kafka, and the clamping of a resume offset into the log."""

from __future__ import annotations

import pytest

from services.signals.client import SignalSubscriber
from services.signals.stream_position import (
    MAX_OFFSET,
    checked_position,
    format_position,
    parse_position,
    resume_offset,
)


def test_text_form_is_sorted_by_partition_and_round_trips() -> None:
    assert format_position({1: 40, 0: 12, 2: 0}) == "0:12,1:40,2:0"
    assert parse_position("0:12,1:40,2:0") == {0: 12, 1: 40, 2: 0}
    assert parse_position(" 1:40 , 0:12 ") == {0: 12, 1: 40}
    assert list(parse_position("1:40,0:12")) == [0, 1]  # sorted, whatever the order given
    assert parse_position(f"0:{MAX_OFFSET}") == {0: MAX_OFFSET}
    assert format_position({}) == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty stream position"),
        ("  ", "empty stream position"),
        ("12", r"'12' is not partition:offset"),
        ("0:12;1:40", r"'0:12;1:40' is not partition:offset"),
        ("0:12,", r"'' is not partition:offset"),
        ("0:", r"'0:' is not partition:offset"),
        (":5", r"':5' is not partition:offset"),
        ("0:-1", r"'0:-1' is not partition:offset \(non-negative integers\)"),
        ("-1:0", r"'-1:0' is not partition:offset"),
        ("+1:0", r"'\+1:0' is not partition:offset"),
        ("0:1_0", r"'0:1_0' is not partition:offset"),
        ("0:\u0663", r"is not partition:offset"),  # an Arabic-Indic digit: int() takes it
        ("0:1,0:2", "partition 0 is given twice"),
        (f"0:{MAX_OFFSET + 1}", rf"offset {MAX_OFFSET + 1} of partition 0 is outside"),
        ("2147483648:0", "partition 2147483648 is outside 0..2147483647"),
    ],
)
def test_malformed_text_says_which_entry_and_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_position(text)


@pytest.mark.parametrize(
    ("position", "message"),
    [
        ({"0": 1}, "partition '0' is not an int"),
        ({True: 1}, "partition True is not an int"),
        ({-1: 0}, r"partition -1 is outside 0\.\.2147483647"),
        ({0: -1}, r"offset -1 of partition 0 is outside 0\.\."),
        ({0: 1.5}, "offset 1.5 of partition 0 is not an int"),
        ({0: False}, "offset False of partition 0 is not an int"),
        ({3: None}, "offset None of partition 3 is not an int"),
    ],
)
def test_a_bad_mapping_is_refused_with_the_entry_named(position: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        checked_position(position)
    with pytest.raises(ValueError, match=message):
        SignalSubscriber("127.0.0.1:9", start=position)  # type: ignore[arg-type]


def test_a_start_that_is_no_start_at_all_is_refused() -> None:
    with pytest.raises(ValueError, match="maps partition -> next offset, got list"):
        checked_position([(0, 1)])
    for start in ([(0, 1)], 5, "yesterday"):
        with pytest.raises(ValueError, match=r"start must be .* or a stream position"):
            SignalSubscriber("127.0.0.1:9", start=start)  # type: ignore[arg-type]


def test_the_subscriber_keeps_its_own_sorted_copy_of_the_start_position() -> None:
    given = {2: 7, 0: 3}
    sub = SignalSubscriber("127.0.0.1:9", start=given)
    given[1] = 99
    assert sub.start_at == {0: 3, 2: 7} and list(sub.start_at) == [0, 2]
    for start in ("beginning", "now"):  # the other starts are unchanged
        assert SignalSubscriber("127.0.0.1:9", start=start).start_at == start  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (None, 5),  # a partition the position does not name: everything in it is owed
        (0, 5),  # before the log start: retention took the rest, read what is left
        (5, 5),
        (8, 8),
        (12, 12),  # the end itself: the next record published
        (10**6, 12),  # past the end (another topic's offsets): from the end
    ],
)
def test_resume_offset_is_clamped_into_the_log(wanted: int | None, expected: int) -> None:
    assert resume_offset(wanted, log_start=5, log_end=12) == expected


async def test_a_stopped_subscriber_has_no_position_to_give() -> None:
    sub = SignalSubscriber("127.0.0.1:9")
    await sub.stop()
    with pytest.raises(RuntimeError, match="take its position before stop"):
        await sub.position()
