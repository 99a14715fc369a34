-- Tables of the execution adapter (schema `execution`; search_path is the schema).

-- One row per portfolio order: the intent (recorded with the consumer's offsets, once per
-- order id), then what the broker said. `state`: pending (not at the broker yet), open,
-- filled, canceled, expired, rejected. A pending order is due when next_attempt_at has
-- passed; claiming it counts the attempt and pushes next_attempt_at out by a lease before
-- any request leaves, so an attempt > 1 means an earlier one may have reached the broker.
CREATE TABLE IF NOT EXISTS orders (
    order_id          text             PRIMARY KEY,
    client_order_id   text             NOT NULL UNIQUE,
    portfolio         text             NOT NULL,
    symbol            text             NOT NULL,
    side              text             NOT NULL CHECK (side IN ('buy', 'sell')),
    qty               text             NOT NULL,
    decided_at        timestamptz      NOT NULL,
    reference_price   double precision NOT NULL,
    state             text             NOT NULL DEFAULT 'pending' CHECK (
        state IN ('pending', 'open', 'filled', 'canceled', 'expired', 'rejected')),
    attempts          int              NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz      NOT NULL DEFAULT now(),
    last_error        text,
    reason            text,
    broker_order_id   text,
    broker_status     text,
    filled_qty        double precision NOT NULL DEFAULT 0,
    filled_avg_price  double precision,
    placed_at         timestamptz,
    reconciled_at     timestamptz,
    recorded_at       timestamptz      NOT NULL DEFAULT now(),
    updated_at        timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS orders_due ON orders (next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS orders_open ON orders (reconciled_at NULLS FIRST) WHERE state = 'open';
CREATE INDEX IF NOT EXISTS orders_symbol ON orders (symbol, decided_at);
