-- Runtime tables every service owns in its own schema (contract delivery rules 1-3, 5).

CREATE TABLE IF NOT EXISTS consumer_offsets (
    group_id    text   NOT NULL,
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    next_offset bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

-- One row per event to publish, written in the same transaction as the effects that
-- caused it. (batch_no, seq) is the publication order.
CREATE TABLE IF NOT EXISTS outbox (
    batch_no   bigint NOT NULL,
    seq        int    NOT NULL,
    event_id   text,
    topic      text   NOT NULL,
    key        text,
    value      bytea  NOT NULL,
    headers    jsonb  NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    PRIMARY KEY (batch_no, seq)
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (batch_no, seq) WHERE sent_at IS NULL;
CREATE SEQUENCE IF NOT EXISTS outbox_batch_seq;

CREATE TABLE IF NOT EXISTS dead_letters (
    topic      text   NOT NULL,
    partition  int    NOT NULL,
    "offset"   bigint NOT NULL,
    reason     text   NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);
