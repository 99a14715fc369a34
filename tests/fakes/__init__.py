"""Test-kit servers that speak real protocols (never mocks of a client library)."""
