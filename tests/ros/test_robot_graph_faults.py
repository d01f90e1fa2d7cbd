"""Fault injection through real rclpy against the real-robot graph with the sim arm behind the
controller interface (config/rollout_robot_sim.yaml): what reaches the arm's controllers, and
what the arm does, when the inference server dies or a chunk is late or malformed."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")

from ros_probe import Probe
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from roboalign.serving.process import ServerProcess
from roboalign_ros import qos
from roboalign_ros.conversions import seconds_to_duration, seconds_to_stamp
from roboalign_ros.graph import load_graph
from roboalign_ros.runner import GraphRunner
from roboalign_ros.sim_episodes import SimEpisodes

pytestmark = pytest.mark.ros
GRAPH = load_graph().source.parent / "rollout_robot_sim.yaml"
NAMES = ("joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "gripper")
CONTROLLER = "/arm_controller/joint_trajectory"
WATCHDOG = load_graph(GRAPH).node("safety").parameters["watchdog_timeout"]  # s
PERIOD = 1.0 / load_graph(GRAPH).node("safety").parameters["control_rate_hz"]  # s


class ControllerLog:
    """What the arm controller receives: (receive time on the probe's ROS clock, 6 positions)."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.messages = probe.subscribe(JointTrajectory, CONTROLLER, qos.COMMAND)
        self.times: list[float] = []
        self._seen = 0

    def now(self) -> float:
        return self.probe.node.get_clock().now().nanoseconds * 1e-9

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.probe.executor.spin_once(timeout_sec=0.005)
            while self._seen < len(self.messages):
                self.times.append(self.now())
                self._seen += 1

    def between(self, t0: float, t1: float = np.inf) -> np.ndarray:
        return np.array([list(m.points[0].positions) for m, t in zip(self.messages, self.times) if t0 <= t < t1])


def hold_still(commands: np.ndarray, atol: float = 1e-9) -> bool:
    return len(commands) > 0 and float(np.abs(commands - commands[0]).max()) <= atol


# ---- a graph without the policy node: the test publishes the chunks ----------------------------
class ChunkRig:
    def __init__(self, domain_id: int) -> None:
        self.runner = GraphRunner(load_graph(GRAPH), only=("sim", "executor", "safety", "controller_bridge"),
                                  domain_id=domain_id, overrides={"sim": {"camera_rate_hz": 2.0}}).start()
        self.sim = self.runner.node("sim")
        self.executor = self.runner.node("executor")
        self.probe = Probe(self.runner.context)
        self.log = ControllerLog(self.probe)
        self.chunks = self.probe.publisher(JointTrajectory, "/policy/chunk", qos.COMMAND)
        deadline = time.monotonic() + 15.0
        while not self.log.messages:  # the safety node initialised and holds; the bridge forwards it
            assert time.monotonic() < deadline, "no hold command reached the arm controller"
            self.log.spin(0.05)
        self.log.spin(0.3)
        self.q0 = self.arm()

    def arm(self) -> np.ndarray:
        with self.runner.paused():
            return self.sim.arm.joint_positions()

    def publish(self, actions: np.ndarray, start: float, dt: float = 0.1, names=NAMES) -> None:
        """A chunk as the policy node sends it, built by hand so it can be wrong on purpose."""
        msg = JointTrajectory()
        msg.header.stamp = seconds_to_stamp(start)
        msg.joint_names = list(names)
        msg.points = [JointTrajectoryPoint(positions=[float(v) for v in row], time_from_start=seconds_to_duration(k * dt))
                      for k, row in enumerate(np.asarray(actions, dtype=float))]
        self.chunks.publish(msg)

    def close(self) -> None:
        self.probe.close()
        self.runner.shutdown()


@pytest.fixture
def chunk_rig(ros_domain_id):
    rig = ChunkRig(ros_domain_id)
    yield rig
    rig.close()


def test_a_chunk_whose_timesteps_are_all_past_is_never_executed(chunk_rig):
    rig = chunk_rig
    now = rig.log.now()
    rig.publish(np.repeat(rig.q0[None], 30, 0), start=now)  # playing: hold where the arm is, for 3 s
    rig.log.spin(0.4)
    far = rig.q0 + np.array([0.4, -0.3, 0.3, 0.0, 0.3, 0.0, 0.0])
    mark = rig.log.now()
    rig.publish(np.repeat(far[None], 10, 0), start=mark - 2.0)  # ended 1.1 s before it was sent
    rig.log.spin(1.0)
    stats = rig.executor.stats()
    assert stats["dropped"] == 1 and stats["accepted"] == 1
    after = rig.log.between(mark)
    assert len(after) >= 30 and np.abs(after - rig.q0[:6]).max() < 1e-6  # the controller never saw a step of it
    assert np.abs(rig.arm() - rig.q0).max() < 0.01


@pytest.mark.parametrize("fault", ["nan", "inf", "six_joint_names", "eight_positions"])
def test_a_chunk_with_nan_inf_or_the_wrong_joint_count_is_rejected_and_the_arm_holds(chunk_rig, fault):
    rig = chunk_rig
    rig.publish(np.repeat(rig.q0[None], 40, 0), start=rig.log.now())  # playing: hold, 4 s
    rig.log.spin(0.4)
    bad = np.repeat((rig.q0 + 0.3)[None], 10, 0)
    names = NAMES
    if fault == "nan":
        bad[4, 2] = np.nan
    elif fault == "inf":
        bad[7, 0] = np.inf
    elif fault == "six_joint_names":
        bad, names = bad[:, :6], NAMES[:6]
    else:
        bad = np.concatenate([bad, bad[:, :1]], axis=1)  # 8 positions for the 7 joints named
    mark = rig.log.now()
    rig.publish(bad, start=mark + 0.05, names=names)
    rig.log.spin(1.2)
    stats = rig.executor.stats()
    assert stats["rejected"] + stats["malformed"] == 1 and stats["accepted"] == 1
    after = rig.log.between(mark)
    assert len(after) >= 40 and np.abs(after - rig.q0[:6]).max() < 1e-6
    assert np.abs(rig.arm() - rig.q0).max() < 0.01
    # the graph is still live: a good chunk moves the arm
    rig.publish(np.repeat((rig.q0 + np.array([0.15, 0, 0, 0, 0, 0, 0]))[None], 20, 0), start=rig.log.now() + 0.05)
    rig.log.spin(1.0)
    assert rig.arm()[0] - rig.q0[0] > 0.1


# ---- the whole graph with a served policy ---------------------------------------------------------
def test_when_the_server_is_killed_mid_episode_the_arm_holds_and_resumes_only_with_a_new_chunk(
        ros_domain_id, free_tcp_endpoint):
    """The arm stops at the end of the last chunk it got: its commands are still within one
    watchdog period of that end; it stays still while the server is down; nothing moves after
    the server is back until a new chunk has arrived, and then the arm moves again."""
    # The push task (several seconds of motion) so that the first chunk alone cannot finish it;
    # the scripted expert needs the privileged object positions, hence simulation: true.
    overrides = {"policy": {"endpoint": free_tcp_endpoint, "simulation": True, "request_timeout": 0.3},
                 "sim": {"camera_rate_hz": 10.0, "task_family": "push"}}
    server = ServerProcess(policy="expert", bind=free_tcp_endpoint).start()
    try:
        with GraphRunner(load_graph(GRAPH), overrides=overrides, domain_id=ros_domain_id) as runner:
            probe = Probe(runner.context)
            log = ControllerLog(probe)
            chunks: list[JointTrajectory] = []
            chunk_times: list[float] = []  # when each chunk reached the probe (the executor gets it in parallel)

            def on_chunk(msg: JointTrajectory) -> None:
                chunks.append(msg)
                chunk_times.append(log.now())
            probe.node.create_subscription(JointTrajectory, "/policy/chunk", on_chunk, qos.COMMAND)
            episodes = SimEpisodes(runner)
            episodes.wait_ready(timeout_s=30.0)
            episodes.reset(seed=4)
            deadline = time.monotonic() + 20.0
            while not chunks:
                assert time.monotonic() < deadline, "no chunk from the served policy"
                log.spin(0.02)
            log.spin(0.2)  # mid-episode: the arm is on its way
            os.kill(server.pid, signal.SIGKILL)
            server.stop()
            killed = log.now()
            n_before = len(chunks)
            log.spin(0.3)  # a chunk already in flight may still land
            executor = runner.node("executor")
            with executor._lock:  # where the executor's plan of the last chunk ends (cubic plans may
                end = executor.chunks.plan_end  # be stretched into the limits, so not the chunk's own end)
            assert end is not None
            held_from = end + WATCHDOG + 2 * PERIOD
            log.spin(max(0.0, held_from - log.now()) + 1.5)
            assert len(chunks) <= n_before + 1 and held_from > killed
            held = log.between(held_from)
            assert len(held) >= 50 and hold_still(held)                      # still, within a watchdog period
            assert runner.node("executor").stats()["starved"] > 0            # the executor held its last point

            server = ServerProcess(policy="expert", bind=free_tcp_endpoint).start()
            n_down = len(chunks)
            while len(chunks) == n_down:
                assert time.monotonic() < deadline + 60.0, "no chunk after the server came back"
                log.spin(0.01)
            first_new = chunk_times[n_down]
            assert hold_still(log.between(held_from, first_new))             # no motion before the new chunk
            log.spin(1.0)
            moved = log.between(first_new)
            assert not runner.node("sim").success
            assert np.abs(moved - held[0]).max() > 0.01                      # and it moves again after it
            probe.close()
            assert runner.errors == []
    finally:
        server.stop()
