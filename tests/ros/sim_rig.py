"""The MuJoCo arm behind the safety node (and the executor), in real rclpy, for fault injection.

The sim node publishes its joint states on /sim/joint_states (a remapping); the test's probe
relays them to /joint_states and can freeze them (the same sample, stamp and all, again and
again) or block one joint (report it where it was, whatever it does): a frozen driver and a
blocked joint, seen exactly as the safety node would see them. The probe also plays the
executor (/arm/command_raw), the policy (/policy/chunk) and the driver's stop service.
The sim and the control nodes run in two runners, so the control side can be restarted while
the arm runs on.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
from ros_probe import Probe
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from roboalign.core.action import ActionChunk
from roboalign_ros import qos
from roboalign_ros.conversions import chunk_to_trajectory, command_from_trajectory, command_to_trajectory, node_now
from roboalign_ros.graph import load_graph
from roboalign_ros.runner import GraphRunner

DRIVER_STOP = "/test_driver/stop"
SIM = {"cameras": ["front"], "camera_rate_hz": 0.5, "objects_rate_hz": 1.0}


class SimRig:
    def __init__(self, domain_id: int, control: tuple[str, ...] = ("safety",), **safety) -> None:
        graph = load_graph()
        sim = dataclasses.replace(graph.node("sim"), remappings={"/joint_states": "/sim/joint_states"})
        self.graph = dataclasses.replace(graph, nodes=tuple(sim if n.name == "sim" else n for n in graph.nodes))
        self.domain_id, self.control_nodes, self.safety_params = domain_id, control, safety
        self.sim_runner = GraphRunner(self.graph, only=("sim",), domain_id=domain_id, overrides={"sim": SIM}).start()
        self.control: GraphRunner | None = None
        self.probe = Probe(self.sim_runner.context)
        self.arm: list[tuple[float, np.ndarray, np.ndarray]] = []  # (monotonic s, q, v) of the real arm
        self.mode, self.blocked = "pass", None
        self._frozen: JointState | None = None
        self.probe.node.create_subscription(JointState, "/sim/joint_states", self._relay, qos.SENSOR)
        self._joints = self.probe.publisher(JointState, "/joint_states", qos.SENSOR)
        self.commands = self.probe.publisher(JointTrajectory, "/arm/command_raw", qos.COMMAND)
        self.chunks = self.probe.publisher(JointTrajectory, "/policy/chunk", qos.COMMAND)
        self.out = self.probe.subscribe(JointTrajectory, "/arm/command", qos.COMMAND)
        self.stopped_msgs: list[tuple[float, bool]] = []
        self.probe.node.create_subscription(Bool, "/safety/stopped",
                                            lambda m: self.stopped_msgs.append((time.monotonic(), m.data)), qos.LATCHED)
        self.driver_stops: list[float] = []
        self.probe.node.create_service(Trigger, DRIVER_STOP, self._driver_stop)
        self.start_control()

    # ---- the control side --------------------------------------------------------------------
    def start_control(self) -> None:
        overrides = {"safety": {"driver_stop_service": DRIVER_STOP, **self.safety_params}}
        self.control = GraphRunner(self.graph, only=self.control_nodes, domain_id=self.domain_id,
                                   overrides=overrides).start()
        self.safety = self.control.node("safety")
        self.probe.spin_until(lambda: self.safety.filter.output is not None, 20.0, "the safety filter's initialisation")

    def restart_control(self) -> None:
        """Stop the safety (and executor) node and start them afresh, the arm running on."""
        self.control.shutdown()
        self.start_control()

    def node(self, name: str):
        return self.control.node(name)

    # ---- the arm's joint states --------------------------------------------------------------
    def _relay(self, msg: JointState) -> None:
        self.arm.append((time.monotonic(), np.array(msg.position), np.array(msg.velocity)))
        if self.mode == "freeze":
            if self._frozen is None:
                self._frozen = msg
            msg = self._frozen
        elif self.mode == "block":
            if self.blocked is None:
                raise AssertionError("block mode needs rig.blocked = (joint index, position)")
            index, position = self.blocked
            positions = list(msg.position)
            positions[index] = position
            msg.position = positions
        if self.mode != "freeze":
            self._frozen = None
        self._joints.publish(msg)

    def position(self) -> np.ndarray:
        return self.arm[-1][1].copy()

    def max_speed(self, start: float, end: float | None = None) -> float:
        """Largest |joint velocity| (rad/s, arm joints) measured by the sim in [start, end]."""
        speeds = [np.abs(v[:6]).max() for t, _, v in self.arm if t >= start and (end is None or t <= end)]
        assert speeds, "no joint state in that interval"
        return float(max(speeds))

    # ---- playing the executor and the policy -------------------------------------------------
    def send(self, q, seconds: float) -> None:
        """Stream command q (array, or callable of monotonic time) at 50 Hz for `seconds`."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._send_one(q)

    def send_until(self, q, condition, timeout: float, what: str) -> float:
        """Stream q at 50 Hz until condition(); returns the monotonic time it became true."""
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            self._send_one(q)
        return time.monotonic()

    def _send_one(self, q) -> None:
        value = q(time.monotonic()) if callable(q) else q
        stamp = self.probe.node.get_clock().now().to_msg()
        self.commands.publish(command_to_trajectory(value, self.safety.spec.joint_names, stamp, 0.02))
        self.probe.spin_for(0.02)

    def send_chunk(self, actions: np.ndarray, dt: float = 0.02) -> None:
        chunk = ActionChunk(actions=actions, start_time=node_now(self.probe.node), dt=dt)
        self.chunks.publish(chunk_to_trajectory(chunk, self.safety.spec.joint_names))

    def outputs_since(self, index: int) -> np.ndarray:
        return np.array([command_from_trajectory(m, self.safety.spec.joint_names) for m in self.out[index:]])

    def wait(self, condition, timeout: float, what: str) -> float:
        """Spin until condition(); returns the monotonic time it became true."""
        self.probe.spin_until(condition, timeout, what)
        return time.monotonic()

    def _driver_stop(self, request, response):
        self.driver_stops.append(time.monotonic())
        response.success, response.message = True, "test driver halted"
        return response

    def close(self) -> None:
        if self.control is not None:
            self.control.shutdown()
        self.probe.close()
        self.sim_runner.shutdown()
