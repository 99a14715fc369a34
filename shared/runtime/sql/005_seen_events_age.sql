-- When each event id was first consumed: ids older than TITAN_SEEN_EVENTS_KEEP_DAYS are
-- pruned by the outbox housekeeping. A copy comes from a re-send (a producer retry, a relay
-- after a crash), soon after its original; effects are upserts keyed by deterministic ids,
-- so a copy arriving after the horizon changes nothing either, and only a reused id with
-- other content that late would go unnoticed.
ALTER TABLE seen_events ADD COLUMN IF NOT EXISTS seen_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS seen_events_age ON seen_events (group_id, seen_at);
