"""The rollout command's summary and its --set parsing (pure: no ROS needed)."""
from __future__ import annotations

import pytest

from roboalign.errors import ConfigError
from roboalign_ros.rollout_cli import parse_sets
from roboalign_ros.rollout_summary import format_summary, percentiles, summarize


def episode(seed, success, limited=0):
    return {"seed": seed, "success": success, "max_correction_rad": 0.01 * seed,
            "safety": {"limited": limited, "clamped": 0, "rejected": 0, "hold": 1, "estopped": 0, "watchdog_trips": 0}}


def test_summary_has_the_required_fields_and_counts():
    s = summarize([episode(0, True, 3), episode(1, False, 2)], {"command->arm": [1.0, 2.0, 3.0]}, 12.0, "expert", 42)
    assert (s["episodes"], s["successes"], s["success_rate"]) == (2, 1, 0.5)
    assert s["latency_ms"]["command->arm"]["p50"] == 2.0 and s["latency_ms"]["command->arm"]["n"] == 3
    assert s["latency_ms"]["observation->chunk"]["p50"] is None  # no samples: None, not a crash
    assert s["safety_interventions"]["limited"] == 5 and s["max_safety_correction_rad"] == 0.01
    text = format_summary(s)
    assert "1/2 succeeded (50 %)" in text and "command -> arm" in text and "observation -> command" not in text
    assert "failed seeds: 1" in text  # the seed to replay, on its own line


def test_percentiles_of_known_samples():
    p = percentiles(list(range(101)))
    assert (p["p50"], p["p95"], p["p99"], p["max"], p["n"]) == (50.0, 95.0, 99.0, 100.0, 101)


def test_parameter_overrides_parse_yaml_values_and_refuse_bad_syntax():
    assert parse_sets(["policy.replan_period=0.3", "sim.cameras=[front, wrist]"]) == {
        "policy": {"replan_period": 0.3}, "sim": {"cameras": ["front", "wrist"]}}
    with pytest.raises(ConfigError, match="NODE.PARAM=VALUE"):
        parse_sets(["replan_period=0.3"])
    with pytest.raises(ConfigError, match="NODE.PARAM=VALUE"):
        parse_sets(["safety.limits.velocity=1"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_sets(["safety.watchdog_timeout"])
