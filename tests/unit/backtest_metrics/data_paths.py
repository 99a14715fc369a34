"""Locate the shared real-price files (the repo's parent holds `shared/data`)."""

from __future__ import annotations

from pathlib import Path


def shared_data_dir() -> Path:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "data"
        if (candidate / "README.md").is_file():
            return candidate
    raise FileNotFoundError("shared/data not found above " + str(Path(__file__).resolve()))
