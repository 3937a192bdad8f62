"""Settings: defaults, the shipped default file, user files, and errors that name the key."""

from __future__ import annotations

import datetime
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.config import FreqtradeImportSettings, Settings, load_settings, settings_to_toml
from framework.errors import InputError

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "configs" / "default.toml"


def test_shipped_default_file_equals_the_built_in_defaults() -> None:
    assert load_settings(DEFAULT_FILE) == Settings()


def test_seed_defaults() -> None:
    settings = Settings()
    assert (settings.min_trades_for_tuning, settings.lookback_days, settings.confidence_threshold) == (
        50,
        30,
        0.7,
    )
    assert (settings.max_parameter_change, settings.retraining_frequency) == (0.3, 7)
    assert settings.human_review_required is True


def test_user_file_changes_only_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text("lookback_days = 14\n[replay]\nfee = 0.001\n")
    settings = load_settings(path)
    assert settings.lookback_days == 14
    assert settings.replay.fee == 0.001
    assert settings.replay.maintenance_margin_rate == 0.005
    assert settings.min_trades_for_tuning == 50


def test_environment_variable_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env.toml"
    path.write_text("retraining_frequency = 3\n")
    monkeypatch.setenv("PLAYBOOK_TUNER_CONFIG", str(path))
    assert load_settings().retraining_frequency == 3


def test_rendered_toml_reads_back_equal() -> None:
    settings = Settings(lookback_days=9)
    assert Settings.model_validate(tomllib.loads(settings_to_toml(settings))) == settings


def _read_back(settings: Settings) -> Settings:
    return Settings.model_validate(tomllib.loads(settings_to_toml(settings)))


@pytest.mark.parametrize(
    "written",
    [
        Settings(),
        Settings(
            tuners=("mytuners:TrimLosers", "mytuners.TrimLosers", "leverage"),
            tuner_options={
                "mytuners:TrimLosers": {"below": 1.0, "cut": 0.1},
                "mytuners.TrimLosers": {"cut": 0.2},
                "trim_losers": {"below": -0.5},
                "leverage": {"steps": [0.9, 1.1], "name": 'say "hi"\\ \n\tnow'},
            },
            freqtrade=FreqtradeImportSettings(confidence_tag_pattern='conf=([0-9.]+)\\s"[a-z]+"'),
        ),
    ],
    ids=["defaults", "tuner options by dotted path and name"],
)
def test_rendered_toml_is_valid_and_reads_back_equal(written: Settings) -> None:
    assert _read_back(written) == written


def test_keys_that_are_not_bare_are_quoted() -> None:
    text = settings_to_toml(Settings(tuner_options={"mytuners:TrimLosers": {"below": 1.0}, "trim_losers": {}}))
    assert '\n"mytuners:TrimLosers" = {below = 1.0}\n' in text
    assert "\ntrim_losers = {}\n" in text


_TOML_SCALARS = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.dates()
    | st.times()
    | st.datetimes()
    | st.datetimes(timezones=st.just(datetime.UTC))
)
_TOML_VALUES = st.recursive(
    _TOML_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3)
)


@settings(max_examples=200, deadline=None)
@given(
    tuners=st.lists(st.text(), max_size=3),
    options=st.dictionaries(st.text(), st.dictionaries(st.text(), _TOML_VALUES, max_size=3), max_size=3),
    pattern=st.text(),
)
def test_any_tuner_options_and_text_read_back_equal(
    tuners: list[str], options: dict[str, dict[str, object]], pattern: str
) -> None:
    written = Settings(
        tuners=tuple(tuners),
        tuner_options=options,
        freqtrade=FreqtradeImportSettings(confidence_tag_pattern=pattern),
    )
    assert _read_back(written) == written


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("lookbak_days = 3\n", "lookbak_days", "Extra inputs are not permitted"),
        ("[replay]\nfee = -1\n", "replay.fee", "greater than or equal to 0"),
        ("max_parameter_change = 'lots'\n", "max_parameter_change", "valid number"),
        ("[telegram]\nallowed_chat_ids = [1]\nchat_id = 2\n", "telegram", "chat_id 2 must be one of allowed_chat_ids"),
        ("[telegram]\nallowed_user_ids = ['me']\n", "telegram.allowed_user_ids.0", "valid integer"),
    ],
)
def test_bad_values_name_file_and_key(tmp_path: Path, text: str, field: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value)
    assert f"field '{field}'" in str(caught.value)
    assert message in str(caught.value)


def test_broken_toml_and_missing_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("lookback_days = = 3\n")
    with pytest.raises(InputError, match=r"broken\.toml: not valid TOML"):
        load_settings(path)
    with pytest.raises(InputError, match="config file not found"):
        load_settings(tmp_path / "absent.toml")
