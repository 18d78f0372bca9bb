"""ScoringConfig: loadable from a TOML table; bad values are refused with the key and range."""

from __future__ import annotations

import attrs
import pytest

from mutuality_core import ConfigError, ScoringConfig


def test_defaults_round_trip_through_a_mapping():
    config = ScoringConfig()
    assert ScoringConfig.from_mapping(config.to_dict()) == config


def test_from_toml_reads_the_scoring_table():
    text = """
    [scoring]
    half_life_days = 30
    reply_window_days = 3.5
    initiation_weight = 5

    [adapters.files]
    path = "crm"
    """
    config = ScoringConfig.from_toml(text)
    assert config.half_life_days == 30
    assert config.reply_window_days == 3.5
    assert config.initiation_weight == 5
    assert config.quiet_gap_days == ScoringConfig().quiet_gap_days


def test_from_toml_without_the_table_gives_defaults_and_other_tables_can_be_named():
    assert ScoringConfig.from_toml("") == ScoringConfig()
    config = ScoringConfig.from_toml(
        "[teams.sales.scoring]\nhalf_life_days = 60\n", "teams.sales.scoring"
    )
    assert config.half_life_days == 60


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("half_life_days", 0, r"scoring\.half_life_days must be in \[0\.01, 3650\]"),
        ("half_life_days", -3, r"scoring\.half_life_days must be in \[0\.01, 3650\]"),
        ("half_life_days", 5e-324, r"scoring\.half_life_days must be in \[0\.01, 3650\]"),
        ("credits_per_observation", 1e-300, r"credits_per_observation must be in \[0\.01,"),
        ("mutual_min_probability", 1.5, r"scoring\.mutual_min_probability must be in \[0, 1\]"),
        ("balance_ratio", 1, r"scoring\.balance_ratio must be in \(1, 100\]"),
        ("effort_weight", "heavy", r"scoring\.effort_weight must be a number"),
        ("reply_window_days", True, r"scoring\.reply_window_days must be a number"),
        ("recent_conversations", 2.5, r"scoring\.recent_conversations must be a whole number"),
        ("recent_conversations", 0, r"scoring\.recent_conversations must be in \[1, 1000\]"),
        ("confidence_evidence", float("nan"), r"scoring\.confidence_evidence must be in"),
    ],
)
def test_out_of_range_values_name_the_key_and_the_allowed_range(key, value, message):
    with pytest.raises(ConfigError, match=message):
        ScoringConfig.from_mapping({key: value})


def test_unknown_keys_are_refused_with_the_allowed_ones():
    with pytest.raises(
        ConfigError, match=r"unknown scoring setting\(s\): half_life.*allowed: .*half_life_days"
    ):
        ScoringConfig.from_mapping({"half_life": 30})


def test_bad_toml_and_bad_table_shape_are_config_errors():
    with pytest.raises(ConfigError, match="invalid TOML"):
        ScoringConfig.from_toml("[scoring\nhalf_life_days = 3")
    with pytest.raises(ConfigError, match="table of settings"):
        ScoringConfig.from_toml("scoring = 3")
    with pytest.raises(ConfigError, match=r"scoring\.half_life_days must be in"):
        ScoringConfig.from_toml("[scoring]\nhalf_life_days = 0\n")


def test_config_is_frozen_and_validated_on_evolve():
    config = ScoringConfig()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.half_life_days = 3  # type: ignore[misc]
    with pytest.raises(ConfigError):
        attrs.evolve(config, quiet_gap_days=-1)


def test_settings_of_score_1_are_ignored_with_a_warning_not_refused(caplog):
    """A mutuality.toml written for 1.0 keeps a scheduled job running after the upgrade."""
    with caplog.at_level("WARNING", logger="mutuality_core.config"):
        config = ScoringConfig.from_mapping({"imbalance_tolerance": 4.5, "half_life_days": 60})
    assert config.half_life_days == 60
    assert "scoring.imbalance_tolerance is no longer used and is ignored" in caplog.text


def test_the_one_sided_threshold_must_be_below_the_mutual_one():
    with pytest.raises(ConfigError, match="one_sided_max_probability must be below"):
        ScoringConfig(one_sided_max_probability=0.9, mutual_min_probability=0.8)
