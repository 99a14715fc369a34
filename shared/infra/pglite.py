"""PGlite (PostgreSQL 17 in WASM) with TimescaleDB, served by deploy/pglite/server.mjs.

It serves one connection at a time (others queue): use asyncpg pools of size 1.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from shared.infra.ports import free_port
from shared.infra.process import pid_alive, spawn, stop_pid, tail

PGLITE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "pglite"
READY_MARK = "TITAN-PGLITE READY"
READY_TIMEOUT_S = 90.0
# server.mjs closes the WASM database on SIGTERM, which flushes its data dir: ~1 s.
STOP_TIMEOUT_S = 20.0


class PgliteError(RuntimeError):
    """Node.js, its packages or the PGlite server are unavailable."""


@dataclass(frozen=True)
class PgliteServer:
    pid: int
    port: int
    data_dir: Path | None
    log_file: Path
    timescaledb_version: str

    @property
    def dsn(self) -> str:
        return pglite_dsn(self.port)


def pglite_dsn(port: int, host: str = "127.0.0.1") -> str:
    return f"postgresql://postgres@{host}:{port}/postgres?sslmode=disable"


def ensure_node_modules() -> Path:
    """`npm ci` in deploy/pglite unless its node_modules is already there."""
    if (PGLITE_DIR / "node_modules" / "@unni-craftsman" / "pglite").is_dir():
        return PGLITE_DIR
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise PgliteError("Node.js and npm are needed for PGlite (apt-get install nodejs npm)")
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=PGLITE_DIR, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise PgliteError(f"npm ci in {PGLITE_DIR} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return PGLITE_DIR


def start_pglite(
    log_dir: Path, *, data_dir: Path | None = None, port: int | None = None
) -> PgliteServer:
    """Start server.mjs and wait for its ready line (`data_dir` None = in memory)."""
    ensure_node_modules()
    node = shutil.which("node")
    if node is None:
        raise PgliteError("no `node` on PATH")
    port = port or free_port()
    log_file = log_dir / "pglite.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    offset = log_file.stat().st_size if log_file.exists() else 0
    argv = [node, str(PGLITE_DIR / "server.mjs"), "--host", "127.0.0.1", "--port", str(port)]
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--data-dir", str(data_dir)]
    proc = spawn(argv, log_file, cwd=PGLITE_DIR)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        with open(log_file, "rb") as fh:
            fh.seek(offset)
            for line in fh.read().decode("utf-8", "replace").splitlines():
                if line.startswith(READY_MARK):
                    version = line.rsplit("timescaledb=", 1)[-1].strip()
                    return PgliteServer(proc.pid, port, data_dir, log_file, version)
        if proc.poll() is not None:
            raise PgliteError(f"PGlite server exited ({proc.returncode}):\n{tail(log_file)}")
        time.sleep(0.2)
    stop_pid(proc.pid, STOP_TIMEOUT_S)
    raise PgliteError(f"PGlite not ready after {READY_TIMEOUT_S:.0f} s:\n{tail(log_file)}")


def stop_pglite(pid: int | None) -> bool:
    return stop_pid(pid, STOP_TIMEOUT_S)


def pglite_running(pid: int | None) -> bool:
    return pid_alive(pid)
