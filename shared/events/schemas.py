"""JSON Schema of every event, generated from the models and checked into the repo.

`python -m shared.events.schemas --write` regenerates shared/events/schemas/; a test fails
when the checked-in files differ from the models. Files of old schema versions are never
deleted: their golden example events (tests/fixtures/events/) must keep decoding.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shared.events import PAYLOAD_TYPES, Envelope

SCHEMA_DIR = Path(__file__).parent / "schemas"


def schema_files() -> dict[str, str]:
    files: dict[str, str] = {}
    for event_type, payload_cls in sorted(PAYLOAD_TYPES.items()):
        model = Envelope[payload_cls]  # type: ignore[valid-type]
        schema = model.model_json_schema()
        schema["title"] = f"{event_type} event (envelope v{payload_cls.SCHEMA_VERSION})"
        schema["$id"] = f"titan:{event_type}.v{payload_cls.SCHEMA_VERSION}"
        name = f"{event_type}.v{payload_cls.SCHEMA_VERSION}.json"
        files[name] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files


def stale_files() -> list[str]:
    stale = []
    for name, text in schema_files().items():
        path = SCHEMA_DIR / name
        if not path.exists() or path.read_text() != text:
            stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write the schema files")
    args = parser.parse_args(argv)
    if args.write:
        SCHEMA_DIR.mkdir(exist_ok=True)
        for name, text in schema_files().items():
            (SCHEMA_DIR / name).write_text(text)
        return 0
    stale = stale_files()
    for name in stale:
        print(f"stale: {name}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
