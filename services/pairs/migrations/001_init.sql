-- Pairs service schema. Unqualified names: search_path is the service schema.

-- Source of truth for closes: applied values only (a deferred revision lands here when due).
CREATE TABLE IF NOT EXISTS bar_closes (
    symbol      text             NOT NULL,
    interval    text             NOT NULL,
    bar_time    timestamptz      NOT NULL,
    close       double precision NOT NULL,
    revision    integer          NOT NULL,
    PRIMARY KEY (interval, symbol, bar_time)
);
CREATE INDEX IF NOT EXISTS bar_closes_time ON bar_closes (interval, bar_time);

-- Bars that arrived at or before their symbol's latest bar time, waiting for the clock.
CREATE TABLE IF NOT EXISTS pending_revisions (
    symbol      text             NOT NULL,
    interval    text             NOT NULL,
    bar_time    timestamptz      NOT NULL,
    revision    integer          NOT NULL,
    close       double precision NOT NULL,
    applies_after timestamptz    NOT NULL,
    PRIMARY KEY (interval, symbol, bar_time, revision, applies_after)
);

-- The universe clock: one row per interval, and the sequence of complete bar times.
CREATE TABLE IF NOT EXISTS universe_clock (
    interval      text        PRIMARY KEY,
    n_complete    bigint      NOT NULL,
    last_complete timestamptz,
    steps         bigint      NOT NULL DEFAULT 0  -- committed steps: detects stale memory
);
CREATE TABLE IF NOT EXISTS universe_times (
    interval text        NOT NULL,
    seq      bigint      NOT NULL,
    bar_time timestamptz NOT NULL,
    PRIMARY KEY (interval, seq)
);

CREATE TABLE IF NOT EXISTS pairs (
    pair_id          text        PRIMARY KEY,
    a                text        NOT NULL,
    b                text        NOT NULL,
    state            text        NOT NULL,
    since            timestamptz NOT NULL,
    passes           integer     NOT NULL,
    strikes          integer     NOT NULL,
    degraded_screens integer     NOT NULL,
    screens          integer     NOT NULL
);
CREATE INDEX IF NOT EXISTS pairs_state ON pairs (state);

CREATE TABLE IF NOT EXISTS pair_tests (
    pair_id         text             NOT NULL,
    screen_id       uuid             NOT NULL,
    as_of           timestamptz      NOT NULL,
    passed          boolean          NOT NULL,
    pvalue_adjusted double precision,
    payload         jsonb            NOT NULL,
    PRIMARY KEY (pair_id, screen_id)
);
CREATE INDEX IF NOT EXISTS pair_tests_as_of ON pair_tests (pair_id, as_of);

CREATE TABLE IF NOT EXISTS kalman_state (
    pair_id       text               PRIMARY KEY,
    a             text               NOT NULL,
    b             text               NOT NULL,
    hedge_ratio   double precision   NOT NULL,
    intercept     double precision   NOT NULL,
    cov           double precision[] NOT NULL,
    history       double precision[] NOT NULL,
    n_updates     bigint             NOT NULL,
    last_bar_time timestamptz,
    half_life     double precision
);

CREATE TABLE IF NOT EXISTS spreads (
    pair_id             text             NOT NULL,
    bar_time            timestamptz      NOT NULL,
    price_a             double precision NOT NULL,
    price_b             double precision NOT NULL,
    spread              double precision NOT NULL,
    z_score             double precision,
    hedge_ratio         double precision NOT NULL,
    intercept           double precision NOT NULL,
    hedge_ratio_variance double precision,
    half_life           double precision,
    PRIMARY KEY (pair_id, bar_time)
);

CREATE TABLE IF NOT EXISTS screen_requests (
    request_id   uuid        PRIMARY KEY,
    interval     text        NOT NULL,
    requested_at timestamptz NOT NULL,
    as_of        timestamptz,
    status       text        NOT NULL DEFAULT 'pending',
    outcome      text
);
CREATE INDEX IF NOT EXISTS screen_requests_pending ON screen_requests (status, requested_at);

-- titan:timescale-begin
SELECT create_hypertable('spreads', by_range('bar_time'), if_not_exists => TRUE);
ALTER TABLE spreads SET (timescaledb.compress, timescaledb.compress_segmentby = 'pair_id');
SELECT add_compression_policy('spreads', INTERVAL '30 days', if_not_exists => TRUE);
SELECT add_retention_policy('spreads', INTERVAL '5 years', if_not_exists => TRUE);
-- titan:timescale-end
