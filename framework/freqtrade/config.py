"""freqtrade's ``config.json`` read as freqtrade reads it, and put over our settings.

freqtrade parses its config with rapidjson allowing ``//`` and ``/* */`` comments and trailing commas;
:func:`read_json_text` accepts the same without that dependency. :func:`load_freqtrade_config` keeps
what the replay and ``init-playbook`` need (fee, stake, wallet, timeframe, pairs, candle folder, trading
and margin mode, the strategy's overrides); ``add_config_files`` is not followed.

The rule between the two configurations (:func:`apply_freqtrade_config`): a key the user set in our
TOML wins over ``config.json``; every value taken from ``config.json`` is stated, and so is every one
kept against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from framework.config import Settings
from framework.errors import InputError, Problem

CONFIG_FILE_NAME = "config.json"
FREQTRADE_DRY_RUN_WALLET = 1000.0
"""freqtrade's own ``dry_run_wallet`` when its config names none."""
STRATEGY_OVERRIDES = (
    "minimal_roi",
    "stoploss",
    "trailing_stop",
    "trailing_stop_positive",
    "trailing_stop_positive_offset",
    "trailing_only_offset_is_reached",
)
"""Strategy settings a freqtrade config may set over the strategy's own."""


def read_json_text(text: str, source: str) -> Any:
    """JSON with freqtrade's extensions (``//`` and ``/* */`` comments, trailing commas) as Python values.

    Comments and trailing commas are blanked in place, so an error's line and column are the file's.
    Raises :class:`InputError` naming the line and column.
    """
    try:
        return json.loads(_blank_extensions(text, source))
    except json.JSONDecodeError as exc:
        raise InputError.single(source, f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def _blank_extensions(text: str, source: str) -> str:
    chars = list(text)
    pending_comma: int | None = None  # a comma that is trailing if a closing bracket comes next
    in_string = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if in_string:
            if c == "\\":
                i += 2
                continue
            in_string = c != '"'
        elif c == '"':
            in_string, pending_comma = True, None
        elif text.startswith("//", i) or text.startswith("/*", i):
            line_comment = text[i + 1] == "/"
            end = text.find("\n" if line_comment else "*/", i + 2)
            if end < 0 and not line_comment:
                line = text.count("\n", 0, i) + 1
                raise InputError.single(source, f"not valid JSON: the comment opened at line {line} is never closed")
            end = n if end < 0 else end if line_comment else end + 2
            for j in range(i, end):
                if chars[j] != "\n":
                    chars[j] = " "
            i = end
            continue
        elif c == ",":
            pending_comma = i
        elif c in "]}":
            if pending_comma is not None:
                chars[pending_comma] = " "
            pending_comma = None
        elif not c.isspace():
            pending_comma = None
        i += 1
    return "".join(chars)


class _Exchange(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    name: str = ""
    pair_whitelist: list[str] = []


class _ConfigFile(BaseModel):
    """The keys of freqtrade's config we read, with freqtrade's own types and ranges."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    fee: float | None = Field(None, ge=0, le=0.1)
    stake_amount: float | Literal["unlimited"] | None = None
    stake_currency: str = ""
    tradable_balance_ratio: float = Field(0.99, ge=0, le=1)
    dry_run_wallet: float | dict[str, float] | None = None
    max_open_trades: int | None = Field(None, ge=-1)
    timeframe: str | None = None
    exchange: _Exchange = _Exchange()
    datadir: str | None = None
    user_data_dir: str | None = None
    trading_mode: Literal["spot", "futures"] = "spot"
    margin_mode: Literal["isolated", "cross", ""] = ""
    strategy: str | None = None
    strategy_path: str | None = None
    minimal_roi: dict[str, float] | None = None
    stoploss: float | None = None
    trailing_stop: bool | None = None
    trailing_stop_positive: float | None = None
    trailing_stop_positive_offset: float | None = None
    trailing_only_offset_is_reached: bool | None = None


@dataclass(frozen=True)
class FreqtradeConfig:
    """What a freqtrade config says, resolved: amounts in the stake currency, fee a fraction per side.

    ``initial_equity`` is ``dry_run_wallet`` (its stake-currency entry when it is per currency);
    ``userdir`` is freqtrade's user_data folder; ``datadir`` the candle folder freqtrade would use
    (``datadir``, else ``<userdir>/data/<exchange>``); ``max_open_trades`` is None for unlimited or
    unknown; ``strategy_overrides`` holds the :data:`STRATEGY_OVERRIDES` the config sets.
    """

    source: Path
    fee: float | None
    stake_amount: float | Literal["unlimited"] | None
    stake_currency: str
    tradable_balance_ratio: float
    initial_equity: float | None
    max_open_trades: int | None
    timeframe: str | None
    exchange: str
    pairs: tuple[str, ...]
    userdir: Path
    datadir: Path
    trading_mode: Literal["spot", "futures"]
    margin_mode: Literal["isolated", "cross", ""]
    strategy: str | None
    strategy_path: Path | None
    strategy_overrides: dict[str, Any] = field(default_factory=dict)


def load_freqtrade_config(path: Path, userdir: Path | None = None) -> FreqtradeConfig:
    """Read freqtrade's config at ``path``; ``userdir`` (else the config's ``user_data_dir``, else
    ``./user_data`` as freqtrade) places the candle folder. Raises :class:`InputError` naming the key."""
    source = str(path)
    if not path.is_file():
        raise InputError.single(source, "freqtrade config not found" if not path.exists() else "not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError.single(source, f"cannot read the freqtrade config: {exc}") from None
    raw = read_json_text(text, source)
    if not isinstance(raw, dict):
        raise InputError.single(source, "a freqtrade config is a JSON object")
    try:
        read = _ConfigFile.model_validate(raw)
    except ValidationError as exc:
        messages: dict[str, list[str]] = {}  # a union's members each report: one problem per key
        for err in exc.errors():
            key = ".".join(str(part) for part in err["loc"] if not _is_type_tag(part))
            messages.setdefault(key, []).append(_message(err))
        raise InputError(Problem(source, " or ".join(texts), field=key) for key, texts in messages.items()) from None
    if isinstance(read.stake_amount, float) and read.stake_amount <= 0:
        raise InputError.single(source, "must be a positive amount or 'unlimited'", field="stake_amount")
    user_data = userdir or Path(read.user_data_dir or "user_data")
    datadir = Path(read.datadir) if read.datadir else user_data / "data" / read.exchange.name.lower()
    return FreqtradeConfig(
        source=path,
        fee=read.fee,
        stake_amount=read.stake_amount,
        stake_currency=read.stake_currency,
        tradable_balance_ratio=read.tradable_balance_ratio,
        initial_equity=_wallet(read, source),
        max_open_trades=read.max_open_trades if read.max_open_trades not in (None, -1) else None,
        timeframe=read.timeframe,
        exchange=read.exchange.name,
        pairs=tuple(read.exchange.pair_whitelist),
        userdir=user_data,
        datadir=datadir,
        trading_mode=read.trading_mode,
        margin_mode=read.margin_mode,
        strategy=read.strategy,
        strategy_path=Path(read.strategy_path) if read.strategy_path else None,
        strategy_overrides={name: getattr(read, name) for name in STRATEGY_OVERRIDES if name in read.model_fields_set},
    )


def _is_type_tag(part: Any) -> bool:
    # pydantic names the member of a union it tried ("float", "literal['unlimited']"): not a key
    return isinstance(part, str) and (part in ("float", "int", "str", "bool") or part.startswith(("literal[", "dict[")))


def _message(err: Any) -> str:
    given = err["input"]
    return err["msg"] if isinstance(given, dict | list) else f"{err['msg']} (got {json.dumps(given)})"


def _wallet(read: _ConfigFile, source: str) -> float | None:
    wallet = read.dry_run_wallet
    if not isinstance(wallet, dict):
        return wallet
    if read.stake_currency not in wallet:
        raise InputError.single(
            source,
            f"dry_run_wallet has no entry for the stake currency '{read.stake_currency}' "
            f"(entries: {', '.join(wallet) or 'none'})",
            field="dry_run_wallet",
        )
    return wallet[read.stake_currency]


@dataclass(frozen=True)
class FreqtradeSetup:
    """Our settings with a freqtrade config put over them, the config itself (None: none given) and
    the statements to print (what was taken from it, what was kept against it, what is not modelled)."""

    settings: Settings
    config: FreqtradeConfig | None
    statements: tuple[str, ...]


def freqtrade_setup(settings: Settings, config_file: Path | None, userdir: Path | None) -> FreqtradeSetup:
    """The freqtrade config named by ``config_file`` (else ``[freqtrade] config``, else
    ``<userdir>/config.json``, ``userdir`` being the option or ``[freqtrade] userdir``) applied to
    ``settings``; no config named: ``settings`` unchanged. Raises :class:`InputError`."""
    userdir = userdir or (Path(settings.freqtrade.userdir) if settings.freqtrade.userdir else None)
    path = config_file or (Path(settings.freqtrade.config) if settings.freqtrade.config else None)
    if path is None and userdir is not None:
        path = userdir / CONFIG_FILE_NAME
        if not path.is_file():
            raise InputError.single(
                str(path), f"no freqtrade {CONFIG_FILE_NAME} in the userdir; pass --freqtrade-config FILE"
            )
    if path is None:
        return FreqtradeSetup(settings, None, ())
    return apply_freqtrade_config(settings, load_freqtrade_config(path, userdir))


def apply_freqtrade_config(settings: Settings, config: FreqtradeConfig) -> FreqtradeSetup:
    """``settings`` with the fee, the initial equity, price ticks as freqtrade's backtesting rounds
    them, and for spot no funding and no leverage tuner, except where the user's TOML set the key (it
    wins); and what to tell the user about each."""
    explicit = settings.replay.model_fields_set if "replay" in settings.model_fields_set else set()
    replay: dict[str, Any] = {}
    kept: list[str] = []

    def take(key: str, value: Any, label: str) -> None:
        if key in explicit and getattr(settings.replay, key) != value:
            kept.append(f"{key} {getattr(settings.replay, key):g} (set in our config; {label} says {value:g})")
        elif key not in explicit:
            replay[key] = value

    statements: list[str] = []
    if config.fee is not None:
        take("fee", config.fee, "fee")
    else:
        statements.append(
            f"freqtrade config names no fee: its exchange's default is unknown offline; "
            f"the replay keeps fee {settings.replay.fee:g} per side (set [replay] fee or the config's fee)"
        )
    if config.initial_equity is not None:
        take("initial_equity", config.initial_equity, "dry_run_wallet")
    else:
        statements.append(
            f"freqtrade config names no dry_run_wallet (freqtrade's default is {FREQTRADE_DRY_RUN_WALLET:g}); "
            f"the replay starts from {settings.replay.initial_equity:g}"
        )
    if "price_ticks" not in explicit:
        replay["price_ticks"] = "candles"
    update: dict[str, Any] = {}
    if config.trading_mode == "spot":
        if "funding" in explicit and settings.replay.funding:
            kept.append("funding on (set in our config; a spot config has no funding)")
        else:
            replay["funding"] = False
        if "tuners" not in settings.model_fields_set and "leverage" in settings.tuners:
            update["tuners"] = tuple(name for name in settings.tuners if name != "leverage")
    update["replay"] = settings.replay.model_copy(update=replay)
    updated = settings.model_copy(update=update)
    parts = [f"{key} {_shown(value)}" for key, value in replay.items()]
    facts = [f"trading_mode {config.trading_mode}"]
    if config.margin_mode:
        facts.append(f"margin_mode {config.margin_mode}")
    if config.stake_amount is not None:
        facts.append(f"stake_amount {_shown(config.stake_amount)} {config.stake_currency}".rstrip())
    if config.timeframe:
        facts.append(f"timeframe {config.timeframe}")
    if config.pairs:
        facts.append(f"{len(config.pairs)} pairs")
    facts.append(f"candles {config.datadir}")
    lines = [f"from freqtrade config {config.source}: " + ", ".join(parts + facts)]
    lines.extend(f"kept against freqtrade config: {text}" for text in kept)
    lines.extend(statements)
    if config.trading_mode == "spot":
        left_out = "; the leverage tuner is left out" if "tuners" in update else ""
        lines.append(f"spot: leverage 1 is the only value (no short, no funding){left_out}")
    if config.margin_mode == "cross":
        lines.append(
            "margin_mode cross: the replay models isolated margin (each trade's liquidation from its own "
            "margin), so liquidations under cross margin are not reproduced"
        )
    return FreqtradeSetup(updated, config, tuple(lines))


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float | int) else str(value)
