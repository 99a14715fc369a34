"""The demo pipeline live against offline, in one run: elapsed seconds and the digest check.

    python bench/demo.py [--file NAME] [--symbols A,B,...]

Runs `titan demo --json` (live: services as processes on the local Kafka and PostgreSQL of
`titan infra up`, started here in a temporary TITAN_HOME unless it is already up) and
`titan demo --offline --json` (one process, no servers) on the same file, one after the
other, and prints one JSON object on its last line:
{"live_s", "offline_s", "signals", "digests_equal", ...}. live_s is the demo's own elapsed
time (infrastructure check, replay, drain, digests); the target on a 2-core machine,
otherwise idle, is live_s <= 60 with digests_equal true.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def run(home: Path, *args: str) -> tuple[dict[str, Any], float]:
    env = {**os.environ, "TITAN_HOME": str(home)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "titan", "demo", "--json", "--quiet", *args],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    wall = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"titan demo {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary, wall


def main() -> None:
    from shared.infra.local import down
    from shared.infra.state import load_local_infra, titan_home

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default="sp500_20stocks_daily_1990_2022.csv.gz")
    parser.add_argument("--symbols", default=None)
    args = parser.parse_args()
    extra = ["--file", args.file] + (["--symbols", args.symbols] if args.symbols else [])

    existing = load_local_infra(titan_home())
    use_existing = existing is not None and all(existing.running().values())
    home = titan_home() if use_existing else Path(tempfile.mkdtemp(prefix="titan-bench-demo-"))
    try:
        if not use_existing:  # start the servers first, so live_s measures the pipeline only
            subprocess.run([sys.executable, "-m", "titan", "infra", "up"], check=True,
                           env={**os.environ, "TITAN_HOME": str(home)}, cwd=REPO,
                           stdout=subprocess.DEVNULL)  # fmt: skip
        live, live_wall = run(home, *extra)
        offline, offline_wall = run(home, "--offline", *extra)
    finally:
        if not use_existing:
            down(home, purge=True)
    equal = live["digests"] == offline["digests"]
    result = {
        "live_s": live["elapsed_s"],
        "offline_s": offline["elapsed_s"],
        "live_wall_s": round(live_wall, 1),
        "offline_wall_s": round(offline_wall, 1),
        "signals": live["signals"],
        "regime_shifts": live["regime_shifts"],
        "pair_tests": live["pair_tests"],
        "digests_equal": equal,
        "file": args.file,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
