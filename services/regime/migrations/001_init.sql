-- regime owns per-scope regime probabilities, shifts, model fits, tracker state and the
-- input series it needs to resume (market closes, universe clock, per-scope observations).

-- Filtered probabilities per scope and bar; label = most probable regime, regime = the
-- detector's (hysteresis) regime after the bar.
CREATE TABLE IF NOT EXISTS regime_probabilities (
    scope          text        NOT NULL,
    bar_time       timestamptz NOT NULL,
    probabilities  float8[]    NOT NULL,
    label          int         NOT NULL,
    regime         int,
    model_version  text        NOT NULL,
    PRIMARY KEY (scope, bar_time)
);

CREATE TABLE IF NOT EXISTS shifts (
    scope          text        NOT NULL,
    bar_time       timestamptz NOT NULL,
    event_id       uuid        NOT NULL,
    from_regime    int,
    to_regime      int         NOT NULL,
    from_name      text,
    to_name        text        NOT NULL,
    probability    float8      NOT NULL,
    model          text        NOT NULL,
    model_version  text        NOT NULL,
    PRIMARY KEY (scope, bar_time)
);

CREATE TABLE IF NOT EXISTS model_fits (
    scope          text        NOT NULL,
    version        text        NOT NULL,
    fitted_at      timestamptz NOT NULL,  -- bar_time of the observation that triggered it
    model          jsonb       NOT NULL,
    window_start   timestamptz NOT NULL,
    window_end     timestamptz NOT NULL,
    nobs           int         NOT NULL,
    llf            float8      NOT NULL,
    PRIMARY KEY (scope, version)
);
CREATE INDEX IF NOT EXISTS model_fits_scope_fitted_at ON model_fits (scope, fitted_at DESC);

-- One row per scope: serialised filter, detector and last fit; plus the current regime
-- in plain columns for the query API.
CREATE TABLE IF NOT EXISTS tracker_state (
    scope          text        PRIMARY KEY,
    kind           text        NOT NULL,
    bar_time       timestamptz,
    regime         int,
    regime_name    text,
    label          int,
    probabilities  float8[],
    model_version  text,
    state          jsonb       NOT NULL,
    spread_input   jsonb
);

-- Each scope's observed series (market log return %, spread change): the refit window.
CREATE TABLE IF NOT EXISTS observations (
    scope     text        NOT NULL,
    bar_time  timestamptz NOT NULL,
    value     float8      NOT NULL,
    PRIMARY KEY (scope, bar_time)
);

-- Closes of the bars consumed (the highest revision seen wins).
CREATE TABLE IF NOT EXISTS market_closes (
    symbol    text        NOT NULL,
    bar_time  timestamptz NOT NULL,
    close     float8      NOT NULL,
    revision  int         NOT NULL,
    PRIMARY KEY (symbol, bar_time)
);

CREATE TABLE IF NOT EXISTS universe_clock (
    id     int   PRIMARY KEY CHECK (id = 1),
    state  jsonb NOT NULL
);

-- titan:timescale-begin
SELECT create_hypertable('regime_probabilities', by_range('bar_time', INTERVAL '365 days'),
                         if_not_exists => TRUE);
ALTER TABLE regime_probabilities SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'scope', timescaledb.compress_orderby = 'bar_time');
SELECT add_compression_policy('regime_probabilities', INTERVAL '730 days', if_not_exists => TRUE);
SELECT create_hypertable('observations', by_range('bar_time', INTERVAL '365 days'),
                         if_not_exists => TRUE);
SELECT create_hypertable('market_closes', by_range('bar_time', INTERVAL '365 days'),
                         if_not_exists => TRUE);
-- titan:timescale-end
