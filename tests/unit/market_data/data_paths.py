"""Where the team's shared price files live (the repo's parent folder holds shared/data)."""

from __future__ import annotations

from pathlib import Path


def shared_data(name: str) -> Path:
    return Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / name
