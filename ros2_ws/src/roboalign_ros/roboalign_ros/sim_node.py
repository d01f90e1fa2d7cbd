"""sim_node: the MuJoCo arm (roboalign.sim.arm.SimArm) as a robot on ROS 2.

  /arm/command                     (JointTrajectory, one point, reliable)   in: safe joint targets
                                   (command_interface: arm_command, the default)
  /<arm_controller>/joint_trajectory or /commands, and the gripper's        in: command_interface:
                                   ros2_control, a real arm driver's controller topics
                                   (roboalign_ros.sim_controllers), so the real-robot graph with
                                   its controller bridge runs unchanged against the sim
  /joint_states                    (JointState, sensor QoS, physics rate)   out
  /camera/<name>/image_raw         (Image rgb8, sensor QoS, camera rate)    out
  /camera/<name>/camera_info       (CameraInfo, sensor QoS)                 out
  /sim/objects                     (MarkerArray: ns = name, pose = xyz m)   out: privileged, sim only
  /sim/success                     (Bool, latched)                          out
  /task/instruction                (String, latched)                        out: published on reset
  /task/info                        (String JSON, latched)                   out: on reset, the episode's
                                   TaskInfo.to_dict() {instruction, family, target, seed, pad_position}
                                   (privileged, sim only: the recorder stores it as the episode's task)
  /sim/reset                       (std_srvs/Trigger)                       next episode (seed, seed+1, ...)

With `eval_suite` set the arm is that suite's roboalign.eval.scene.EvalArm: every reset applies
the suite's variant of the episode seed (distractors, colours and lights, camera pose, ...), the
same scene `roboalign eval sim` builds for that seed in its direct loop (`eval sim --ros` runs
its episodes through this graph).

Physics runs in real time: a timer steps MuJoCo by the wall time elapsed since its last tick
(capped by max_physics_step so a stalled process never makes one huge step). Cameras render in
their own thread: the scene is copied under the lock (fast), the pixels are drawn outside it
(MuJoCo releases the GIL while rendering), so rendering never stalls the physics or commands.
Commands stamped before the last reset are dropped; command->arm latency is the time from a
command's header stamp to the moment it becomes the actuators' target.
"""
from __future__ import annotations

import collections
import json
import math
import threading
import time

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from roboalign.sim.arm import SimArm
from roboalign.sim.gl import render_error_hint
from roboalign_ros import qos
from roboalign_ros.conversions import (
    camera_info_msg,
    command_from_trajectory,
    image_to_msg,
    joint_state_msg,
    node_now,
    objects_to_markers,
    stamp_to_seconds,
)
from roboalign_ros.params import declare, refuse_undeclared, spin_node
from roboalign_ros.sim_controllers import SimControllerInterface

LATENCY_WINDOW = 100_000  # samples kept per latency series (a few MB at most)


def eval_arm(suite: str, render_size: tuple[int, int], task: str | None) -> SimArm:
    """The EvalArm of `suite` (the suite sets the task, so `task` must be empty); ValueError
    naming the suites for an unknown one. Imported here: only suite runs need eval/."""
    from roboalign.eval.scene import EvalArm
    from roboalign.eval.suites import SUITES

    if suite not in SUITES:
        raise ValueError(f"eval_suite {suite!r}: expected one of {', '.join(SUITES)} (or empty)")
    if task:
        raise ValueError(f"eval_suite {suite!r} sets the task; leave task empty (got {task!r})")
    return EvalArm(suite, render_size=render_size, cameras=())


class SimNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("sim", **kwargs)
        family = declare(self, "task_family", "touch", "task family: touch or push")
        suite = declare(self, "eval_suite", "",
                        "an evaluation suite (roboalign.eval.suites: distractors, camera_pose, ...): each reset "
                        "builds that suite's variant of its seed, as `roboalign eval sim` does; empty = the "
                        "nominal SimArm of task_family")
        self.task = declare(self, "task", "", "a full instruction, e.g. 'touch the red block'; empty = family default") or None
        self.next_seed = declare(self, "seed", 0, "seed of the first episode; /sim/reset uses seed, seed+1, ...", low=0)
        self.cameras = tuple(declare(self, "cameras", ["front"], "cameras to publish (sim: front, wrist)"))
        height = declare(self, "render_height", 128, "camera image height (px)", low=16, high=2048)
        width = declare(self, "render_width", 128, "camera image width (px)", low=16, high=2048)
        camera_rate = declare(self, "camera_rate_hz", 10.0, "camera frame rate (Hz)", low=0.5, high=60.0)
        physics_rate = declare(self, "physics_rate_hz", 100.0, "physics tick and /joint_states rate (Hz)", low=10.0, high=1000.0)
        self.max_step = declare(self, "max_physics_step", 0.05, "s: the most one physics tick advances", low=0.001, high=1.0)
        objects_rate = declare(self, "objects_rate_hz", 10.0, "rate of /sim/objects (Hz)", low=0.5, high=100.0)
        self.frame_id = declare(self, "frame_id", "world", "frame of /sim/objects")
        interface = declare(self, "command_interface", "arm_command",
                            "arm_command (/arm/command) or ros2_control (controller topics, as a real arm driver)")
        arm_controller = declare(self, "arm_controller", "arm_controller", "ros2_control: the arm controller's name")
        arm_mode = declare(self, "arm_controller_mode", "joint_trajectory", "ros2_control: joint_trajectory or forward_position")
        gripper_controller = declare(self, "gripper_controller", "gripper_controller", "ros2_control: the gripper controller's name")
        gripper_mode = declare(self, "gripper_controller_mode", "joint_trajectory",
                               "ros2_control: joint_trajectory, forward_position or none")
        from_desired = declare(self, "interpolate_from_desired_state", False,
                               "ros2_control: a new trajectory starts from the last desired state (JTC parameter), "
                               "else from the measured one (the JTC default)")
        refuse_undeclared(self)
        if interface not in ("arm_command", "ros2_control"):
            raise ValueError(f"command_interface {interface!r}: expected arm_command or ros2_control")
        if suite:
            self.arm = eval_arm(suite, (height, width), self.task)
        else:
            self.arm = SimArm(render_size=(height, width), cameras=(), task_family=family)
        unknown = [c for c in self.cameras if c not in self.arm.camera_names]
        if unknown:
            raise ValueError(f"unknown camera(s) {unknown}: the sim arm has {self.arm.camera_names}")
        self.spec = self.arm.spec
        self.latency_ms: dict[str, collections.deque] = {"command->arm": collections.deque(maxlen=LATENCY_WINDOW)}
        self.counts = {"commands_applied": 0, "dropped_before_reset": 0, "malformed": 0, "frames": 0}
        self.success = False
        self._lock = threading.Lock()  # SimArm is touched by the physics timer, the camera thread and reset()
        self._reset_stamp = -np.inf
        self._last_tick = time.monotonic()
        self._joint_pub = self.create_publisher(JointState, "/joint_states", qos.SENSOR)
        self._objects_pub = self.create_publisher(MarkerArray, "/sim/objects", qos.STATE)
        self._success_pub = self.create_publisher(Bool, "/sim/success", qos.LATCHED)
        self._instruction_pub = self.create_publisher(String, "/task/instruction", qos.LATCHED)
        self._task_pub = self.create_publisher(String, "/task/info", qos.LATCHED)
        self._image_pubs = {c: self.create_publisher(Image, f"/camera/{c}/image_raw", qos.SENSOR) for c in self.cameras}
        self._info_pubs = {c: self.create_publisher(CameraInfo, f"/camera/{c}/camera_info", qos.SENSOR) for c in self.cameras}
        self.controllers = None
        if interface == "ros2_control":
            self.controllers = SimControllerInterface(
                self, self.spec, self._lock, lambda: self._reset_stamp, arm_controller, arm_mode,
                gripper_controller, gripper_mode, from_desired)
            self.latency_ms["command->arm"] = self.controllers.latency_ms
        else:
            self.create_subscription(JointTrajectory, "/arm/command", self._on_command, qos.COMMAND)
        self.create_service(Trigger, "/sim/reset", self._on_reset)
        self.create_timer(1.0 / physics_rate, self._on_physics)
        self.create_timer(1.0 / objects_rate, self._publish_objects)
        self._camera_period = 1.0 / camera_rate
        self._stop = threading.Event()
        self._camera_thread = threading.Thread(target=self._camera_loop, name="sim-cameras", daemon=True)
        self.reset(self.next_seed)
        self._camera_thread.start()

    # ---- episodes -------------------------------------------------------------------------
    def reset(self, seed: int, task: str | None = None) -> str:
        """Start episode `seed` (deterministic layout); returns the instruction. Thread-safe."""
        with self._lock:
            info = self.arm.reset(int(seed), task or self.task)
            self._reset_stamp = node_now(self)
            self._last_tick = time.monotonic()
            self.success = False
            self.next_seed = int(seed) + 1
            self._target = self.arm.joint_positions()  # controller mode: what the arm holds until commanded
            if self.controllers is not None:
                self.controllers.reset()
        self._task_pub.publish(String(data=json.dumps(info.to_dict())))
        self._instruction_pub.publish(String(data=info.instruction))
        self._success_pub.publish(Bool(data=False))
        self.get_logger().info(f"episode seed {seed}: {info.instruction!r}")
        return info.instruction

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.message = self.reset(self.next_seed)
        response.success = True
        return response

    # ---- commands and physics -------------------------------------------------------------
    def _on_command(self, msg: JointTrajectory) -> None:
        stamp = stamp_to_seconds(msg.header.stamp)
        if stamp < self._reset_stamp:
            self.counts["dropped_before_reset"] += 1
            return
        try:
            q = command_from_trajectory(msg, self.spec.joint_names)
            with self._lock:
                self.arm.set_command(q)
                applied = node_now(self)
        except ValueError as exc:  # wrong names/size or non-finite: the safety node should never send it
            self.counts["malformed"] += 1
            self.get_logger().error(f"command ignored: {exc}", throttle_duration_sec=1.0)
            return
        self.counts["commands_applied"] += 1
        self.latency_ms["command->arm"].append((applied - stamp) * 1000.0)

    def _on_physics(self) -> None:
        with self._lock:
            now = time.monotonic()
            if self.controllers is not None:  # the controllers' update, then the physics under it
                self.controllers.command(node_now(self), self.arm.joint_positions(), self._target)
                self.arm.set_command(self._target)
            self.arm.step(min(now - self._last_tick, self.max_step))
            self._last_tick = now
            q, v = self.arm.joint_positions(), self.arm.joint_velocities()
            success = self.arm.success()
        self._joint_pub.publish(joint_state_msg(self.spec.joint_names, q, v, self.get_clock().now().to_msg()))
        if success != self.success:
            self.success = success
            self._success_pub.publish(Bool(data=success))

    def _publish_objects(self) -> None:
        with self._lock:
            privileged = self.arm.observation(0.0).privileged  # cameras=() on this arm: renders nothing
        self._objects_pub.publish(objects_to_markers(privileged, self.get_clock().now().to_msg(), self.frame_id))

    # ---- cameras --------------------------------------------------------------------------
    def _camera_info(self, camera: str, stamp) -> CameraInfo:
        h, w = self.arm.render_size
        fovy = math.radians(float(self.arm.model.cam_fovy[self.arm.model.camera(camera).id]))
        f = 0.5 * h / math.tan(0.5 * fovy)  # MuJoCo cameras: square pixels, vertical field of view
        return camera_info_msg(w, h, f, f, 0.5 * w, 0.5 * h, stamp, f"{camera}_camera")

    def _camera_loop(self) -> None:
        import mujoco  # already imported by SimArm; the GL context belongs to this thread

        if not self.cameras:
            return
        h, w = self.arm.render_size
        vis = self.arm.model.vis.global_
        vis.offheight, vis.offwidth = max(vis.offheight, h), max(vis.offwidth, w)
        try:
            renderer = mujoco.Renderer(self.arm.model, height=h, width=w)
        except Exception as exc:  # GL failures come as several exception types
            self.get_logger().error(render_error_hint(exc))
            return
        try:
            next_time = time.monotonic()
            while not self._stop.is_set():
                for camera in self.cameras:
                    with self._lock:
                        renderer.update_scene(self.arm.data, camera=camera)
                        stamp = self.get_clock().now().to_msg()
                    image = renderer.render()  # outside the lock: physics keeps running
                    self._image_pubs[camera].publish(image_to_msg(image, stamp, f"{camera}_camera"))
                    self._info_pubs[camera].publish(self._camera_info(camera, stamp))
                    self.counts["frames"] += 1
                next_time = max(next_time + self._camera_period, time.monotonic())
                self._stop.wait(max(0.0, next_time - time.monotonic()))
        finally:
            renderer.close()

    def close(self) -> None:
        """Stop the camera thread and free the renderer (call before destroy_node)."""
        self._stop.set()
        if self._camera_thread.is_alive():
            self._camera_thread.join(timeout=5.0)
        self.arm.close()


def main(args=None) -> int:
    return spin_node(SimNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
