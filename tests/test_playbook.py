"""The playbook model: parsing, validation problems, effective values and comment-keeping edits."""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path

import pandas as pd
import pytest
from ruamel.yaml import YAML

from framework.errors import InputError, Problem
from framework.playbook import (
    DEFAULT_BOUNDS,
    PARAMETERS,
    REQUIRED_PARAMETERS,
    STRATEGY_WEIGHTS,
    ParameterChange,
    RegimeParameters,
    format_duration,
    load_playbook,
    parse_duration,
    parse_playbook,
)
from framework.regimes import REGIMES

EXAMPLE = """\
# comments are kept on round trip
default:                      # used for regimes not listed, and for trades with no regime
  leverage: 2.0               # > 0
  stop_loss: 0.02             # fraction of entry price, 0 < x < 1
  risk_reward_ratio: 2.0      # take-profit distance = stop_loss * risk_reward_ratio, > 0
  confidence_threshold: 0.7   # [0, 1]
  position_size: 0.1          # fraction of equity committed as margin per trade, (0, 1]
  max_hold: 48h               # duration or empty/null = no limit
regimes:
  trending_up:                # keys must be in REGIMES
    leverage: 3.0
  volatile:                   # a regime block may give only some keys
    leverage: 1.0
    confidence_threshold: 0.85

  # strategies below
strategy_weights:             # optional
  momentum: 0.5
bounds:                       # optional per parameter [min, max]
  leverage: [1, 10]
"""

DEFAULT_ONLY = """\
default:
  leverage: 2
  stop_loss: 0.02
  risk_reward_ratio: 2.0
  confidence_threshold: 0.7
  position_size: 0.1
  max_hold:
"""


def problems_of(text: str) -> tuple[Problem, ...]:
    with pytest.raises(InputError) as info:
        parse_playbook(text, "pb.yaml")
    return info.value.problems


def only_problem(text: str) -> Problem:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


def changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


# --- parsing and effective values ---------------------------------------------------------------


def test_example_parses_with_regime_blocks_inheriting_from_default() -> None:
    playbook = parse_playbook(EXAMPLE)
    assert playbook.default == RegimeParameters(2.0, 0.02, 2.0, 0.7, 0.1, pd.Timedelta(hours=48))
    volatile = playbook.parameters_for("volatile")
    assert (volatile.leverage, volatile.confidence_threshold) == (1.0, 0.85)
    assert (volatile.stop_loss, volatile.max_hold) == (0.02, pd.Timedelta(hours=48))
    assert playbook.overrides == {
        "trending_up": {"leverage": 3.0},
        "volatile": {"leverage": 1.0, "confidence_threshold": 0.85},
    }
    assert playbook.parameters_for("ranging") == playbook.default
    assert playbook.parameters_for(None) == playbook.default
    assert playbook.value("trending_up", "leverage") == 3.0
    assert playbook.value("trending_up", "stop_loss") == 0.02
    assert playbook.value("default", "leverage") == 2.0


def test_strategy_weights_and_bounds_fall_back_to_defaults() -> None:
    playbook = parse_playbook(EXAMPLE)
    assert playbook.strategy_weight("momentum") == 0.5
    assert playbook.strategy_weight("unlisted") == 1.0
    assert playbook.bounds["leverage"] == (1.0, 10.0)
    assert playbook.bounds["stop_loss"] == DEFAULT_BOUNDS["stop_loss"]


def test_text_is_kept_verbatim_and_hashed() -> None:
    playbook = parse_playbook(EXAMPLE, "live.yaml")
    assert playbook.text == EXAMPLE
    assert playbook.source == "live.yaml"
    assert playbook.sha256() == hashlib.sha256(EXAMPLE.encode()).hexdigest()


def test_value_rejects_an_unknown_parameter() -> None:
    with pytest.raises(ValueError, match="stop_loss"):
        parse_playbook(EXAMPLE).value("default", "stoploss")


def test_load_playbook_reads_bytes_exactly(tmp_path: Path) -> None:
    path = tmp_path / "playbook.yaml"
    path.write_bytes(DEFAULT_ONLY.replace("\n", "\r\n").encode())
    playbook = load_playbook(path)
    assert playbook.text == DEFAULT_ONLY.replace("\n", "\r\n")
    assert playbook.sha256() == hashlib.sha256(path.read_bytes()).hexdigest()
    assert playbook.source == str(path)


def test_load_playbook_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_playbook(tmp_path / "absent.yaml")


# --- validation ----------------------------------------------------------------------------------


def test_broken_yaml_reports_parser_line_and_column() -> None:
    problem = only_problem(DEFAULT_ONLY + "regimes:\n  volatile: [1,\n")
    assert problem.row is not None and problem.row >= 9
    assert "not valid YAML" in problem.message and "column" in problem.message


def test_duplicate_key_is_a_yaml_problem() -> None:
    problem = only_problem(DEFAULT_ONLY + "  leverage: 3\n")
    assert "duplicate key" in problem.message
    assert problem.row == 8


@pytest.mark.parametrize(("text", "kind"), [("", "empty"), ("- 1\n- 2\n", "list"), ("just text\n", "text")])
def test_top_level_must_be_a_mapping(text: str, kind: str) -> None:
    problem = only_problem(text)
    assert "must be a mapping" in problem.message and kind in problem.message


def test_missing_default_block() -> None:
    problem = only_problem("regimes:\n  volatile:\n    leverage: 1.0\n")
    assert problem.field == "default"


def test_every_missing_default_key_is_reported() -> None:
    text = DEFAULT_ONLY.replace("  stop_loss: 0.02\n", "").replace("  position_size: 0.1\n", "")
    problem = only_problem(text.replace("  max_hold:\n", ""))
    assert (problem.field, problem.row) == ("default", 1)
    assert problem.message.startswith("missing stop_loss, position_size; the default block must give leverage")


@pytest.mark.parametrize("parameter", REQUIRED_PARAMETERS)
def test_a_required_parameter_missing_from_default_is_named(parameter: str) -> None:
    lines = [line for line in DEFAULT_ONLY.splitlines(keepends=True) if not line.startswith(f"  {parameter}:")]
    problem = only_problem("".join(lines))
    assert problem.message.startswith(f"missing {parameter};")


def test_required_parameters_are_those_without_a_natural_default() -> None:
    with_defaults = {
        "max_hold",
        "trailing_stop",
        "trailing_stop_positive",
        "trailing_stop_positive_offset",
        "minimal_roi",
        "minimal_roi_scale",
    }
    assert set(REQUIRED_PARAMETERS) == set(PARAMETERS) - with_defaults


TRAILING = DEFAULT_ONLY + "regimes:\n  volatile:\n    trailing_stop: true\n    trailing_stop_positive: 0.01\n"


def test_trailing_stop_is_off_by_default_and_set_per_regime() -> None:
    playbook = parse_playbook(TRAILING)
    assert playbook.default.trailing_stop is False and playbook.default.trailing_stop_positive is None
    volatile = playbook.parameters_for("volatile")
    assert (volatile.trailing_stop, volatile.trailing_stop_positive, volatile.trailing_stop_positive_offset) == (
        True,
        0.01,
        0.0,
    )
    changed = playbook.with_changes([ParameterChange("volatile", "trailing_stop_positive_offset", 0.02)])
    assert changed.parameters_for("volatile").trailing_stop_positive_offset == 0.02
    assert "trailing_stop_positive_offset: 0.02" in changed.text


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("trailing_stop: 1", "must be true or false"),
        ("trailing_stop_positive: 0", "out of range"),
        ("trailing_stop_positive: 0.9", "outside the bounds"),
    ],
)
def test_trailing_values_are_checked(line: str, expected: str) -> None:
    problem = only_problem(DEFAULT_ONLY + "regimes:\n  volatile:\n    " + line + "\n")
    assert expected in problem.message and problem.field == "regimes.volatile." + line.split(":")[0]


DEFAULT_WITHOUT_MAX_HOLD = DEFAULT_ONLY.replace("  max_hold:\n", "") + "regimes:\n  volatile:\n    leverage: 1.0\n"


def test_default_block_may_omit_max_hold_for_no_limit() -> None:
    playbook = parse_playbook(DEFAULT_WITHOUT_MAX_HOLD)
    assert playbook.default.max_hold is None
    assert playbook.parameters_for("volatile").max_hold is None
    assert playbook.value("default", "max_hold") is None


def test_changes_to_a_playbook_without_max_hold_are_written_back() -> None:
    playbook = parse_playbook(DEFAULT_WITHOUT_MAX_HOLD)
    changed = playbook.with_changes([ParameterChange("default", "leverage", 3)])
    assert changed_lines(playbook.text, changed.text) == ["-  leverage: 2", "+  leverage: 3"]
    assert changed.default.max_hold is None
    limited = playbook.with_changes(
        [
            ParameterChange("default", "max_hold", pd.Timedelta(hours=36)),
            ParameterChange("volatile", "max_hold", pd.Timedelta(hours=2)),
        ]
    )
    assert changed_lines(playbook.text, limited.text) == ["+  max_hold: 36h", "+    max_hold: 2h"]
    assert limited.default.max_hold == pd.Timedelta(hours=36)
    assert limited.parameters_for("volatile").max_hold == pd.Timedelta(hours=2)
    assert limited.parameters_for("ranging").max_hold == pd.Timedelta(hours=36)


def test_unknown_key_suggests_the_closest_name() -> None:
    problem = only_problem(DEFAULT_ONLY + "regimes:\n  volatile:\n    stoploss: 0.03\n")
    assert problem.field == "regimes.volatile.stoploss"
    assert problem.row == 10
    assert "did you mean 'stop_loss'" in problem.message


def test_unknown_top_level_section() -> None:
    problem = only_problem(DEFAULT_ONLY + "regime:\n  volatile: {}\n")
    assert problem.field == "regime" and "did you mean 'regimes'" in problem.message


def test_unknown_regime_lists_the_valid_ones() -> None:
    problem = only_problem(DEFAULT_ONLY + "regimes:\n  sideways:\n    leverage: 1.0\n")
    assert problem.field == "regimes.sideways"
    assert problem.row == 9
    assert all(regime in problem.message for regime in REGIMES)


@pytest.mark.parametrize(
    ("line", "field", "expected"),
    [
        ("  leverage: high", "default.leverage", "got text 'high'"),
        ('  leverage: "2.0"', "default.leverage", "got text '2.0'"),
        ("  leverage: true", "default.leverage", "boolean"),
        ("  leverage: [2]", "default.leverage", "got list"),
    ],
)
def test_wrong_type(line: str, field: str, expected: str) -> None:
    problem = only_problem(DEFAULT_ONLY.replace("  leverage: 2", line))
    assert (problem.field, problem.row) == (field, 2)
    assert "must be a number" in problem.message and expected in problem.message


def test_regime_block_must_be_a_mapping() -> None:
    problem = only_problem(DEFAULT_ONLY + "regimes:\n  volatile: 3\n")
    assert problem.field == "regimes.volatile" and "mapping" in problem.message


def test_empty_regime_block_inherits_everything() -> None:
    playbook = parse_playbook(DEFAULT_ONLY + "regimes:\n  volatile:\n")
    assert playbook.parameters_for("volatile") == playbook.default


@pytest.mark.parametrize(
    ("parameter", "value", "allowed"),
    [
        ("stop_loss", "1.5", "(0, 1)"),
        ("stop_loss", "0", "(0, 1)"),
        ("confidence_threshold", "1.2", "[0, 1]"),
        ("position_size", "0", "(0, 1]"),
        ("leverage", "-1", "> 0"),
        ("risk_reward_ratio", ".nan", "> 0"),
    ],
)
def test_out_of_range_values_name_the_allowed_range(parameter: str, value: str, allowed: str) -> None:
    problem = only_problem(DEFAULT_ONLY + f"regimes:\n  ranging:\n    {parameter}: {value}\n")
    assert problem.field == f"regimes.ranging.{parameter}"
    assert problem.row == 10
    assert "out of range" in problem.message and allowed in problem.message


def test_value_outside_default_bounds() -> None:
    problem = only_problem(DEFAULT_ONLY.replace("leverage: 2", "leverage: 25"))
    assert problem.field == "default.leverage"
    assert "bounds [1, 20]" in problem.message


def test_value_outside_the_files_bounds() -> None:
    problem = only_problem(EXAMPLE.replace("leverage: 3.0", "leverage: 12"))
    assert problem.field == "regimes.trending_up.leverage"
    assert "bounds [1, 10]" in problem.message


def test_bounds_can_widen_the_defaults() -> None:
    text = DEFAULT_ONLY.replace("leverage: 2", "leverage: 25") + "bounds:\n  leverage: [1, 50]\n"
    assert parse_playbook(text).default.leverage == 25.0


@pytest.mark.parametrize(
    ("entry", "field", "expected"),
    [
        ("leverage: [10, 1]", "bounds.leverage", "must be below max"),
        ("leverage: [5, 5]", "bounds.leverage", "must be below max"),
        ("levrage: [1, 5]", "bounds.levrage", "did you mean 'leverage'"),
        ("max_hold: [1, 5]", "bounds.max_hold", "takes no bounds"),
        ("leverage: [1, 5, 9]", "bounds.leverage", "two numbers"),
        ("leverage: [1, x]", "bounds.leverage", "finite numbers"),
        ("stop_loss: [0, 0.5]", "bounds.stop_loss", "valid range"),
    ],
)
def test_bad_bounds(entry: str, field: str, expected: str) -> None:
    problem = only_problem(DEFAULT_ONLY + f"bounds:\n  {entry}\n")
    assert (problem.field, problem.row) == (field, 9)
    assert expected in problem.message


@pytest.mark.parametrize("value", ["2 days", "48", "48x", "-5h", "0h", "1h30m"])
def test_bad_max_hold(value: str) -> None:
    problem = only_problem(DEFAULT_ONLY.replace("max_hold:", f"max_hold: {value}"))
    assert (problem.field, problem.row) == ("default.max_hold", 7)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("90m", pd.Timedelta(minutes=90)),
        ("2d", pd.Timedelta(days=2)),
        ("1w", pd.Timedelta(weeks=1)),
        ("1.5h", pd.Timedelta(minutes=90)),
        ("30s", pd.Timedelta(seconds=30)),
        ("", None),
        ("null", None),
        ("''", None),
    ],
)
def test_max_hold_forms(value: str, expected: pd.Timedelta | None) -> None:
    playbook = parse_playbook(DEFAULT_ONLY.replace("max_hold:", f"max_hold: {value}"))
    assert playbook.default.max_hold == expected


def test_negative_strategy_weight() -> None:
    problem = only_problem(DEFAULT_ONLY + "strategy_weights:\n  momentum: 1.0\n  mean_revert: -0.5\n")
    assert (problem.field, problem.row) == ("strategy_weights.mean_revert", 10)
    assert "negative" in problem.message


def test_several_problems_are_collected_into_one_error() -> None:
    text = (
        DEFAULT_ONLY.replace("stop_loss: 0.02", "stop_loss: 2")
        + "regimes:\n  sideways: {}\n  volatile:\n    leverag: 2\n"
        + "strategy_weights:\n  a: -1\n"
    )
    with pytest.raises(InputError) as info:
        parse_playbook(text, "pb.yaml")
    fields = {p.field: p.row for p in info.value.problems}
    assert fields == {
        "default.stop_loss": 3,
        "regimes.sideways": 9,
        "regimes.volatile.leverag": 11,
        "strategy_weights.a": 13,
    }
    assert str(info.value).startswith("4 problems:")
    assert "pb.yaml, row 3, field 'default.stop_loss'" in str(info.value)


# --- with_changes --------------------------------------------------------------------------------


def test_with_changes_edits_only_the_named_values_and_keeps_comments() -> None:
    playbook = parse_playbook(EXAMPLE, "live.yaml")
    changed = playbook.with_changes(
        [
            ParameterChange("volatile", "confidence_threshold", 0.8),
            ParameterChange("default", "max_hold", pd.Timedelta(hours=36)),
        ]
    )
    assert changed_lines(EXAMPLE, changed.text) == [
        "-  max_hold: 48h               # duration or empty/null = no limit",
        "+  max_hold: 36h               # duration or empty/null = no limit",
        "-    confidence_threshold: 0.85",
        "+    confidence_threshold: 0.8",
    ]
    assert changed.parameters_for("volatile").confidence_threshold == 0.8
    assert changed.default.max_hold == pd.Timedelta(hours=36)
    assert changed.source == "live.yaml"
    assert playbook.text == EXAMPLE


def test_with_changes_appends_keys_and_regime_blocks_above_trailing_comments() -> None:
    changed = parse_playbook(EXAMPLE).with_changes(
        [
            ParameterChange("volatile", "stop_loss", 0.03),
            ParameterChange("ranging", "leverage", 1.5),
        ]
    )
    assert changed_lines(EXAMPLE, changed.text) == [
        "+    stop_loss: 0.03",
        "+  ranging:",
        "+    leverage: 1.5",
    ]
    lines = changed.text.splitlines()
    assert lines.index("    stop_loss: 0.03") < lines.index("  # strategies below")
    assert changed.parameters_for("ranging").leverage == 1.5
    assert changed.parameters_for("volatile").stop_loss == 0.03


def test_with_changes_creates_the_regimes_section() -> None:
    text = DEFAULT_ONLY + "\n# weights follow\nstrategy_weights:\n  a: 1.0\n"
    changed = parse_playbook(text).with_changes([ParameterChange("trending_down", "leverage", 1.0)])
    assert changed_lines(text, changed.text) == ["+regimes:", "+  trending_down:", "+    leverage: 1.0"]
    assert list(YAML().load(changed.text)) == ["default", "regimes", "strategy_weights"]


def test_with_changes_writes_numbers_as_numbers() -> None:
    changed = parse_playbook(EXAMPLE).with_changes(
        [
            ParameterChange("trending_up", "leverage", 4),
            ParameterChange("default", "stop_loss", 0.015),
            ParameterChange("default", "position_size", 1),
        ]
    )
    data = YAML(typ="safe").load(changed.text)
    assert data["regimes"]["trending_up"]["leverage"] == 4
    assert isinstance(data["regimes"]["trending_up"]["leverage"], int)
    assert isinstance(data["default"]["stop_loss"], float)
    assert data["default"]["stop_loss"] == 0.015
    assert changed.default.position_size == 1.0


def test_with_changes_to_an_equal_value_keeps_the_text() -> None:
    playbook = parse_playbook(EXAMPLE)
    same = playbook.with_changes(
        [
            ParameterChange("default", "leverage", 2),
            ParameterChange("default", "max_hold", pd.Timedelta(days=2)),
        ]
    )
    assert same.text == EXAMPLE


def test_with_changes_can_remove_the_time_limit() -> None:
    changed = parse_playbook(EXAMPLE).with_changes([ParameterChange("trending_up", "max_hold", None)])
    assert changed.parameters_for("trending_up").max_hold is None
    assert changed.default.max_hold == pd.Timedelta(hours=48)


def test_with_changes_beyond_a_bound_raises_and_leaves_the_original() -> None:
    playbook = parse_playbook(EXAMPLE, "live.yaml")
    with pytest.raises(InputError) as info:
        playbook.with_changes(
            [ParameterChange("volatile", "leverage", 12.0), ParameterChange("volatile", "stop_loss", 0.01)]
        )
    (problem,) = info.value.problems
    assert problem.field == "regimes.volatile.leverage" and "bounds [1, 10]" in problem.message
    assert problem.file == "live.yaml"
    assert playbook.text == EXAMPLE
    assert playbook.parameters_for("volatile").leverage == 1.0


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (ParameterChange("sideways", "leverage", 1.0), "unknown regime"),
        (ParameterChange("volatile", "stoploss", 0.01), "did you mean 'stop_loss'"),
        (ParameterChange("volatile", "stop_loss", None), "must be a number"),
        (ParameterChange("volatile", "max_hold", 48.0), "pd.Timedelta"),
        (ParameterChange("volatile", "max_hold", pd.Timedelta(0)), "positive"),
        (ParameterChange("default", "confidence_threshold", 1.5), "out of range"),
    ],
)
def test_with_changes_rejects_bad_changes(change: ParameterChange, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        parse_playbook(EXAMPLE).with_changes([change])


def test_with_changes_keeps_four_space_indentation_and_crlf() -> None:
    text = DEFAULT_ONLY.replace("\n  ", "\n    ").replace("\n", "\r\n")
    changed = parse_playbook(text).with_changes([ParameterChange("default", "leverage", 3)])
    assert changed.text == text.replace("leverage: 2", "leverage: 3")


def test_with_changes_keeps_an_explicit_document_start() -> None:
    text = "# header\n---\n" + DEFAULT_ONLY
    changed = parse_playbook(text).with_changes([ParameterChange("default", "leverage", 3)])
    assert changed.text == text.replace("leverage: 2", "leverage: 3")


def test_every_parameter_can_be_changed() -> None:
    values = {
        "leverage": 5.0,
        "stop_loss": 0.05,
        "risk_reward_ratio": 3.0,
        "confidence_threshold": 0.6,
        "position_size": 0.2,
        "max_hold": pd.Timedelta(hours=12),
        "trailing_stop": True,
        "trailing_stop_positive": 0.01,
        "trailing_stop_positive_offset": 0.02,
        "minimal_roi": ((0, 0.05), (30, 0.02)),
        "minimal_roi_scale": 1.5,
    }
    assert set(values) == set(PARAMETERS)
    changed = parse_playbook(EXAMPLE).with_changes(ParameterChange("ranging", p, v) for p, v in values.items())
    assert changed.parameters_for("ranging") == RegimeParameters(**values)


# --- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (pd.Timedelta(hours=48), "48h"),
        (pd.Timedelta(minutes=90), "90m"),
        (pd.Timedelta(weeks=1), "168h"),
        (pd.Timedelta(seconds=45), "45s"),
        (pd.Timedelta(milliseconds=1500), "1.5s"),
        (None, ""),
    ],
)
def test_format_duration_is_the_inverse_of_parse_duration(td: pd.Timedelta | None, text: str) -> None:
    assert format_duration(td) == text
    assert parse_duration(text) == td


def test_format_duration_rejects_non_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        format_duration(pd.Timedelta(0))


WEIGHTED = """\
default:
  leverage: 2.0
  stop_loss: 0.02
  risk_reward_ratio: 2.0
  confidence_threshold: 0.7
  position_size: 0.1
  max_hold: 48h
strategy_weights:   # how much margin each strategy gets
  momentum: 1.0     # the trend follower
  mean_reversion: 0.5
"""


def test_strategy_weight_changes_keep_comments_and_add_missing_strategies() -> None:
    changed = parse_playbook(WEIGHTED).with_changes(
        [
            ParameterChange(STRATEGY_WEIGHTS, "momentum", 1.3),
            ParameterChange(STRATEGY_WEIGHTS, "breakout", 0.2),
        ]
    )
    assert changed.strategy_weight("momentum") == 1.3
    assert changed.strategy_weight("mean_reversion") == 0.5
    assert changed.strategy_weight("breakout") == 0.2
    assert "# the trend follower" in changed.text and "# how much margin each strategy gets" in changed.text
    assert "momentum: 1.3" in changed.text


def test_strategy_weights_section_is_created_when_missing() -> None:
    text = WEIGHTED.split("strategy_weights:")[0] + "bounds:\n  leverage: [1, 5]\n"
    changed = parse_playbook(text).with_changes([ParameterChange(STRATEGY_WEIGHTS, "momentum", 0.8)])
    assert changed.strategy_weight("momentum") == 0.8
    assert changed.text.index("strategy_weights:") < changed.text.index("bounds:")


@pytest.mark.parametrize("weight", [-0.1, "heavy"])
def test_bad_strategy_weights_are_refused(weight: object) -> None:
    playbook = parse_playbook(WEIGHTED)
    with pytest.raises(InputError, match=r"strategy_weights\.momentum.*>= 0"):
        playbook.with_changes([ParameterChange(STRATEGY_WEIGHTS, "momentum", weight)])  # type: ignore[arg-type]


# --- the ROI table --------------------------------------------------------------------------------

ROI = (
    DEFAULT_ONLY
    + "  minimal_roi:\n    0: 0.04\n    '20': 0.02\n    40: 0.0\nregimes:\n  volatile:\n    minimal_roi_scale: 2\n"
)


def test_a_roi_table_reads_as_sorted_steps_with_numeric_text_keys() -> None:
    playbook = parse_playbook(ROI.replace("    0: 0.04\n", "").replace("    40: 0.0\n", "    40: 0.0\n    0: 0.04\n"))
    assert playbook.default.minimal_roi == ((0, 0.04), (20, 0.02), (40, 0.0))
    assert playbook.default.minimal_roi_scale == 1.0
    assert playbook.parameters_for("volatile").minimal_roi_scale == 2.0
    assert parse_playbook(DEFAULT_ONLY).default.minimal_roi is None


@pytest.mark.parametrize(
    ("step", "field", "message"),
    [
        ("    -5: 0.1\n", "default.minimal_roi.-5", "minimal_roi step -5: minutes since entry must be >= 0"),
        ("    '0': 0.1\n", "default.minimal_roi.0", "minimal_roi gives minute 0 twice"),
        ("    10: abc\n", "default.minimal_roi.10", "profit ratio must be a finite number, got text 'abc'"),
        ("    10: .inf\n", "default.minimal_roi.10", "profit ratio must be a finite number"),
        ("    1.5: 0.1\n", "default.minimal_roi.1.5", "minutes must be a whole number >= 0"),
    ],
)
def test_a_bad_roi_step_is_named_with_its_line(step: str, field: str, message: str) -> None:
    problem = only_problem(ROI.replace("    40: 0.0\n", step))
    assert (problem.field, problem.row) == (field, 11)
    assert message in problem.message


def test_a_roi_table_has_at_most_16_steps_and_must_be_a_mapping() -> None:
    steps = "".join(f"    {minute}: 0.01\n" for minute in range(17))
    problem = only_problem(DEFAULT_ONLY + "  minimal_roi:\n" + steps)
    assert (problem.field, problem.row) == ("default.minimal_roi", 8)
    assert "has 17 steps; at most 16" in problem.message
    assert "a mapping of minutes since entry" in only_problem(DEFAULT_ONLY + "  minimal_roi: 0.04\n").message


def test_the_roi_scale_is_bounded_and_a_table_takes_no_bounds() -> None:
    assert "outside the bounds [0.25, 4]" in only_problem(ROI.replace("scale: 2", "scale: 5")).message
    problem = only_problem("bounds:\n  minimal_roi: [0, 1]\n" + DEFAULT_ONLY)
    assert problem.message.startswith("minimal_roi takes no bounds")


def test_an_empty_risk_reward_ratio_is_no_take_profit_but_must_be_written() -> None:
    playbook = parse_playbook(DEFAULT_ONLY.replace("risk_reward_ratio: 2.0", "risk_reward_ratio:"))
    assert playbook.default.risk_reward_ratio is None
    missing = only_problem(DEFAULT_ONLY.replace("  risk_reward_ratio: 2.0\n", ""))
    assert missing.message.startswith("missing risk_reward_ratio;")


def test_a_roi_scale_change_and_a_table_are_written_back_keeping_the_rest() -> None:
    playbook = parse_playbook(ROI)
    scaled = playbook.with_changes([ParameterChange("volatile", "minimal_roi_scale", 1.5)])
    assert changed_lines(ROI, scaled.text) == ["-    minimal_roi_scale: 2", "+    minimal_roi_scale: 1.5"]
    table = ((0, 0.1), (30, 0.05))
    written = playbook.with_changes([ParameterChange("trending_up", "minimal_roi", table)])
    assert written.parameters_for("trending_up").minimal_roi == table
    assert "  trending_up:\n    minimal_roi:\n      0: 0.1\n      30: 0.05\n" in written.text
    assert written.text.startswith(ROI.split("regimes:")[0])
    same = playbook.with_changes([ParameterChange("default", "minimal_roi", ((20, 0.02), (0, 0.04), (40, 0.0)))])
    assert same.text == ROI  # the same table, as written: nothing to rewrite
