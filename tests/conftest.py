"""Shared fixtures: the real infrastructure lives in tests/fixtures_infra.py."""

pytest_plugins = ["tests.fixtures_infra"]
