"""``python -m tests.freqtrade_harness ARGS``: freqtrade's command line (``freqtrade ARGS``) with the
exchange's markets taken from :mod:`tests.freqtrade_harness.markets` and every network connection refused.

Only the one method of freqtrade's exchange object that asks the exchange's API for its markets
(``Exchange._api_reload_markets``) is replaced: it hands ccxt the static table instead, so freqtrade's
own ``reload_markets`` then fills its market caches as it would from the API. An audit hook refuses any
connection to a network address and says so on stderr (``NETWORK ATTEMPT``), so a new network call in
freqtrade fails the run loudly instead of waiting on a timeout.
"""

from __future__ import annotations

import sys
from typing import Any

NETWORK_ATTEMPT = "NETWORK ATTEMPT"


def _refuse_network(event: str, args: tuple[Any, ...]) -> None:
    if event in ("socket.connect", "socket.getaddrinfo"):
        address = args[1] if event == "socket.connect" else args[0]
        if isinstance(address, str | bytes) and event == "socket.connect":
            return  # a Unix socket (asyncio's self-pipe), not the network
        print(f"{NETWORK_ATTEMPT}: {event} {address!r}", file=sys.stderr, flush=True)
        raise ConnectionRefusedError(f"the freqtrade harness runs offline ({event} {address!r})")


def main(argv: list[str]) -> None:
    sys.addaudithook(_refuse_network)

    from freqtrade.exchange.exchange import Exchange
    from freqtrade.main import main as freqtrade_main

    from tests.freqtrade_harness.markets import markets

    async def static_markets(self: Exchange, reload: bool = False) -> None:
        self._api_async.set_markets(markets())

    Exchange._api_reload_markets = static_markets  # type: ignore[method-assign]
    freqtrade_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
