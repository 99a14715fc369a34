"""Pure domain of the backtest service: request validation, the job model, job computation."""
