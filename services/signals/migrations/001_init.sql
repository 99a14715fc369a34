-- Tables of the signals service (schema `signals`; search_path is the schema).

-- Every signal decided, keyed by the strategy core's deterministic id. `seq` orders rows by
-- insertion for the SSE stream (clients resume with Last-Event-ID = seq).
CREATE TABLE IF NOT EXISTS signals (
    signal_id    uuid        PRIMARY KEY,
    seq          bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    pair_id      text        NOT NULL,
    action       text        NOT NULL,
    bar_time     timestamptz NOT NULL,
    payload      jsonb       NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS signals_pair_time ON signals (pair_id, bar_time);
CREATE INDEX IF NOT EXISTS signals_time ON signals (bar_time);

-- Open positions, with the parameters they were entered with (these govern the exit).
CREATE TABLE IF NOT EXISTS positions (
    pair_id           text             PRIMARY KEY,
    opening_signal_id uuid             NOT NULL,
    direction         smallint         NOT NULL CHECK (direction IN (-1, 1)),
    entry_time        timestamptz      NOT NULL,
    entry_z           double precision NOT NULL,
    hedge_ratio       double precision NOT NULL,
    params_version    text             NOT NULL,
    params            jsonb            NOT NULL,
    bars_held         int              NOT NULL,
    legs              jsonb            NOT NULL
);

-- Per-pair machine state: the strategy core's snapshot plus the lifecycle and pair-scope
-- regime applied so far (with their event times).
CREATE TABLE IF NOT EXISTS pair_state (
    pair_id        text        PRIMARY KEY,
    machine        jsonb,
    lifecycle      text,
    lifecycle_time timestamptz,
    regime         int,
    regime_name    text,
    regime_time    timestamptz,
    next_seq       bigint      NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Lifecycle changes and pair-scope regime shifts waiting for the spread stream to reach
-- their event time.
CREATE TABLE IF NOT EXISTS pending_control_events (
    pair_id    text        NOT NULL,
    seq        bigint      NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('lifecycle', 'regime')),
    event_time timestamptz NOT NULL,
    data       jsonb       NOT NULL,
    PRIMARY KEY (pair_id, seq)
);

-- The latest parameter set per `pair|regime` (pair `*` = every pair, regime_key `*` = null).
CREATE TABLE IF NOT EXISTS params (
    pair_key   text        NOT NULL,
    regime_key text        NOT NULL,
    regime     int,
    version    text        NOT NULL,
    params     jsonb       NOT NULL,
    no_trade   boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pair_key, regime_key)
);

-- Every market-scope regime shift seen: a spread at t uses the latest with bar_time <= t.
CREATE TABLE IF NOT EXISTS market_regimes (
    bar_time timestamptz PRIMARY KEY,
    regime   int         NOT NULL,
    name     text        NOT NULL
);
