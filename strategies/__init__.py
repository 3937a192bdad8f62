"""Built-in strategies. Each module holds one :class:`framework.strategy.Strategy` subclass."""

__all__ = ["mean_reversion", "momentum"]
