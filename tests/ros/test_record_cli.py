"""`roboalign record --sim`: the scripted expert through the ROS graph, recorded into MCAP episodes."""
from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest

pytest.importorskip("rclpy")

from roboalign.cli import ENTRY_POINT_GROUP, main
from roboalign.data.recording_reader import find_recordings, load_recording, read_recording
from roboalign_ros.graph import default_graph_path, load_graph
from roboalign_ros.record_cli import recording_graph

pytestmark = pytest.mark.ros


@pytest.fixture
def record_command(monkeypatch):
    """`roboalign record` as the installed package offers it (setup.py's entry point), also in a
    venv whose editable install predates the entry point."""
    original = importlib.metadata.entry_points
    points = [ep for ep in original(group=ENTRY_POINT_GROUP) if ep.name != "record"]
    points.append(importlib.metadata.EntryPoint("record", "roboalign_ros.record_cli", ENTRY_POINT_GROUP))
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda **kwargs: points if kwargs.get("group") == ENTRY_POINT_GROUP else original(**kwargs))


def test_record_sim_records_expert_episodes_that_load_with_success_set(record_command, ros_domain_id, tmp_path, capsys):
    out = tmp_path / "demos"
    code = main(["record", "--sim", "--episodes", "2", "--seed", "3", "--out", str(out), "--operator", "ana",
                 "--notes", "ci", "--domain-id", str(ros_domain_id), "--max-seconds", "15"])
    printed = capsys.readouterr().out
    assert code == 0 and "2 episode file(s)" in printed
    paths = find_recordings(out)
    assert [p.name for p in paths] == ["episode_000000.mcap", "episode_000001.mcap"]
    for seed, path in enumerate(paths, start=3):
        episode = load_recording(path)
        assert episode.success is True and episode.metadata["outcome"] == "success"
        assert episode.metadata["seed"] == seed and episode.metadata["operator"] == "ana"
        assert episode.metadata["driver"] == "expert" and episode.metadata["robot"]
        task = episode.metadata["task"]  # /task/info of the sim node: the shape `sim demos` folders carry
        assert (task["seed"], task["family"], task["instruction"]) == (seed, "touch", episode.instruction)
        assert len(episode) >= 5 and episode.dt == pytest.approx(0.1)
        assert episode.images["front"].shape[1:] == (128, 128, 3) and episode.images["front"].std() > 0
        assert f"seed {seed}: success" in printed and repr(episode.instruction) in printed  # the sim's own
        assert np.isfinite(episode.joint_positions).all() and np.isfinite(episode.actions).all()
        topics = set(read_recording(path).messages)
        assert {"/joint_states", "/arm/command_raw", "/arm/command", "/camera/front/image_raw",
                "/task/instruction", "/task/info", "/sim/success", "/safety/stopped"} <= topics


def test_teleop_without_the_teleop_node_is_refused_in_one_line(record_command, tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "roboalign_ros.teleop_node" else real(name, *a))
    assert main(["record", "--sim", "--driver", "teleop", "--out", str(tmp_path)]) == 2
    assert "needs the teleop node (roboalign_ros.teleop_node:TeleopNode)" in capsys.readouterr().err


def test_the_expert_on_a_real_robot_is_refused(record_command, tmp_path, capsys):
    assert main(["record", "--out", str(tmp_path), "--graph", "rollout_robot.yaml"]) == 2
    assert "the scripted expert needs the simulator" in capsys.readouterr().err


def test_teleop_on_an_arm_graph_drives_with_that_arms_robot_spec():
    graph = recording_graph(load_graph(default_graph_path("rollout_robot_fr3")), "teleop")
    names = {n.name for n in graph.nodes}
    assert "teleop" in names and not {"policy", "executor"} & names
    assert graph.node("teleop").parameters["robot"] == graph.node("safety").parameters["robot"] == "configs/robots/fr3.yaml"
    assert graph.node("recorder").parameters["robot"] == "configs/robots/fr3.yaml"


def test_any_graph_gets_the_recorder_with_its_safety_nodes_robot(tmp_path):
    graph = recording_graph(load_graph(default_graph_path("rollout_robot_sim")), "expert")
    recorder = graph.node("recorder")
    assert recorder.node_class == "roboalign_ros.recorder_node:RecorderNode"
    assert recorder.parameters["robot"] == graph.node("safety").parameters["robot"]
    assert load_graph(default_graph_path("record_sim")).node("recorder") == recording_graph(
        load_graph(default_graph_path("record_sim")), "expert").node("recorder")
