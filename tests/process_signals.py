"""Whether a child process has installed its SIGTERM handler yet (a SIGTERM before that
kills it with the default action, exit -15, which is start-up and not shutdown)."""

from __future__ import annotations

import signal
from pathlib import Path

SIGTERM_BIT = 1 << (signal.SIGTERM - 1)  # its bit in /proc/<pid>/status' SigCgt mask


def catches_sigterm(pid: int) -> bool:
    """Linux only: raises OSError where there is no procfs or no such process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & SIGTERM_BIT)
    return False
