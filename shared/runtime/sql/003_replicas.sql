-- Scale-out: several replicas of a service share its schema (one consumer group).

-- The replica (one process incarnation) that wrote the row publishes it; rows of a replica
-- no longer in the group are claimed by a live one at the next rebalance (outbox.py).
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS replica text;
-- Partitioned like this key by the default partitioner (co-partitioning), when set.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS partition_key text;
CREATE INDEX IF NOT EXISTS outbox_unsent_replica ON outbox (replica, batch_no, seq)
    WHERE sent_at IS NULL;

-- Partition counts of the inputs when the group first ran: per-partition state and
-- co-partitioning rely on the key -> partition mapping, so a changed count is refused.
CREATE TABLE IF NOT EXISTS input_partitions (
    group_id   text NOT NULL,
    topic      text NOT NULL,
    partitions int  NOT NULL,
    PRIMARY KEY (group_id, topic)
);
