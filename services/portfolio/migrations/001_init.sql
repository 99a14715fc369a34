-- Portfolio service schema. Unqualified names: search_path is the service schema.

-- The book as of the last bar time it was marked at, and what it was told since.
CREATE TABLE IF NOT EXISTS book_state (
    portfolio_id    text        PRIMARY KEY,
    state           text        NOT NULL,  -- PortfolioBook's BookState.to_json()
    last_bar_time   timestamptz,           -- the latest bar time given to on_bar
    pending_signals jsonb       NOT NULL DEFAULT '{}',  -- signal id -> bar time, given since then
    bars            bigint      NOT NULL DEFAULT 0,
    late_events     bigint      NOT NULL DEFAULT 0      -- inputs behind last_bar_time, ignored
);

-- Orders decided at the close of decided_at; filled (paper) at the next bar's close.
CREATE TABLE IF NOT EXISTS orders (
    order_id        text             PRIMARY KEY,
    portfolio_id    text             NOT NULL,
    symbol          text             NOT NULL,
    side            text             NOT NULL,
    quantity        double precision NOT NULL,
    decided_at      timestamptz      NOT NULL,
    reference_price double precision NOT NULL,
    target_position double precision NOT NULL,
    contributions   jsonb            NOT NULL,
    reason          text             NOT NULL,
    status          text             NOT NULL DEFAULT 'planned',  -- planned | filled
    filled_at       timestamptz
);
CREATE INDEX IF NOT EXISTS orders_decided ON orders (portfolio_id, decided_at);
CREATE INDEX IF NOT EXISTS orders_status ON orders (status, decided_at);

-- Orders a risk limit refused outright (never published), with the limit that refused them.
CREATE TABLE IF NOT EXISTS rejections (
    order_id        text             PRIMARY KEY,
    portfolio_id    text             NOT NULL,
    symbol          text             NOT NULL,
    side            text             NOT NULL,
    quantity        double precision NOT NULL,
    decided_at      timestamptz      NOT NULL,
    reason          text             NOT NULL
);
CREATE INDEX IF NOT EXISTS rejections_decided ON rejections (portfolio_id, decided_at);

CREATE TABLE IF NOT EXISTS fills (
    order_id     text             PRIMARY KEY,
    portfolio_id text             NOT NULL,
    bar_time     timestamptz      NOT NULL,
    symbol       text             NOT NULL,
    side         text             NOT NULL,
    quantity     double precision NOT NULL,
    price        double precision NOT NULL,
    cost         double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS fills_time ON fills (portfolio_id, bar_time);

-- The portfolio marked at every bar's close: the PnL curve, exposure and risk state.
CREATE TABLE IF NOT EXISTS marks (
    portfolio_id   text             NOT NULL,
    bar_time       timestamptz      NOT NULL,
    equity         double precision NOT NULL,
    cash           double precision NOT NULL,
    pnl            double precision NOT NULL,
    gross_exposure double precision NOT NULL,
    net_exposure   double precision NOT NULL,
    drawdown       double precision NOT NULL,
    kill_switch    boolean          NOT NULL,
    kill_reason    text,
    costs          double precision NOT NULL,  -- commission, slippage and borrow of the bar
    positions      jsonb            NOT NULL,  -- [{symbol, quantity, price, market_value}]
    pairs          jsonb            NOT NULL,  -- [{pair_id, position, pnl, cumulative_pnl}]
    PRIMARY KEY (portfolio_id, bar_time)
);
