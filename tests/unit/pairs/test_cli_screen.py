"""``titan pairs screen`` CLI function: output format and error handling."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.pairs.cli_screen import JSON_KEYS, run_screen
from tests.data import CRUDE, SP500_20_STOCKS, data_file
from tests.unit.pairs.synthetic import random_universe


def _write_wide(path: Path, prices: np.ndarray, symbols: list[str]) -> Path:
    frame = pd.DataFrame(prices, columns=symbols)
    frame.insert(0, "date", pd.date_range("2020-01-01", periods=len(frame), freq="D"))
    frame.to_csv(path, index=False)
    return path


def test_json_lines_one_per_pair(tmp_path: Path) -> None:
    csv = _write_wide(tmp_path / "p.csv.gz", random_universe(1, 250, 4), ["A", "B", "C", "D"])
    out = io.StringIO()
    assert run_screen([str(csv), "--json", "--autolag", "t-stat", "--maxlag", "4"], out) == 0
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == 6
    assert all(tuple(r) == JSON_KEYS for r in rows)
    assert {rows[0]["a"], rows[0]["b"]} in ({"A", "B"}, {"C", "D"})
    assert all(0 <= r["lag"] <= 4 for r in rows)


def test_20_stock_file_and_bom_crude_file() -> None:
    out = io.StringIO()
    code = run_screen(
        [
            str(data_file(SP500_20_STOCKS)),
            "--autolag",
            "none",
            "--maxlag",
            "0",
            "--json",
        ],
        out,
    )
    assert code == 0
    assert len(out.getvalue().splitlines()) == 190
    out = io.StringIO()
    assert run_screen([str(data_file(CRUDE)), "--json"], out) == 0
    row = json.loads(out.getvalue())
    assert {row["a"], row["b"]} == {"WTI", "Brent"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--autolag", "hqic"], "invalid choice"),
        (["--window", "5"], "--window"),
        (["--maxlag", "-2"], "--maxlag"),
        (["--maxlag", "x"], "invalid int"),
        (["--window", "999"], "exceeds"),
    ],
)
def test_bad_flags_exit_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    csv = _write_wide(tmp_path / "p.csv", random_universe(1, 100, 4), ["A", "B", "C", "D"])
    assert run_screen([str(csv), "--json", *args]) == 2
    assert message in capsys.readouterr().err


def test_bad_files_exit_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_screen([str(tmp_path / "missing.csv")]) == 2
    assert "not found" in capsys.readouterr().err

    frame = pd.DataFrame({"date": ["d1", "d2"] * 15, "A": [1.0] * 30, "B": ["x"] * 30})
    frame.to_csv(tmp_path / "text.csv", index=False)
    assert run_screen([str(tmp_path / "text.csv")]) == 2
    assert "non-numeric price columns: B" in capsys.readouterr().err

    short = _write_wide(tmp_path / "short.csv", random_universe(1, 100, 4)[:10], list("ABCD"))
    assert run_screen([str(short)]) == 2
    assert "at least 20" in capsys.readouterr().err

    assert run_screen([]) == 2
    assert "required" in capsys.readouterr().err


def test_prices_log_by_default_raw_on_request_and_said_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = random_universe(3, 250, 4)
    csv = _write_wide(tmp_path / "p.csv", prices, ["A", "B", "C", "D"])
    screened: dict[str, list[dict[str, float]]] = {}
    for mode in ("log", "raw"):
        out = io.StringIO()
        argv = [str(csv), "--json", "--autolag", "none", "--maxlag", "1"]
        assert run_screen([*argv, "--prices", mode] if mode == "raw" else argv, out) == 0
        assert f"on {mode} prices" in capsys.readouterr().err
        screened[mode] = [json.loads(line) for line in out.getvalue().splitlines()]
    # Each screen regresses a on b over its own scale: the raw screen's hedge ratio is the
    # OLS slope of the price columns themselves, the log screen's that of their logs.
    columns = {"A": 0, "B": 1, "C": 2, "D": 3}
    for mode, transform in (("raw", np.asarray), ("log", np.log)):
        for row in screened[mode]:
            a = transform(prices[:, columns[row["a"]]])
            b = transform(prices[:, columns[row["b"]]])
            assert row["hedge_ratio"] == pytest.approx(float(np.polyfit(b, a, 1)[0]), rel=1e-9)


def test_raw_prices_accept_non_positive_values_log_prices_refuse_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = random_universe(4, 100, 4) - 1000.0  # negative spreads are valid raw series
    csv = _write_wide(tmp_path / "neg.csv", prices, ["A", "B", "C", "D"])
    assert run_screen([str(csv), "--json"]) == 2
    assert "--prices raw" in capsys.readouterr().err
    assert run_screen([str(csv), "--json", "--prices", "raw"], io.StringIO()) == 0
