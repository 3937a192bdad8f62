"""The static markets table the harness gives freqtrade's exchange object instead of the exchange's API.

Each entry is a ccxt unified market (what ``ccxt.Exchange.load_markets`` would build from the
exchange's answer), for the spot pairs ``<BASE>/BTC`` of the shared candles. Binance's ccxt class counts
precision in tick sizes (``precisionMode`` TICK_SIZE), so ``precision`` holds the step of an amount and
of a price. The limits are loose enough that a stake of 0.001 BTC is always tradable.
"""

from __future__ import annotations

from typing import Any

QUOTE = "BTC"
BASES = ("ADA", "DASH", "ETC", "ETH", "LTC", "NXT", "TRX", "XLM", "XMR", "ZEC")
PAIRS = tuple(f"{base}/{QUOTE}" for base in BASES)
"""The ten pairs of ``../shared/data/freqtrade/*_BTC-5m.feather``."""

AMOUNT_STEP = 0.001
PRICE_STEP = 1e-8
MIN_COST = 0.0001
"""Least notional of an order, BTC (Binance's minimum notional on BTC pairs in 2018)."""


def spot_market(base: str, quote: str = QUOTE) -> dict[str, Any]:
    """One active spot market ``base/quote`` in ccxt's unified form."""
    return {
        "id": f"{base}{quote}",
        "symbol": f"{base}/{quote}",
        "base": base,
        "quote": quote,
        "settle": None,
        "baseId": base,
        "quoteId": quote,
        "settleId": None,
        "type": "spot",
        "spot": True,
        "margin": False,
        "swap": False,
        "future": False,
        "option": False,
        "active": True,
        "contract": False,
        "linear": None,
        "inverse": None,
        "contractSize": None,
        "taker": 0.001,
        "maker": 0.001,
        "precision": {"amount": AMOUNT_STEP, "price": PRICE_STEP},
        "limits": {
            "amount": {"min": AMOUNT_STEP, "max": 90_000_000.0},
            "price": {"min": PRICE_STEP, "max": 1000.0},
            "cost": {"min": MIN_COST, "max": 9_000_000.0},
            "leverage": {"min": None, "max": None},
        },
        "info": {},
    }


def markets() -> dict[str, dict[str, Any]]:
    """The whole table, by symbol."""
    return {f"{base}/{QUOTE}": spot_market(base) for base in BASES}
