"""Real infrastructure the project starts by itself: a KRaft Kafka broker, a PostgreSQL
cluster and PGlite with TimescaleDB, as plain processes (no Docker engine needed).

`titan infra up|down|status` and the test fixtures drive these modules; other code reads
the running infrastructure through `shared.infra.state.load_local_infra()`.
"""
