"""The web console: a read-only gateway over the services' HTTP APIs (bootstrap.py says why)."""
