"""The framework's configuration: defaults, loading a TOML file over them, and rendering it back.

The defaults live in these models; ``configs/default.toml`` is the same set written out for users to
copy (a test keeps the two equal). A user's file only needs the keys it changes.
"""

from __future__ import annotations

import datetime
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from framework.errors import InputError, Problem

CONFIG_ENV_VAR = "PLAYBOOK_TUNER_CONFIG"
FREQTRADE_USERNAME_ENV_VAR = "PLAYBOOK_TUNER_FREQTRADE_USERNAME"
FREQTRADE_PASSWORD_ENV_VAR = "PLAYBOOK_TUNER_FREQTRADE_PASSWORD"
MASKED = "********"
"""What the rendered configuration shows instead of a password that is set."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReplaySettings(_Section):
    """How historical trades are replayed. Fractions, not percent."""

    fee: float = Field(0.0005, ge=0, lt=0.1, description="fee per side, fraction of notional")
    price_ticks: Literal["none", "candles"] = Field(
        "none",
        description="candles: round stops and fills to each symbol's price tick as freqtrade's backtesting "
        "does, the tick inferred from the candles as freqtrade infers it; none: exact prices",
    )
    maintenance_margin_rate: float = Field(0.005, ge=0, lt=0.5, description="isolated-margin maintenance margin rate")
    funding: bool = Field(True, description="charge funding where the candles folder has a funding-rate series")
    initial_equity: float = Field(
        10_000.0, gt=0, description="equity the replay starts from, quote currency (freqtrade's dry_run_wallet)"
    )


class FreqtradeImportSettings(_Section):
    """A freqtrade user's files: where its config is, and where a confidence comes from (freqtrade
    records none on trades; its signals may carry a column of the strategy's); and the REST API of the
    running freqtrade told to reload its config when the live playbook changes."""

    config: str = Field("", description="freqtrade's config.json; empty = <userdir>/config.json when userdir is set")
    userdir: str = Field("", description="freqtrade's user_data folder (candles in data/<exchange>/)")

    confidence: float = Field(1.0, ge=0, le=1, description="constant confidence when no tag pattern is set")
    confidence_tag_pattern: str = Field(
        "",
        description="regular expression with one group that reads a confidence (0-1 or 0-100) "
        "out of enter_tag, e.g. 'conf=([0-9.]+)'; empty = use the constant",
    )
    confidence_column: str = Field(
        "confidence", description="column of freqtrade's signal export holding the strategy's confidence"
    )

    # --- telling a running freqtrade to reload (framework.freqtrade_reload) ---
    api_url: str = Field(
        "", description="freqtrade's api_server address, e.g. http://127.0.0.1:8080; empty = freqtrade is not told"
    )
    api_username: str = Field("", description=f"api_server username; {FREQTRADE_USERNAME_ENV_VAR} wins")
    api_password: SecretStr = Field(
        SecretStr(""), description=f"api_server password, never shown; {FREQTRADE_PASSWORD_ENV_VAR} wins"
    )
    api_timeout: float = Field(5.0, gt=0, le=60, description="seconds to wait for freqtrade's answer")

    @field_validator("api_url")
    @classmethod
    def _api_server_address(cls, url: str) -> str:
        url = url.strip().rstrip("/")
        if not url:
            return ""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"api_url {url!r} must be an http:// or https:// address, e.g. http://127.0.0.1:8080")
        if parts.port == 0:  # reading the port also refuses one that is no number, with urllib's message
            raise ValueError(f"api_url {url!r} names port 0, where no server listens")
        if parts.username is not None or parts.password is not None:
            raise ValueError("api_url must not hold a user name or password: set api_username and api_password")
        if parts.query or parts.fragment or parts.path.endswith("/api/v1"):
            raise ValueError(f"api_url {url!r} must be the server's address alone, without /api/v1 or a query")
        return url

    def api_credentials(self) -> tuple[str, str]:
        """The api_server's username and password: the environment variables where set, else this file's."""
        username = os.environ.get(FREQTRADE_USERNAME_ENV_VAR) or self.api_username
        password = os.environ.get(FREQTRADE_PASSWORD_ENV_VAR) or self.api_password.get_secret_value()
        return username, password


class ValidationSettings(_Section):
    """The validation gate (docs/VALIDATION.md). Fractions, not percent."""

    folds: int = Field(5, ge=2, description="anchored walk-forward folds over the search window")
    holdout_fraction: float = Field(0.2, gt=0, lt=0.5, description="last share of trades no tuner sees")
    min_oos_trades: int = Field(100, ge=1, description="out-of-sample trades a block needs to be changed")
    alpha: float = Field(0.05, gt=0, lt=1, description="largest accepted (Holm-adjusted) SPA p-value")
    min_dsr: float = Field(
        0.0, ge=0, le=1, description="smallest accepted deflated Sharpe ratio; 0 = reported, not required"
    )
    max_drawdown_margin: float = Field(
        0.05, ge=0, le=1, description="how much deeper the candidate's max drawdown may be"
    )
    spa_reps: int = Field(1000, ge=100, description="bootstrap replications of the SPA test")


class AuditSettings(_Section):
    """[audit]: the post-apply audit of every applied version on the trades made while it was live."""

    alpha: float = Field(0.05, gt=0, lt=0.5, description="one-sided level of the tests worse / better")
    min_trades: int = Field(30, ge=2, description="live trades a version needs before it is judged")
    reps: int = Field(1000, ge=100, description="bootstrap replications of each test")


_SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")


class ParallelSettings(_Section):
    """[parallel]: how a tune runs its independent work (the walk-forward folds' tuning passes, the
    tuners within a pass): on process workers on this machine, threads, one after the other, or the
    workers of a Dask distributed cluster (the optional ``dask`` extra). Every backend gives the same
    session."""

    backend: Literal["processes", "threads", "serial", "dask"] = Field(
        "processes",
        description="processes: worker processes on this machine; threads; serial: one after the other; "
        "dask: the workers of the Dask cluster at scheduler",
    )
    workers: int = Field(
        0, ge=0, le=1024, description="workers at once; 0 = one per core (processes, threads) or all the cluster's"
    )
    min_trades: int = Field(
        20_000,
        ge=0,
        description="with processes and workers = 0: a tune of fewer trades runs serially, as starting the "
        "workers costs more than they save (0: always start them)",
    )
    scheduler: str = Field("", description="Dask scheduler address, e.g. tcp://10.0.0.5:8786; required for dask")
    timeout: float = Field(10.0, gt=0, le=600, description="seconds to wait for the Dask scheduler to answer")

    @field_validator("scheduler")
    @classmethod
    def _scheduler_address(cls, address: str) -> str:
        address = address.strip()
        if not address:
            return ""
        parts = urlsplit(address if "://" in address else f"tcp://{address}")
        if parts.scheme not in _SCHEDULER_SCHEMES:
            raise ValueError(
                f"scheduler {address!r} has scheme {parts.scheme!r}; use one of {', '.join(_SCHEDULER_SCHEMES)}"
            )
        if parts.scheme != "inproc" and (not parts.hostname or parts.port is None):
            raise ValueError(f"scheduler {address!r} must be host:port, e.g. tcp://10.0.0.5:8786")
        return address

    @model_validator(mode="after")
    def _dask_needs_a_scheduler(self) -> ParallelSettings:
        if self.backend == "dask" and not self.scheduler:
            raise ValueError("backend 'dask' needs scheduler, the Dask scheduler's address (tcp://host:8786)")
        return self

    @property
    def in_other_processes(self) -> bool:
        """Whether the work runs outside this process (process or Dask workers), which waits meanwhile."""
        return self.backend in ("processes", "dask")

    def for_trades(self, trades: int) -> ParallelSettings:
        """These settings for a tune of ``trades`` trades: serial when the workers are left to the default
        (processes, ``workers = 0``) and the tune is smaller than ``min_trades``. Each process worker
        imports the framework and loads the kernels first, seconds of a core: on 2 cores a 5,000-trade
        tune took 12.8 s on process workers and 9.2 s serially."""
        if self.backend == "processes" and self.workers == 0 and trades < self.min_trades:
            return SERIAL_PARALLEL
        return self

    def with_jobs(self, jobs: int) -> ParallelSettings:
        """These settings with ``jobs`` workers (the command line's ``--jobs``): 1 runs serially; more
        keeps the backend (processes when it was serial)."""
        if jobs < 1:
            raise InputError.single("--jobs", f"{jobs} workers: give 1 (serial) or more")
        if jobs == 1:
            return self.model_copy(update={"backend": "serial", "workers": 1})
        backend = "processes" if self.backend == "serial" else self.backend
        return self.model_copy(update={"backend": backend, "workers": jobs})


SERIAL_PARALLEL = ParallelSettings(backend="serial")
"""Everything in this process, one item after the other."""


class TelegramSettings(_Section):
    """Who may use the Telegram bot, and where scheduled sessions go. Ids are Telegram's numeric ids."""

    allowed_user_ids: tuple[int, ...] = Field((), description="users who may use the bot; empty = nobody")
    allowed_chat_ids: tuple[int, ...] = Field(
        (), description="chats the bot answers in (a private chat's id is the user's id); empty = none"
    )
    chat_id: int = Field(0, description="chat that scheduled sessions are pushed to; 0 = the first allowed chat")
    scheduled_tuning: bool = Field(True, description="run a tune every retraining_frequency days")

    @model_validator(mode="after")
    def _push_chat_is_allowed(self) -> TelegramSettings:
        if self.chat_id and self.chat_id not in self.allowed_chat_ids:
            raise ValueError(f"chat_id {self.chat_id} must be one of allowed_chat_ids {list(self.allowed_chat_ids)}")
        return self

    @property
    def push_chat_id(self) -> int | None:
        """The chat scheduled sessions are pushed to, or None when no chat is allowed."""
        if self.chat_id:
            return self.chat_id
        return self.allowed_chat_ids[0] if self.allowed_chat_ids else None


class Settings(_Section):
    """Effective configuration. Durations in days unless the name says otherwise."""

    min_trades_for_tuning: int = Field(50, ge=1)
    lookback_days: int = Field(30, ge=1)
    confidence_threshold: float = Field(0.7, ge=0, le=1)
    max_parameter_change: float = Field(0.3, gt=0, le=1, description="max relative change per session")
    retraining_frequency: int = Field(7, ge=1, description="days between scheduled tuning runs")
    human_review_required: bool = True
    session_expiry_hours: float = Field(24.0, gt=0, description="hours a tuning session's recommendations stay open")
    tuners: tuple[str, ...] = Field(
        ("leverage", "risk_ratio", "confidence_threshold", "strategy_weights"),
        description="built-in names, dotted paths 'package.module:Class', or entry-point names",
    )
    tuner_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="keyword arguments per tuner, keyed as in `tuners` or by the tuner's name attribute",
    )
    search_storage: str = Field(
        "", description="Optuna storage shared by workers: sqlite:///f.db, postgresql://..., journal:///f.log"
    )
    replay: ReplaySettings = ReplaySettings()
    validation: ValidationSettings = ValidationSettings()
    audit: AuditSettings = AuditSettings()
    parallel: ParallelSettings = ParallelSettings()
    freqtrade: FreqtradeImportSettings = FreqtradeImportSettings()
    telegram: TelegramSettings = TelegramSettings()


def load_settings(path: Path | None = None) -> Settings:
    """Load settings from ``path`` (or ``$PLAYBOOK_TUNER_CONFIG``) over the defaults.

    With neither, the defaults are returned. Errors name the file and the key.
    """
    if path is None and os.environ.get(CONFIG_ENV_VAR):
        path = Path(os.environ[CONFIG_ENV_VAR])
    if path is None:
        return Settings()
    name = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError.single(name, "config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError.single(name, f"not valid TOML: {exc}") from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise InputError(
            Problem(file=name, field=".".join(str(p) for p in err["loc"]), message=err["msg"]) for err in exc.errors()
        ) from None


def settings_to_toml(settings: Settings) -> str:
    """Render settings as TOML that reads back to equal settings: top-level keys first, one table per
    section; keys that are not bare TOML keys (``mytuners:TrimLosers``) are quoted. A password that is
    set is written as :data:`MASKED`, never as itself."""
    data = settings.model_dump()
    lines: list[str] = []
    sections = {k: v for k, v in data.items() if isinstance(v, dict)}
    for key, value in data.items():
        if key not in sections:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for section, values in sections.items():
        lines.append("")
        lines.append(f"[{_toml_key(section)}]")
        lines.extend(f"{_toml_key(key)} = {_toml_value(value)}" for key, value in values.items())
    return "\n".join(lines) + "\n"


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_string(text: str) -> str:
    # TOML basic strings admit no control characters but tab: the rest are written as \uXXXX.
    escaped = (_ESCAPES.get(c, f"\\u{ord(c):04x}" if c < " " or c == "\x7f" else c) for c in text)
    return '"' + "".join(escaped) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return _toml_string(MASKED if value.get_secret_value() else "")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(key)} = {_toml_value(v)}" for key, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, int | float):
        return repr(value)  # also inf, -inf and nan, which TOML spells the same
    raise TypeError(f"{value!r} ({type(value).__name__}) has no TOML form")
