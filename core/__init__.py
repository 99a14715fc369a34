"""TITAN's quant core: the pure numeric and decision code shared by services and backtest.

Public API (each subpackage lists its names in ``__all__``; import them from the subpackage,
e.g. ``from core.cointegration import screen_universe``):

- ``core.cointegration``: Engle-Granger over whole universes (MacKinnon p-values and critical
  values), Johansen, hedge ratios (OLS, TLS, rolling OLS, Kalman), half-life, Hurst,
  sub-window stability, Benjamini-Hochberg, the universe screen.
- ``core.regime``: Markov-switching fits, the online Hamilton filter, canonical labels, shift
  detection with hysteresis, the series each scope is fitted on, and the per-scope tracker
  (``ScopeTracker``, ``TrackerConfig``, ``RefitPolicy``) that runs them bar by bar.
  ``core.regime.detection_eval`` scores the detector on synthetic switches (benches, tests).
- ``core.strategy``: the per-bar transition rule (``step``, one rule for the live machine and
  the backtest grid), strategy parameters and events, leg sizing, the per-pair state machine.

The rule (``tests/unit/test_layering.py`` checks it): services, backtest and the ``titan``
CLI import ``core``; ``core`` imports no ``services``, ``titan`` or ``shared`` (only the
standard library, NumPy, SciPy, statsmodels) and does no I/O: no network, database, files,
wall clock or environment; time comes in as arguments. A service never imports another
service's modules: what two services share is either here (quant) or in ``shared`` (events,
runtime, clients of service APIs).
"""
