"""The fake Alpaca broker (tests/fakes/alpaca.py) as a child process in its own folder."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.fakes.alpaca import read_record

REPO = Path(__file__).resolve().parents[2]
KEY_ID, SECRET_KEY = "fake-key-id", "fake-secret-key"


class FakeAlpacaProcess:
    """`python -m tests.fakes.alpaca` on a free port (the server binds port 0 and says
    which it got), recording to `<folder>/requests.jsonl`."""

    def __init__(self, folder: Path, script: dict[str, Any]) -> None:
        self.folder = folder
        self.record = folder / "requests.jsonl"
        self.script = folder / "script.json"
        self.port_file = folder / "port"
        self.log = folder / "alpaca.log"
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        self.script.write_text(json.dumps(script))

    def start(self, timeout_s: float = 30.0) -> str:
        """Starts the server; returns its base URL."""
        self.port_file.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.fakes.alpaca", "--port", "0",
                 "--record", str(self.record), "--script", str(self.script),
                 "--port-file", str(self.port_file),
                 "--key-id", KEY_ID, "--secret-key", SECRET_KEY],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while not self.port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"fake alpaca did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.02)
        return f"http://127.0.0.1:{int(self.port_file.read_text())}"

    def requests(self) -> list[dict[str, Any]]:
        return read_record(self.record)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
