-- Blocks of a universe screen, computed by whichever pairs replica claims them
-- (screen_grid.py). A row lives from the screen's submission to its merge: the submitting
-- replica deletes it once it has the result. A claim is a lease: a block whose claimer died
-- is claimed again when the lease runs out.
CREATE TABLE IF NOT EXISTS screen_blocks (
    block_id    uuid        PRIMARY KEY,
    submitted_by text       NOT NULL,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    n_pairs     bigint      NOT NULL,
    input       bytea       NOT NULL,  -- the block's pair ids and the closes they touch (npz)
    options     jsonb       NOT NULL,
    claimed_by  text,
    lease_until timestamptz,
    result      bytea,                 -- the block's statistics (npz), once computed
    computed_by text
);
CREATE INDEX IF NOT EXISTS screen_blocks_open ON screen_blocks (submitted_at)
    WHERE result IS NULL;
