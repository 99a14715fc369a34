#!/usr/bin/env bash
# Runs once in the timescale/timescaledb container's first start (docker-entrypoint-initdb.d):
# database `titan`, one schema per service owned by its own login role, public locked down.
# Passwords come from the environment (compose reads them from .env); none are defaulted.
set -euo pipefail
: "${POSTGRES_DB:?}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE EXTENSION IF NOT EXISTS timescaledb;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE "$POSTGRES_DB" FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC;
SQL
for service in market_data pairs regime signals backtest portfolio execution; do
  var="TITAN_PG_PASSWORD_${service^^}"
  password="${!var:?$var must be set}"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
       -v role="titan_${service}" -v schema="${service}" -v pw="${password}" <<'SQL'
CREATE ROLE :"role" LOGIN NOINHERIT PASSWORD :'pw';
ALTER ROLE :"role" SET search_path = :"schema", public;
CREATE SCHEMA :"schema" AUTHORIZATION :"role";
GRANT USAGE ON SCHEMA public TO :"role";
SQL
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
       -c "GRANT CONNECT ON DATABASE \"$POSTGRES_DB\" TO titan_${service}"
done
# market_data stages its COPY in temporary tables; the others need none.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -c "GRANT TEMPORARY ON DATABASE \"$POSTGRES_DB\" TO titan_market_data"
