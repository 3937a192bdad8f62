"""The ``bot`` command: the Telegram approval bot on long polling."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from framework.cli.common import (
    ConfigOption,
    FreqtradeConfigOption,
    LivePlaybookOption,
    PricesOption,
    SampleTradesOption,
    SignalsOption,
    TuneStoreOption,
    UserdirOption,
    app,
    candle_folder,
    effective_settings,
    inputs,
    sample_lookback,
)
from framework.errors import PlaybookTunerError

TOKEN_ENV_VAR = "TELEGRAM_BOT_TOKEN"


@app.command("bot")
def bot_command(
    trades: SampleTradesOption = None,
    signals: SignalsOption = None,
    prices: PricesOption = None,
    playbook: LivePlaybookOption = None,
    store: TuneStoreOption = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Self-hosted Bot API server, e.g. http://127.0.0.1:8081.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the models, searches and bootstraps.")] = 0,
    config: ConfigOption = None,
    freqtrade_config: FreqtradeConfigOption = None,
    userdir: UserdirOption = None,
) -> None:
    """Run the Telegram approval bot (long polling) until Ctrl-C or SIGTERM; token from $TELEGRAM_BOT_TOKEN."""
    token = os.environ.get(TOKEN_ENV_VAR, "").strip()
    if not token:
        raise PlaybookTunerError(f"set {TOKEN_ENV_VAR} to the token BotFather gave you (see the README, Telegram)")
    import logging

    import optuna
    from telegram.error import InvalidToken, NetworkError

    from framework.bot import run_bot
    from framework.desk import TuningDesk
    from framework.pipeline import TuneFiles

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    setup = effective_settings(config, freqtrade_config, userdir)
    settings = setup.settings
    files = inputs(trades, signals, candle_folder(prices, setup), playbook)
    tune_files = TuneFiles(files.trades, files.prices, files.playbook, files.signals, store)
    desk = TuningDesk(tune_files, settings, seed=seed, lookback_days=sample_lookback(files))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per long poll
    try:
        run_bot(desk, token, base_url=base_url)
    except InvalidToken:
        raise PlaybookTunerError(f"Telegram refused the token in {TOKEN_ENV_VAR}; check it with BotFather") from None
    except NetworkError as exc:
        server = base_url or "api.telegram.org"
        why = str(exc).replace(token, "<token>")
        raise PlaybookTunerError(f"cannot reach the Bot API server {server}: {why}") from None
