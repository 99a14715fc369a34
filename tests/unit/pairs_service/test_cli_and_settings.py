"""Settings -> domain config, the on-demand pair test, and `titan pairs test` failures."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.pairs.bootstrap import PairsSettings
from services.pairs.domain.adhoc import PairTestInputError, run_pair_test
from tests.unit.pairs_service.synthetic import bar_times, planted_universe
from titan.cli import main


def test_settings_build_the_pipeline_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_DATABASE_URL", "postgresql://u:p@h/db")
    monkeypatch.setenv("TITAN_PAIRS_UNIVERSE", " KO, PEP ,XOM")
    monkeypatch.setenv("TITAN_PAIRS_WINDOW", "120")
    monkeypatch.setenv("TITAN_PAIRS_STALE_AFTER", "900")
    monkeypatch.setenv("TITAN_PAIRS_AUTOLAG", "none")
    cfg = PairsSettings().pipeline_config()
    assert cfg.universe.symbols == ("KO", "PEP", "XOM")
    assert cfg.screen.window == 120 and cfg.screen.autolag is None
    assert cfg.universe.keep_rows == 901  # > stale_after, so staleness is measurable
    monkeypatch.setenv("TITAN_PAIRS_UNIVERSE", "KO,KO")
    with pytest.raises(ValidationError, match="duplicate symbols"):
        PairsSettings()


def test_on_demand_pair_test() -> None:
    _, prices = planted_universe(200, seed=9)
    t = bar_times(200)
    a = list(zip(t, prices[:, 0].tolist(), strict=True))
    b = list(zip(t, prices[:, 1].tolist(), strict=True))
    report = run_pair_test("AAA", "BBB", a, b[5:])
    assert report.n_obs == 195 and report.start == t[5] and report.pvalue < 0.01
    assert {report.a, report.b} == {"AAA", "BBB"}
    with pytest.raises(PairTestInputError, match="too few bars: AAA has 200, BBB has 10"):
        run_pair_test("AAA", "BBB", a, b[:10])
    with pytest.raises(PairTestInputError, match="must differ"):
        run_pair_test("AAA", "AAA", a, a)


def test_cli_pair_test_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TITAN_MARKET_DATA_URL", "http://127.0.0.1:9")
    args = ["pairs", "test", "KO", "PEP", "--start", "2000-01-01", "--end", "2001-01-01"]
    assert main(args) == 1
    assert "market_data at http://127.0.0.1:9 unreachable" in capsys.readouterr().err
    assert main([*args[:4], "--start", "2001-01-01", "--end", "2000-01-01"]) == 1
    assert "must be before --end" in capsys.readouterr().err
