-- market_data owns ticks, bars, late ticks and per-symbol watermarks.

CREATE TABLE IF NOT EXISTS ticks (
    tick_id  uuid        NOT NULL,
    symbol   text        NOT NULL,
    ts       timestamptz NOT NULL,
    price    float8      NOT NULL,
    size     float8      NOT NULL,
    trade_id text,
    source   text        NOT NULL,
    -- Time first: inserts land at the right edge of the index instead of at random UUIDs.
    -- The only index: ticks are raw input kept for deduplication and audit, and nothing
    -- reads them by symbol (bars are the history served). A (symbol, ts) index doubled the
    -- server's work per tick at ingest; add it back if a per-symbol tick query ever appears.
    PRIMARY KEY (ts, tick_id)
);

-- Trades older than an interval's grace period: kept and counted, never in that bar.
CREATE TABLE IF NOT EXISTS late_ticks (
    tick_id     uuid        NOT NULL,
    interval    text        NOT NULL,
    symbol      text        NOT NULL,
    ts          timestamptz NOT NULL,
    price       float8      NOT NULL,
    size        float8      NOT NULL,
    lateness_us bigint      NOT NULL,
    PRIMARY KEY (tick_id, interval)
);

-- Every bar, open or closed, with the accumulators needed to continue it after a restart.
CREATE TABLE IF NOT EXISTS bars (
    bar_id         uuid        NOT NULL,
    symbol         text        NOT NULL,
    interval       text        NOT NULL,
    start          timestamptz NOT NULL,
    "end"          timestamptz NOT NULL,
    open           float8      NOT NULL,
    high           float8      NOT NULL,
    low            float8      NOT NULL,
    close          float8      NOT NULL,
    open_ts_us     bigint      NOT NULL,
    close_ts_us    bigint      NOT NULL,
    volume         float8      NOT NULL,
    vwap_numerator float8      NOT NULL,
    price_sum      float8      NOT NULL,
    trade_count    int         NOT NULL,
    revision       int         NOT NULL,
    closed         boolean     NOT NULL,
    PRIMARY KEY (symbol, interval, start)
);

CREATE TABLE IF NOT EXISTS watermarks (
    symbol       text   PRIMARY KEY,
    watermark_us bigint NOT NULL
);

-- titan:timescale-begin
SELECT create_hypertable('ticks', by_range('ts', INTERVAL '7 days'), if_not_exists => TRUE);
ALTER TABLE ticks SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol',
                       timescaledb.compress_orderby = 'ts');
SELECT add_compression_policy('ticks', INTERVAL '7 days', if_not_exists => TRUE);
-- Ticks are raw input; bars are the history served. Retention is by event time, so a replay
-- of old history keeps its ticks only until the policy job next runs.
SELECT add_retention_policy('ticks', INTERVAL '400 days', if_not_exists => TRUE);
SELECT create_hypertable('bars', by_range('start', INTERVAL '365 days'), if_not_exists => TRUE);
ALTER TABLE bars SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol, interval',
                      timescaledb.compress_orderby = 'start');
SELECT add_compression_policy('bars', INTERVAL '730 days', if_not_exists => TRUE);
-- titan:timescale-end
