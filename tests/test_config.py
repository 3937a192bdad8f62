"""Settings: defaults, the shipped default file, user files, and errors that name the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from framework.config import Settings, load_settings, settings_to_toml
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
