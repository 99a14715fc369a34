"""A single-node KRaft Kafka broker run as a plain `java -cp 'lib/*'` process.

The jars come from Maven Central through deploy/kafka/pom.xml into a cache folder
(`$TITAN_CACHE/kafka-<version>/lib`, default `~/.cache/titan`), fetched once and reused.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.infra.ports import free_ports
from shared.infra.process import pid_alive, spawn, stop_pid, tail
from shared.topics import TopicSpec

# The newest Kafka 4.x on Maven Central at the time of writing; aiokafka 0.14 was checked
# against it by tests/integration/test_infra_kafka.py. TITAN_KAFKA_VERSION overrides.
DEFAULT_KAFKA_VERSION = "4.4.0"
FALLBACK_KAFKA_VERSION = "3.9.2"
READY_TIMEOUT_S = 120.0
# A clean KRaft shutdown of one combined node flushes its logs, writes the clean-shutdown
# marker and resigns the controller; with test-sized data that takes 2-10 s. 45 s leaves
# room for a loaded 2-core machine; past it SIGKILL only costs log recovery at next start.
STOP_TIMEOUT_S = 45.0
REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
_COMPLETE_MARKER = ".titan-complete"


class KafkaError(RuntimeError):
    """The broker could not be fetched, started or reached."""


def cache_root() -> Path:
    return Path(os.environ.get("TITAN_CACHE") or Path.home() / ".cache" / "titan").expanduser()


def kafka_version() -> str:
    return os.environ.get("TITAN_KAFKA_VERSION") or DEFAULT_KAFKA_VERSION


def _is_kafka3(version: str) -> bool:
    return int(version.split(".", 1)[0]) < 4


def kafka_lib_dir(version: str | None = None) -> Path:
    return cache_root() / f"kafka-{version or kafka_version()}" / "lib"


def fetch_kafka(version: str | None = None, *, quiet: bool = True) -> Path:
    """Resolve the broker jars with Maven (once); return the folder holding them."""
    version = version or kafka_version()
    lib = kafka_lib_dir(version)
    if (lib / _COMPLETE_MARKER).exists():
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaError("Maven (`mvn`) is not on PATH; install it (apt-get install maven)")
    if not POM.exists():
        raise KafkaError(f"{POM} is missing; run from a checkout of the repository")
    lib.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="lib-", dir=lib.parent))
    argv = [mvn, "-B", "-f", str(POM), "dependency:copy-dependencies"]
    argv += ["-DincludeScope=runtime", f"-DoutputDirectory={staging}"]
    argv += [f"-Dkafka.version={version}"]
    if _is_kafka3(version):
        argv.append("-Dkafka.logging=reload4j")
    if quiet:
        argv.insert(1, "-q")
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not (staging / f"kafka_2.13-{version}.jar").exists():
        shutil.rmtree(staging, ignore_errors=True)
        out = (proc.stdout + proc.stderr)[-4000:]
        raise KafkaError(f"mvn could not resolve org.apache.kafka:kafka_2.13:{version}:\n{out}")
    (staging / _COMPLETE_MARKER).write_text(version + "\n")
    if lib.exists():  # a half-written folder from an interrupted fetch
        shutil.rmtree(lib)
    staging.rename(lib)
    return lib


def _cluster_id() -> str:
    # Kafka's Uuid text form: URL-safe base64 of 16 random bytes, no padding, never
    # starting with '-' (the tools would read it as an option).
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


@dataclass(frozen=True)
class KafkaBroker:
    pid: int
    port: int
    controller_port: int
    data_dir: Path
    version: str

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / "server.log"

    @property
    def stdout_file(self) -> Path:
        return self.data_dir / "logs" / "stdout.log"


def _server_properties(data_dir: Path, port: int, ctl_port: int) -> dict[str, str]:
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{ctl_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{ctl_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir / "kraft-logs"),
        "num.partitions": "3",
        "default.replication.factor": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "3",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "min.insync.replicas": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.io.threads": "2",
        "num.network.threads": "2",
        "num.recovery.threads.per.data.dir": "1",
        "auto.create.topics.enable": "false",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }


def _log4j2_properties(log_file: Path) -> str:
    return f"""status = warn
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.filePattern = {log_file}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
"""


def _log4j1_properties(log_file: Path) -> str:
    return f"""log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File={log_file}
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=3
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
"""


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise KafkaError("no `java` on PATH (Kafka 4 needs Java 17+; apt-get install default-jre)")
    return java


def _jvm_args(lib: Path, data_dir: Path, version: str) -> list[str]:
    log_file = data_dir / "logs" / "server.log"
    if _is_kafka3(version):
        cfg = data_dir / "log4j.properties"
        cfg.write_text(_log4j1_properties(log_file))
        log_opt = f"-Dlog4j.configuration=file:{cfg}"
    else:
        cfg = data_dir / "log4j2.properties"
        cfg.write_text(_log4j2_properties(log_file))
        log_opt = f"-Dlog4j2.configurationFile={cfg}"
    # Bounded heap: called directly, java would otherwise take a quarter of the RAM.
    return [_java(), "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true", log_opt, "-cp", f"{lib}/*"]  # fmt: skip


def start_kafka(
    data_dir: Path,
    *,
    port: int | None = None,
    controller_port: int | None = None,
    version: str | None = None,
    overrides: Mapping[str, str] | None = None,
    format_args: Sequence[str] = (),
) -> KafkaBroker:
    """Format (first time) and start a broker+controller in `data_dir`; returns at once.

    Call `wait_kafka_ready` before use. Ports default to free ones. `overrides` replace or
    add server properties (another listener, say); `format_args` go to the storage format
    (e.g. `--add-scram`, which KRaft only accepts there).
    """
    version = version or kafka_version()
    lib = fetch_kafka(version)
    data_dir = data_dir.resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    if port is None or controller_port is None:
        a, b = free_ports(2)
        port = port or a
        controller_port = controller_port or (b if b != port else free_ports(1)[0])
    props = data_dir / "server.properties"
    settings = {**_server_properties(data_dir, port, controller_port), **(overrides or {})}
    props.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    java = _jvm_args(lib, data_dir, version)
    if not (data_dir / "kraft-logs" / "meta.properties").exists():
        fmt = [*java, "kafka.tools.StorageTool", "format", "-t", _cluster_id()]
        fmt += ["-c", str(props), "--ignore-formatted", *format_args]
        proc = subprocess.run(fmt, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise KafkaError(f"kafka storage format failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    popen = spawn([*java, "kafka.Kafka", str(props)], data_dir / "logs" / "stdout.log")
    return KafkaBroker(popen.pid, port, controller_port, data_dir, version)


async def wait_kafka_ready(
    broker: KafkaBroker,
    timeout_s: float = READY_TIMEOUT_S,
    *,
    client_kwargs: Mapping[str, object] | None = None,
) -> float:
    """Wait until a metadata request succeeds; return the seconds it took. `client_kwargs`:
    how to reach a broker that wants TLS or a login (KafkaSettings.client_kwargs())."""
    started = time.monotonic()
    # aiokafka logs every refused connection at ERROR while the broker boots: expected here.
    client_log = logging.getLogger("aiokafka")
    previous_level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        kwargs = dict(client_kwargs or {"bootstrap_servers": broker.bootstrap})
        return await _poll_ready(broker, timeout_s, started, kwargs)
    finally:
        client_log.setLevel(previous_level)


async def _poll_ready(
    broker: KafkaBroker, timeout_s: float, started: float, client_kwargs: dict[str, object]
) -> float:
    from aiokafka.admin import AIOKafkaAdminClient

    last_error = "no attempt"
    while time.monotonic() - started < timeout_s:
        if not pid_alive(broker.pid):
            raise KafkaError(
                f"Kafka broker (pid {broker.pid}) exited during start-up; log tail:\n"
                f"{tail(broker.log_file)}\n--- stdout ---\n{tail(broker.stdout_file, 20)}"
            )
        admin = AIOKafkaAdminClient(**client_kwargs, request_timeout_ms=5000)
        try:
            await admin.start()
            info = await admin.describe_cluster()
            if info.get("brokers"):
                return time.monotonic() - started
            last_error = "metadata lists no brokers yet"
        except Exception as exc:  # any failure here means "not ready yet"
            last_error = f"{type(exc).__name__}: {exc}"
        finally:
            await admin.close()
        await asyncio.sleep(0.5)
    raise KafkaError(
        f"Kafka at {broker.bootstrap} not ready after {timeout_s:.0f} s ({last_error}); "
        f"log tail:\n{tail(broker.log_file)}"
    )


class PartitionCountMismatch(KafkaError):
    """An existing topic has another partition count than the one asked for."""


RESIZE_PROCEDURE = (
    "Kafka maps a key to hash(key) % partitions, so changing the count of a running "
    "deployment moves keys away from their per-partition state and breaks co-partitioning; "
    "TITAN never alters it. To change counts, create a new topic set under a new "
    "TITAN_TOPIC_PREFIX with the new counts, replay the input into it and move the services "
    "over (docs/architecture.md, 'Partition counts'); or leave TITAN_TOPIC_PARTITIONS and "
    "TITAN_TOPIC_PARTITIONS_OVERRIDES as they were when the topics were created."
)


async def ensure_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    *,
    names: dict[str, str] | None = None,
    client_kwargs: Mapping[str, object] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet (idempotent); return the names created.

    `names` maps a spec's contract name to the actual topic name (tests use unique names).
    Partition counts are the specs' (`shared.topic_partitions.resolved_topics()` applies the
    operator's settings); an existing topic with another count raises
    PartitionCountMismatch before anything is created. `client_kwargs`: as for
    wait_kafka_ready, for a broker that wants TLS or a login.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    kwargs = dict(client_kwargs or {"bootstrap_servers": bootstrap})
    admin = AIOKafkaAdminClient(**kwargs, request_timeout_ms=30000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        by_name = {(names or {}).get(spec.name, spec.name): spec for spec in specs}
        await _check_partition_counts(
            admin, {n: s.partitions for n, s in by_name.items() if n in existing}
        )
        wanted = [
            NewTopic(name, spec.partitions, 1, topic_configs=spec.config())
            for name, spec in by_name.items()
            if name not in existing
        ]
        if not wanted:
            return []
        response = await admin.create_topics(wanted)
        failures = [
            f"{err[0]}: error {err[1]} {err[2] if len(err) > 2 else ''}".strip()
            for err in response.topic_errors
            if err[1] not in (0, 36)  # 36 = TOPIC_ALREADY_EXISTS (a concurrent creator)
        ]
        if failures:
            raise KafkaError("topic creation failed: " + "; ".join(failures))
        raced = {err[0] for err in response.topic_errors if err[1] == 36}
        await _check_partition_counts(admin, {n: by_name[n].partitions for n in raced})
        created = [t.name for t in wanted if t.name not in raced]
        await _wait_for_leaders(admin, created)
        return created
    finally:
        await admin.close()


async def _check_partition_counts(admin: Any, wanted: dict[str, int]) -> None:
    """Raise PartitionCountMismatch naming every topic in `wanted` that exists with
    another partition count than the one asked for."""
    if not wanted:
        return
    described = await admin.describe_topics(list(wanted))
    wrong = [
        f"{t['topic']} exists with {len(t['partitions'])} partitions, {wanted[t['topic']]} wanted"
        for t in described
        if t["topic"] in wanted and len(t["partitions"]) != wanted[t["topic"]]
    ]
    if wrong:
        found = "; ".join(wrong)
        raise PartitionCountMismatch(
            f"refusing topics whose partition counts differ from the configured ones: {found}. "
            f"{RESIZE_PROCEDURE}"
        )


async def _wait_for_leaders(admin: Any, topics: list[str], timeout_s: float = 30.0) -> None:
    """New partitions get leaders a moment after CreateTopics returns; producers that come
    first see NOT_LEADER retries. Waiting here keeps first sends clean."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        described = await admin.describe_topics(topics)
        if all(
            t["error_code"] == 0
            and t["partitions"]
            and all(p["leader"] >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        await asyncio.sleep(0.2)
    raise KafkaError(f"topics without partition leaders after {timeout_s:.0f} s: {topics}")


def stop_kafka(pid: int | None, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM (controlled shutdown), then SIGKILL after `timeout_s`; True if clean."""
    return stop_pid(pid, timeout_s)
