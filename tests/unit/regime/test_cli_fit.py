"""`titan regime fit`: output contract on real data and precise failures on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.regime import RegimeModelSpec, statsmodels_model
from services.regime.cli_fit import run_fit
from tests.data import SP500_INDEX, data_file


def _run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert run_fit(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    payload: dict[str, Any] = json.loads(lines[0])
    return payload


@pytest.fixture(scope="module")
def sp500_payload() -> dict[str, Any]:
    # A module fixture cannot use capsys: capture by redirecting stdout by hand.
    import contextlib
    import io

    buffer = io.StringIO()
    argv = [
        str(data_file(SP500_INDEX)),
        "--column",
        "SP500",
        "--returns",
        "--switching-variance",
        "--date-column",
        "Date",
        "--json",
    ]
    with contextlib.redirect_stdout(buffer):
        assert run_fit(argv) == 0
    lines = buffer.getvalue().strip().splitlines()
    assert len(lines) == 1
    payload: dict[str, Any] = json.loads(lines[0])
    return payload


def test_sp500_output_contract(sp500_payload: dict[str, Any]) -> None:
    regime, probabilities = sp500_payload["regime"], sp500_payload["probabilities"]
    assert len(regime) == len(probabilities) == 8313
    assert regime[0] is None and probabilities[0] is None
    assert all(isinstance(r, int) for r in regime[1:])
    for label, row in zip(regime[1:50], probabilities[1:50], strict=True):
        assert len(row) == 2
        assert sum(row) == pytest.approx(1.0)
        assert label == int(np.argmax(row))
    params = sp500_payload["params"]
    assert params["sigma2[0]"] < params["sigma2[1]"]
    assert sp500_payload["regime_names"] == ["low_vol", "high_vol"]


def test_sp500_llf_matches_statsmodels_at_reported_params(sp500_payload: dict[str, Any]) -> None:
    import pandas as pd

    prices = pd.read_csv(data_file(SP500_INDEX))["SP500"].to_numpy(float)
    returns = 100 * np.diff(np.log(prices))
    spec = RegimeModelSpec(k_regimes=2, switching_variance=True)
    oracle = statsmodels_model(returns, spec).filter(
        np.array(list(sp500_payload["params"].values()))
    )
    assert sp500_payload["llf"] == pytest.approx(oracle.llf, abs=1e-6)
    assert np.array(sp500_payload["probabilities"][1:]) == pytest.approx(
        oracle.filtered_marginal_probabilities, abs=1e-6
    )


def test_sp500_shifts_have_rows_and_dates(sp500_payload: dict[str, Any]) -> None:
    shifts = sp500_payload["shifts"]
    assert shifts
    for shift in shifts:
        assert {shift["from"], shift["to"]} == {0, 1}
        assert sp500_payload["regime"][shift["row"]] == shift["to"]
    # The published (hysteresis) regime is high-vol through the whole of Oct-Nov 2008.
    before = [s for s in shifts if s["date"] < "2008-10-01"]
    assert before[-1]["to"] == 1
    assert not [s for s in shifts if "2008-10-01" <= s["date"] <= "2008-11-30"]


def _write_csv(path: Path, values: list[str], header: str = "close") -> Path:
    path.write_text(
        "date,"
        + header
        + "\n"
        + "".join(f"2020-01-{i % 28 + 1:02d},{v}\n" for i, v in enumerate(values))
    )
    return path


def test_autoregressive_order_leaves_first_rows_undefined(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)
    # AR(1) deviations around a mean that steps from 0 to 5 and back (Hamilton's form).
    mean = np.repeat([0.0, 5.0, 0.0], [150, 100, 150])
    deviation = np.zeros(mean.size)
    for t in range(1, mean.size):
        deviation[t] = 0.5 * deviation[t - 1] + rng.normal(0, 0.7)
    values = mean + deviation
    csv = _write_csv(tmp_path / "x.csv", [f"{v:.6f}" for v in values])
    payload = _run_json([str(csv), "--column", "close", "--order", "2", "--json"], capsys)
    assert payload["regime"][:2] == [None, None]
    assert payload["probabilities"][:2] == [None, None]
    assert all(r is not None for r in payload["regime"][2:])
    assert set(payload["params"]) >= {"ar.L1", "ar.L2", "const[0]", "const[1]", "sigma2"}
    assert payload["params"]["const[0]"] < payload["params"]["const[1]"]
    assert np.mean(np.array(payload["regime"][160:240]) == 1) > 0.9
    assert all(s["date"] is None for s in payload["shifts"])


def test_summary_without_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = np.random.default_rng(2).normal(0, 1, 200) * np.repeat([1, 4, 1, 4], 50)
    csv = _write_csv(tmp_path / "y.csv", [f"{v:.6f}" for v in values])
    assert run_fit([str(csv), "--column", "close", "--switching-variance"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("model markov_regression-k2-p0-")
    assert "sigma2[1]=" in out


@pytest.mark.parametrize(
    ("values", "extra", "message"),
    [
        (["1", "2", "x"], [], "not numeric at row 2 (value 'x')"),
        (["1", "", "3"] * 20, [], "not numeric at row 1"),
        (["1.0", "2.0", "3.0"], [], "too few observations: 3"),
        (["1.0", "-2.0"] * 30, ["--returns"], "--returns needs positive values; row 1"),
        (["1.0"] * 60, ["--k-regimes", "1"], "k_regimes must be >= 2"),
        (["1.0"] * 60, ["--k-regimes", "two"], "invalid int value: 'two'"),
        (["1.0"] * 60, ["--order", "2", "--switching-variance"], "mis-broadcasts"),
        (["1.0"] * 60, ["--threshold", "1.5"], "threshold must be in"),
        (["1.0"] * 60, ["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["1.0"] * 60, ["--column", "volume"], "column 'volume' not in"),
        (["1.0"] * 60, ["--date-column", "when"], "column 'when' not in"),
    ],
)
def test_bad_input_exits_non_zero_with_a_clear_message(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    values: list[str],
    extra: list[str],
    message: str,
) -> None:
    csv = _write_csv(tmp_path / "bad.csv", values)
    argv = [str(csv), "--column", "close", "--json", *extra]
    assert run_fit(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


def test_missing_file_and_missing_column_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_fit(["/nonexistent/prices.csv", "--column", "close"]) == 2
    assert "file not found: /nonexistent/prices.csv" in capsys.readouterr().err
    assert run_fit(["prices.csv"]) == 2
    assert "the following arguments are required: --column" in capsys.readouterr().err


def test_degenerate_default_fit_on_sp500_returns_warns_and_suggests_switching_variance(
    capsys: pytest.CaptureFixture[str],
) -> None:
    index = str(data_file(SP500_INDEX))
    default = [index, "--column", "SP500", "--returns", "--json"]
    assert run_fit(default) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert payload["shifts"] == []
    assert len(payload["warnings"]) == 1 and "--switching-variance" in payload["warnings"][0]
    assert "warning: degenerate fit" in captured.err

    assert run_fit([*default, "--switching-variance"]) == 0
    switching = json.loads(capsys.readouterr().out)
    assert switching["warnings"] == [] and len(switching["shifts"]) > 0
