"""The rollout command's argument handling: typed --set values, readable failures."""
from __future__ import annotations

from roboalign.rollout import _match_declared_types, _overrides


def test_set_integer_for_a_float_parameter_is_passed_as_float():
    from roboalign_ros.graph import load_graph

    overrides = _overrides(["policy.request_timeout=5", "policy.max_observation_age=1", "safety.nonexistent=3"])
    _match_declared_types(load_graph(), overrides)
    assert overrides["policy"]["request_timeout"] == 5.0 and isinstance(overrides["policy"]["request_timeout"], float)
    assert overrides["safety"]["nonexistent"] == 3  # undeclared: left for the node to refuse


def test_when_policy_cannot_be_loaded_expect_one_readable_line_and_exit_1(tmp_path, ros_domain_id, capsys):
    from roboalign.cli import main

    code = main(["rollout", "--sim", "--policy", str(tmp_path / "no_such_checkpoint"), "--episodes", "1",
                 "--domain-id", str(ros_domain_id)])
    err = capsys.readouterr().err
    assert code == 1
    assert "roboalign rollout:" in err and "Traceback" not in err
