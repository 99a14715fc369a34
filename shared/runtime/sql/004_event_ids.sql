-- Every event id a group consumed, where, and a digest of its content (event_ids.py): a
-- later record with the same id and other content is poison, with the same content a
-- duplicate. Per partition, because a broadcast sends one event to every partition.
CREATE TABLE IF NOT EXISTS seen_events (
    group_id  text  NOT NULL,
    event_id  uuid  NOT NULL,
    topic     text  NOT NULL,
    partition int   NOT NULL,
    digest    bytea NOT NULL,
    PRIMARY KEY (group_id, event_id, topic, partition)
);
