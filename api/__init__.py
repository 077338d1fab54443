"""HTTP service, CLI and the use cases behind them."""
