"""`roboalign rollout` mistakes: one line on stderr, a non-zero exit, no traceback, and no
inference server left behind. The first group is refused before anything starts."""
from __future__ import annotations

import pytest
from process_helpers import one_line, roboalign, server_pid, wait_gone

pytestmark = pytest.mark.ros


@pytest.mark.parametrize("args, says", [
    (["--max-seconds", "0"], "--max-seconds: must be greater than 0"),
    (["--min-success-rate", "2"], "--min-success-rate: must be between 0 and 1"),
    (["--episodes", "0"], "--episodes: must be at least 1"),
    (["--domain-id", "500"], "--domain-id: must be between 0 and 232"),
    (["--graph", "/nonexistent/graph.yaml"], "/nonexistent/graph.yaml: node graph not found"),
    (["--set", "safty.watchdog_timeout=1"], "did you mean safety?"),
    (["--set", "watchdog_timeout=1"], "expected NODE.PARAM=VALUE"),
])
def test_mistake_is_refused_in_one_line_before_anything_starts(args, says):
    result = roboalign("rollout", "--sim", *args, timeout=60)
    assert result.returncode == 2
    assert says in one_line(result.stderr)
    assert server_pid(result.stdout) is None  # refused before a server was started


def test_without_sim_says_what_to_run_on_a_robot():
    result = roboalign("rollout", timeout=60)
    assert result.returncode == 2
    assert "ros2 launch roboalign_ros rollout_robot.launch.py" in one_line(result.stderr)


def test_a_bad_ros_domain_id_in_the_environment_is_named():
    result = roboalign("rollout", "--sim", env={"ROS_DOMAIN_ID": "999"}, timeout=60)
    assert result.returncode == 2
    assert "ROS_DOMAIN_ID='999'" in one_line(result.stderr)


def assert_no_server_left(result) -> None:
    pid = server_pid(result.stdout)
    if pid is not None:
        assert wait_gone(pid, 15.0) is not None, f"inference server {pid} outlived the command"


def test_misspelt_set_parameter_is_refused_naming_the_closest_one(ros_domain_id):
    result = roboalign("rollout", "--sim", "--domain-id", str(ros_domain_id), "--set", "safety.watchdog_timeot=1")
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "--set safety.watchdog_timeot=1" in line and "did you mean watchdog_timeout?" in line
    assert_no_server_left(result)


def test_a_parameter_out_of_range_is_refused_with_its_range(ros_domain_id):
    result = roboalign("rollout", "--sim", "--domain-id", str(ros_domain_id), "--set", "safety.watchdog_timeout=100")
    assert result.returncode == 2
    assert "watchdog_timeout: must be between 0.01 and 10, got 100.0" in one_line(result.stderr)
    assert_no_server_left(result)


def test_misspelt_graph_parameter_is_refused_at_its_line_in_a_copied_graph(ros_domain_id, tmp_path):
    from roboalign_ros.graph import default_graph_path

    text = default_graph_path().read_text()
    assert "      watchdog_timeout: 0.25\n" in text
    graph = tmp_path / "my_graph.yaml"  # copied away from its fastdds_profile.xml
    graph.write_text(text.replace("      watchdog_timeout: 0.25\n", "      watchdog_timeot: 0.25\n"))
    line_no = graph.read_text().splitlines().index("      watchdog_timeot: 0.25") + 1
    result = roboalign("rollout", "--sim", "--domain-id", str(ros_domain_id), "--graph", str(graph))
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert f"{graph}:{line_no}:7: nodes.safety.parameters.watchdog_timeot" in line
    assert "did you mean watchdog_timeout?" in line
    assert_no_server_left(result)


def test_noop_policy_is_refused_quickly_and_truthfully(ros_domain_id):
    result = roboalign("rollout", "--sim", "--policy", "noop", "--domain-id", str(ros_domain_id), timeout=25)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    line = one_line(result.stderr)  # refused before any node starts: only the command's own line
    assert line.startswith("roboalign rollout: the served policy 'noop' declares no robot")
    assert "did not reach the server" not in result.stderr
    assert_no_server_left(result)


def test_policy_that_cannot_be_loaded_is_one_line_and_exit_1(ros_domain_id, tmp_path):
    result = roboalign("rollout", "--sim", "--policy", str(tmp_path / "no_such_checkpoint"),
                       "--domain-id", str(ros_domain_id))
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "did not start" in line and "unknown policy" in line


def test_rollout_below_min_success_rate_exits_1_and_says_why(ros_domain_id):
    result = roboalign("rollout", "--sim", "--episodes", "1", "--max-seconds", "0.3", "--min-success-rate", "0.5",
                       "--domain-id", str(ros_domain_id))
    assert result.returncode == 1
    assert "0/1 succeeded" in result.stdout
    assert "success rate 0 % (0/1) is below --min-success-rate 50 %" in one_line(result.stderr)
    assert_no_server_left(result)
