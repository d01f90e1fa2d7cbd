"""The whole deployment path: inference server process (ZMQ) + the ROS 2 graph + MuJoCo arm."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")

from roboalign.cli import main
from roboalign.serving.process import ServerProcess
from roboalign_ros.graph import load_graph
from roboalign_ros.runner import GraphRunner
from roboalign_ros.sim_episodes import SimEpisodes

pytestmark = pytest.mark.ros


def test_scripted_expert_succeeds_through_server_and_ros_nodes(ros_domain_id, free_tcp_endpoint):
    with ServerProcess(policy="expert", bind=free_tcp_endpoint) as server:
        overrides = {"policy": {"endpoint": server.endpoint}}  # privileged inputs: the expert lists them
        with GraphRunner(load_graph(), overrides=overrides, domain_id=ros_domain_id) as runner:
            episodes = SimEpisodes(runner)
            episodes.wait_ready(timeout_s=30.0)
            outcome = episodes.run(seed=0, max_seconds=20.0)
            latency = episodes.latency_ms()
            errors = list(runner.errors)
    assert outcome.success, outcome
    assert errors == []
    assert outcome.policy["chunks"] >= 2 and outcome.policy["errors"] == 0
    assert outcome.executor["accepted"] >= 2 and outcome.executor["rejected"] == 0
    assert outcome.safety["rejected"] == 0 and outcome.safety["estopped"] == 0
    assert latency["observation->chunk"] and latency["command->arm"]
    assert np.median(latency["command->arm"]) < 100.0  # ms; ~3 ms measured on 2 busy cores


def test_rollout_command_writes_the_summary_json(ros_domain_id, tmp_path, capsys):
    out = tmp_path / "rollout.json"
    code = main(["rollout", "--sim", "--episodes", "1", "--seed", "1", "--json", str(out),
                 "--domain-id", str(ros_domain_id)])
    summary = json.loads(out.read_text())
    assert code == 0, summary.get("node_errors")
    assert summary["episodes"] == 1 and summary["successes"] == 1 and summary["success_rate"] == 1.0
    for stage in ("server_infer", "observation->chunk", "command->arm"):
        p = summary["latency_ms"][stage]
        assert p["p50"] is not None and p["p50"] <= p["p95"] <= p["p99"]
    # the policy call on the server is part of the observation -> chunk path
    assert summary["latency_ms"]["server_infer"]["p50"] <= summary["latency_ms"]["observation->chunk"]["p50"]
    assert summary["per_episode"][0]["seed"] == 1
    assert "1/1 succeeded" in capsys.readouterr().out


def test_when_server_is_down_expect_no_chunk_and_arm_held_still(ros_domain_id, free_tcp_endpoint):
    overrides = {"policy": {"endpoint": free_tcp_endpoint, "request_timeout": 0.2}}
    with GraphRunner(load_graph(), overrides=overrides, domain_id=ros_domain_id) as runner:
        sim = runner.node("sim")
        episodes = SimEpisodes(runner)
        episodes.reset(seed=2)
        with runner.paused():
            start = sim.arm.joint_positions()
        time.sleep(1.5)
        with runner.paused():
            end = sim.arm.joint_positions()
        executor_stats = runner.node("executor").stats()
        assert not runner.node("policy").connected
        assert runner.errors == []
    assert executor_stats["accepted"] == 0 and executor_stats["published"] == 0
    assert np.abs(end - start).max() < 0.02  # rad: the arm just holds its pose


def test_policy_node_skips_calls_on_stale_inputs_and_counts_them(ros_domain_id, free_tcp_endpoint):
    """The node assembles observations with control/observation.py: with a 20 ms age limit the
    10 Hz camera frames are mostly too old, so most tries are refused (and counted as stale)."""
    with ServerProcess(policy="expert", bind=free_tcp_endpoint) as server:
        overrides = {"policy": {"endpoint": server.endpoint, "max_observation_age": 0.02}}
        with GraphRunner(load_graph(), overrides=overrides, domain_id=ros_domain_id) as runner:
            episodes = SimEpisodes(runner)
            episodes.wait_ready(timeout_s=30.0)
            episodes.reset(seed=3)
            time.sleep(1.5)
            counts = dict(runner.node("policy").counts)
            errors = list(runner.errors)
    assert errors == []
    assert counts["skipped_stale_input"] > counts["calls"]
    assert counts["skipped_invalid_input"] == 0 and counts["errors"] == 0
