CREATE TABLE bar_counts (
    symbol text PRIMARY KEY,
    bars bigint NOT NULL,
    last_close double precision NOT NULL
);
