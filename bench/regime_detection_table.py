"""Detection delay and false-shift rate per (threshold, min_bars) on synthetic switches.

Prints a markdown table, then one JSON object (the rows) on the last line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from core.regime.detection_eval import detection_table, markdown_table, rows_as_dicts


def main() -> int:
    rows = detection_table(n_series=24, n_bars=2000, seed=11)
    print(markdown_table(rows))
    print(json.dumps({"rows": rows_as_dicts(rows)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
