"""The shared streaming runtime: delivery rules 1-6 of the architecture contract."""
