"""Feed adapters that put trades on market.ticks.v1: file replay and websocket trade feeds."""
