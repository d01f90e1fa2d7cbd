"""`roboalign eval sim --ros`: the evaluation suites through the ROS 2 graph (real rclpy, real
MuJoCo, a real inference server process), and the sim node's `eval_suite` building the same
scene for a seed as the direct loop's EvalArm."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("rclpy")

from roboalign.cli import main
from roboalign.errors import ConfigError
from roboalign.eval.scene import EvalArm
from roboalign.eval.suites import draw_variant
from roboalign_ros.graph import load_graph
from roboalign_ros.runner import GraphRunner

pytestmark = pytest.mark.ros


def test_expert_through_the_graph_writes_the_eval_files_and_succeeds(ros_domain_id, tmp_path, capsys):
    out = tmp_path / "ros"
    code = main(["eval", "sim", "--ros", "--policy", "expert", "--suite", "distractors", "--episodes", "2",
                 "--seed", "10000", "--out", str(out), "--quiet"])
    assert code == 0
    for name in ("results.jsonl", "summary.json", "report.md"):
        assert (out / name).is_file(), name
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["suite"], r["seed"], r["success"]) for r in records] == [("distractors", 10000, True),
                                                                       ("distractors", 10001, True)]
    for r in records:  # the variant the direct loop records for that seed
        assert r["variant"] == draw_variant("distractors", r["seed"]).to_dict()
        assert r["policy_calls"] >= 1 and r["infer_all_ms"] and r["steps"] > 0 and r["closest_mm"] < 30.0
    summary = json.loads((out / "summary.json").read_text())
    assert "ROS 2 graph" in summary["path"] and summary["config"]["ros"] is True
    assert summary["suites"]["distractors"]["successes"] == 2
    for stage in ("server_infer", "observation->chunk", "command->arm"):
        assert summary["graph_latency_ms"][stage]["n"] > 0
    assert "--ros" in (out / "report.md").read_text()
    assert "2/2" in capsys.readouterr().out


@pytest.mark.parametrize("suite", ["distractors", "colour_lighting", "camera_pose"])
def test_the_sim_node_builds_the_direct_loops_scene_for_a_seed(ros_domain_id, suite):
    """Same seed, same suite: the same block and distractor poses, colours, lights and camera as
    the direct loop's EvalArm."""
    overrides = {"sim": {"eval_suite": suite}}
    direct = EvalArm(suite, cameras=())
    try:
        with GraphRunner(load_graph(), only=("sim",), overrides=overrides, domain_id=ros_domain_id) as runner:
            node = runner.node("sim")
            for seed in (10000, 10001):
                with runner.paused():  # no physics tick between the reset and the reading
                    instruction = node.reset(seed)
                    ros_arm = node.arm
                    info = direct.reset(seed)
                    assert instruction == info.instruction
                    assert ros_arm.variant == direct.variant
                    np.testing.assert_array_equal(ros_arm.data.qpos, direct.data.qpos)
                    for field in ("geom_rgba", "mat_rgba", "light_diffuse", "light_dir", "cam_pos", "cam_quat",
                                  "cam_fovy"):
                        np.testing.assert_array_equal(getattr(ros_arm.model, field), getattr(direct.model, field))
    finally:
        direct.close()


def test_an_unknown_eval_suite_is_refused_by_name(ros_domain_id):
    with pytest.raises((ConfigError, ValueError), match="eval_suite 'distractor'"):
        GraphRunner(load_graph(), only=("sim",), overrides={"sim": {"eval_suite": "distractor"}},
                    domain_id=ros_domain_id).start()


def test_parallel_workers_with_ros_are_refused_in_one_line(tmp_path, capsys):
    code = main(["eval", "sim", "--ros", "--workers", "2", "--episodes", "1", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--workers 2 with --ros" in err
