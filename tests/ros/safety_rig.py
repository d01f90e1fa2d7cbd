"""The safety node alone, driven through its topics by a probe that plays the executor and the arm."""
from __future__ import annotations

import time

import numpy as np
from ros_probe import Probe
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from roboalign.sim.arm import sim_robot_spec
from roboalign_ros import qos
from roboalign_ros.conversions import command_from_trajectory, command_to_trajectory, joint_state_msg
from roboalign_ros.graph import load_graph
from roboalign_ros.runner import GraphRunner

SPEC = sim_robot_spec()
NAMES = SPEC.joint_names
Q0 = np.array([0.0, 0.3, 1.2, 0.0, 1.6, 0.0, 0.0])


class SafetyRig:
    """The safety node alone + a probe that plays the executor and an ideal arm: while the
    probe spins, it reports at 100 Hz that the joints are exactly where they were last
    commanded (Q0 before any command)."""

    def __init__(self, domain_id: int, **params) -> None:
        self.runner = GraphRunner(load_graph(), only=("safety",), domain_id=domain_id,
                                  overrides={"safety": params}).start()
        self.node = self.runner.node("safety")
        self.probe = Probe(self.runner.context)
        self.out = self.probe.subscribe(JointTrajectory, "/arm/command", qos.COMMAND)
        self.joints = self.probe.publisher(JointState, "/joint_states", qos.SENSOR)
        self.commands = self.probe.publisher(JointTrajectory, "/arm/command_raw", qos.COMMAND)
        self.probe.node.create_timer(0.01, self._report_joints)

    def now(self):
        return self.probe.node.get_clock().now().to_msg()

    def _report_joints(self) -> None:
        q = command_from_trajectory(self.out[-1], NAMES) if self.out else Q0
        self.joints.publish(joint_state_msg(NAMES, q, None, self.now()))

    def initialise(self) -> None:
        self.probe.spin_until(lambda: bool(self.out), 10.0, "the safety node's first /arm/command")

    def send(self, q, seconds: float) -> None:
        """Stream command q (array or callable of time) at 50 Hz for `seconds`."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            value = q() if callable(q) else q
            self.commands.publish(command_to_trajectory(value, NAMES, self.now(), 0.02))
            self.probe.spin_for(0.02)

    def outputs(self, since: int = 0) -> np.ndarray:
        return np.array([command_from_trajectory(m, NAMES) for m in self.out[since:]])

    def close(self) -> None:
        self.probe.close()
        self.runner.shutdown()


