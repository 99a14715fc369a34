"""Partition counts of the topics, resolved once from the environment for every creator.

`titan infra up`, `titan infra topics`, `titan demo`, the test fixtures and the Strimzi
manifests all create topics with `resolved_topics()`, so one set of variables decides:

- `TITAN_TOPIC_PARTITIONS=<n>`: every contract topic (dead-letter topics stay at 1);
- `TITAN_TOPIC_PARTITIONS_OVERRIDES="market.ticks.v1=12,market.bars.v1=12"`: per topic, by
  contract name (a dead-letter topic by its name, e.g. `signals.v1.dlq=2`).

The counts of each group in `CO_PARTITIONED` must be equal; anything else is a ValueError
naming the variable and the topics. Counts only matter at creation: `ensure_topics` refuses
to carry on with an existing topic of another count (see docs/architecture.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import replace

from shared.topics import CO_PARTITIONED, TopicSpec, all_topics

PARTITIONS_VAR = "TITAN_TOPIC_PARTITIONS"
OVERRIDES_VAR = "TITAN_TOPIC_PARTITIONS_OVERRIDES"
_EXAMPLE = "market.ticks.v1=12,market.bars.v1=12"


def _positive_int(text: str) -> int | None:
    # Only plain ASCII digits: int() would also take "+3", "1_0" and non-ASCII digits.
    text = text.strip()
    if re.fullmatch(r"[0-9]+", text) is None or int(text) < 1:
        return None
    return int(text)


def _parse_overrides(raw: str, known: tuple[str, ...]) -> dict[str, int]:
    overrides: dict[str, int] = {}
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        name, sep, value = (part.strip() for part in entry.partition("="))
        if not sep:
            raise ValueError(
                f"{OVERRIDES_VAR}: {entry!r} is not TOPIC=COUNT; expected comma-separated "
                f"contract topic names with counts, e.g. {_EXAMPLE}"
            )
        if name not in known:
            raise ValueError(
                f"{OVERRIDES_VAR}: unknown topic {name!r} (contract names without a prefix); "
                f"known: {', '.join(known)}"
            )
        count = _positive_int(value)
        if count is None:
            raise ValueError(f"{OVERRIDES_VAR}: {name}={value!r}: expected a positive integer")
        if name in overrides:
            raise ValueError(f"{OVERRIDES_VAR}: {name} is given twice")
        overrides[name] = count
    return overrides


def check_co_partitioned(counts: Mapping[str, int], source: str) -> None:
    """Raise a ValueError naming `source` if a group of CO_PARTITIONED has unequal counts."""
    for group in CO_PARTITIONED:
        found = {name: counts[name] for name in group if name in counts}
        if len(set(found.values())) > 1:
            got = ", ".join(f"{n}={c}" for n, c in found.items())
            wanted = max(found.values())
            fix = ",".join(f"{n}={wanted}" for n in group)
            raise ValueError(
                f"{source}: co-partitioned topics must have the same partition count, got "
                f"{got}; partition p of each is read together with partition p of the others. "
                f"Set the whole group, e.g. {fix}"
            )


def partition_counts(env: Mapping[str, str] | None = None) -> dict[str, int]:
    """{topic name: partition count} for every topic of `all_topics()`; `env` defaults to
    os.environ. Raises ValueError on a bad value or unequal co-partitioned counts."""
    env = os.environ if env is None else env
    specs = all_topics()
    counts = {spec.name: spec.partitions for spec in specs}
    raw = env.get(PARTITIONS_VAR, "")
    if raw.strip():
        every = _positive_int(raw)
        if every is None:
            raise ValueError(
                f"{PARTITIONS_VAR}={raw!r}: expected a positive integer "
                "(the partition count of every contract topic)"
            )
        counts |= {spec.name: every for spec in specs if not spec.name.endswith(".dlq")}
    overrides = _parse_overrides(env.get(OVERRIDES_VAR, ""), tuple(counts))
    counts |= overrides
    check_co_partitioned(counts, OVERRIDES_VAR if overrides else PARTITIONS_VAR)
    return counts


def resolved_topics(env: Mapping[str, str] | None = None) -> tuple[TopicSpec, ...]:
    """`all_topics()` with the partition counts of `partition_counts(env)`."""
    counts = partition_counts(env)
    return tuple(replace(spec, partitions=counts[spec.name]) for spec in all_topics())


def partition_config_error(env: Mapping[str, str] | None = None) -> str | None:
    """The message of a bad partition setting, or None: for CLIs that exit 2 on it."""
    try:
        partition_counts(env)
    except ValueError as exc:
        return str(exc)
    return None
