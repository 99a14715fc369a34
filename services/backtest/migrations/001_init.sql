-- Backtest service tables (schema backtest; unqualified names, search_path is the schema).

CREATE TABLE IF NOT EXISTS jobs (
    request_id    text PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('backtest', 'walk_forward')),
    pair_id       text NOT NULL,
    spec          jsonb,
    status        text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    progress      double precision NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    attempts      integer NOT NULL DEFAULT 0,
    reason        text,
    source        text NOT NULL DEFAULT 'request',
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    heartbeat_at  timestamptz,
    requested_at  timestamptz
);
CREATE INDEX IF NOT EXISTS jobs_status_created ON jobs (status, created_at);

CREATE TABLE IF NOT EXISTS runs (
    request_id        text PRIMARY KEY REFERENCES jobs (request_id),
    kind              text NOT NULL,
    pair_id           text NOT NULL,
    metrics           jsonb NOT NULL,
    best_params       jsonb NOT NULL,
    n_combinations    integer NOT NULL,
    n_trades          integer NOT NULL,
    n_trials          integer NOT NULL,
    data_start        text NOT NULL,
    data_end          text NOT NULL,
    report_html       text NOT NULL,
    completed_at      timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS trades (
    request_id   text NOT NULL REFERENCES runs (request_id),
    trade_no     integer NOT NULL,
    entry_time   timestamptz NOT NULL,
    exit_time    timestamptz,
    direction    smallint NOT NULL,
    reason       text NOT NULL,
    pnl          double precision NOT NULL,
    costs        double precision NOT NULL,
    detail       jsonb NOT NULL,
    PRIMARY KEY (request_id, trade_no)
);

CREATE TABLE IF NOT EXISTS equity_curves (
    request_id   text NOT NULL,
    bar_time     timestamptz NOT NULL,
    equity       double precision NOT NULL,
    drawdown     double precision NOT NULL,
    PRIMARY KEY (request_id, bar_time)
);

CREATE TABLE IF NOT EXISTS published_params (
    pair_id      text NOT NULL,
    regime       integer,
    version      text NOT NULL,
    request_id   text NOT NULL REFERENCES runs (request_id),
    params       jsonb NOT NULL,
    evidence     jsonb NOT NULL,
    published_at timestamptz NOT NULL,
    PRIMARY KEY (version)
);

-- titan:timescale-begin
SELECT create_hypertable('equity_curves', by_range('bar_time'), if_not_exists => TRUE, migrate_data => TRUE);
ALTER TABLE equity_curves SET (timescaledb.compress, timescaledb.compress_segmentby = 'request_id');
SELECT add_compression_policy('equity_curves', INTERVAL '30 days', if_not_exists => TRUE);
-- titan:timescale-end
