"""Pure domain of the pairs service: universe clock, pair lifecycle, spread tracking (no I/O)."""
