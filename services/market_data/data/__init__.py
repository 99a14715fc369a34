"""Bundled demo price files (see ATTRIBUTION.md for sources and licences)."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent


def bundled_files() -> list[Path]:
    return sorted(DATA_DIR.glob("*.csv.gz"))


def bundled_file(name: str) -> Path | None:
    """The bundled file with that name (or stem), if there is one."""
    for path in bundled_files():
        if name in (path.name, path.name.removesuffix(".csv.gz")):
            return path
    return None
