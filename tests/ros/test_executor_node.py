"""The executor node in a real rclpy graph, driven only through its topics: commands on the tick
grid, the first chunk joining from the measured joints, a late chunk's past steps never sent."""
from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from ros_probe import Probe  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from roboalign.core.action import ActionChunk  # noqa: E402
from roboalign.errors import ConfigError  # noqa: E402
from roboalign.sim.arm import sim_robot_spec  # noqa: E402
from roboalign_ros import qos  # noqa: E402
from roboalign_ros.conversions import (  # noqa: E402
    chunk_to_trajectory,
    command_from_trajectory,
    joint_state_msg,
    stamp_to_seconds,
)
from roboalign_ros.graph import load_graph  # noqa: E402
from roboalign_ros.runner import GraphRunner  # noqa: E402

pytestmark = pytest.mark.ros
SPEC = sim_robot_spec()
NAMES = SPEC.joint_names
Q0 = np.array([0.0, 0.3, 1.2, 0.0, 1.6, 0.0, 0.5])
PERIOD = 0.02


class ExecutorRig:
    """The executor node alone + a probe that plays the arm (joint states) and the policy."""

    def __init__(self, domain_id: int, **params) -> None:
        self.runner = GraphRunner(load_graph(), only=("executor",), domain_id=domain_id,
                                  overrides={"executor": params}).start()
        self.probe = Probe(self.runner.context)
        self.out = self.probe.subscribe(JointTrajectory, "/arm/command_raw", qos.COMMAND)
        self.joints = self.probe.publisher(JointState, "/joint_states", qos.SENSOR)
        self.chunks = self.probe.publisher(JointTrajectory, "/policy/chunk", qos.COMMAND)

    def now(self) -> float:
        return self.probe.node.get_clock().now().nanoseconds * 1e-9

    def measured(self, q: np.ndarray) -> None:
        """Publish the arm's joints until the executor has surely seen them."""
        for _ in range(10):
            self.joints.publish(joint_state_msg(NAMES, q, None, self.probe.node.get_clock().now().to_msg()))
            self.probe.spin_for(0.01)

    def send(self, chunk: ActionChunk) -> None:
        self.chunks.publish(chunk_to_trajectory(chunk, NAMES))

    def commands(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.array([stamp_to_seconds(m.header.stamp) for m in self.out]),
                np.array([command_from_trajectory(m, NAMES) for m in self.out]))

    def close(self) -> None:
        self.probe.close()
        self.runner.shutdown()


@pytest.fixture
def rig(ros_domain_id):
    r = ExecutorRig(ros_domain_id)
    yield r
    r.close()


def test_commands_are_stamped_on_the_control_period_grid_and_start_where_the_arm_is(rig):
    rig.measured(Q0)
    target = Q0 + np.array([0.3, -0.2, 0.2, 0.0, 0.0, 0.0, 0.3])
    rig.send(ActionChunk(np.repeat(target[None], 16, axis=0), start_time=rig.now(), dt=0.1))
    rig.probe.spin_until(lambda: len(rig.out) >= 60, 10.0, "60 commands")
    stamps, q = rig.commands()
    ticks = np.diff(stamps) / PERIOD
    np.testing.assert_allclose(ticks, np.round(ticks), atol=1e-4)   # whole periods, whatever the jitter
    assert np.all(np.round(ticks) >= 1)                               # each tick once, in order
    np.testing.assert_allclose(q[0], Q0, atol=2e-3)  # from the measured joints at rest (one tick into the join)
    velocity = np.diff(q, axis=0) / np.diff(stamps)[:, None]
    assert np.all(np.abs(velocity) <= 0.9 * SPEC.limits.max_velocity + 1e-6)


def test_a_late_chunks_past_steps_are_never_published(rig):
    rig.measured(Q0)
    now = rig.now()
    actions = np.repeat(Q0[None], 16, axis=0)
    actions[:4, 0] += 1.0        # what it wanted for its first 0.4 s: long past on arrival
    actions[4:, 0] += 0.1
    rig.send(ActionChunk(actions, start_time=now - 0.45, dt=0.1))
    rig.probe.spin_until(lambda: len(rig.out) >= 50, 10.0, "50 commands")
    _, q = rig.commands()
    assert q[:, 0].max() <= Q0[0] + 0.1 + 1e-9
    assert q[-1, 0] == pytest.approx(Q0[0] + 0.1, abs=1e-3)
    stats = rig.runner.node("executor").stats()
    assert stats["late"] == 1 and stats["past_points"] >= 4


def test_an_unknown_interpolation_is_refused_in_words(ros_domain_id):
    with pytest.raises(ConfigError, match="interpolation: must be one of cubic, linear, got 'spline'"):
        GraphRunner(load_graph(), only=("executor",), domain_id=ros_domain_id,
                    overrides={"executor": {"interpolation": "spline"}}).start()
