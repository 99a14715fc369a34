-- Event time (contract rule 7): watermarks travel with the data as control records, each
-- consumer keeps the latest one per input partition, and events of aligned inputs wait in
-- pending_events until every input has passed their time.

-- Watermark records go to one explicit partition each (every partition of a topic gets one).
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS partition int;

-- "No event with event time <= watermark_us will come on this partition any more."
CREATE TABLE IF NOT EXISTS input_watermarks (
    group_id     text   NOT NULL,
    topic        text   NOT NULL,
    partition    int    NOT NULL,
    watermark_us bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

-- Events of aligned inputs consumed (their offsets stored) but not yet released, because
-- some input had not passed their event time. The raw record is kept and decoded again
-- when state is loaded.
CREATE TABLE IF NOT EXISTS pending_events (
    group_id      text   NOT NULL,
    topic         text   NOT NULL,
    partition     int    NOT NULL,
    "offset"      bigint NOT NULL,
    event_time_us bigint NOT NULL,
    value         bytea  NOT NULL,
    PRIMARY KEY (group_id, topic, partition, "offset")
);
CREATE INDEX IF NOT EXISTS pending_events_time ON pending_events (group_id, event_time_us);

-- A bounded wait that expired (TITAN_MAX_WATERMARK_WAIT_S, live feeds only): decisions up to
-- released_through_us were taken without the inputs listed in `lagging`, so they may differ
-- from a replay's. The input watermark never goes back below the latest such time (its row
-- in input_watermarks has topic '__forced__').
CREATE TABLE IF NOT EXISTS forced_releases (
    group_id            text   NOT NULL,
    released_through_us bigint NOT NULL,
    lagging             text   NOT NULL,
    waited_s            double precision NOT NULL,
    at                  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, released_through_us)
);
