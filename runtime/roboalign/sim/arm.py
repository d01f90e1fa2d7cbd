"""SimArm: the MuJoCo arm as a core.Robot: joint commands in, joint state and camera frames out.

Command and state vectors have D = 7 entries in RobotSpec order: joint1..joint6 (rad) and the
gripper (0 = open, 1 = closed; both fingers follow it). Commands are absolute joint-position
targets tracked by the PD position actuators of sim/assets/arm.xml. As a Robot its clock is
simulated time: sleep_until(t) steps the physics to t, so a control loop runs as fast as the CPU
allows; its cameras (roboalign.sensors.sim.SimCamera) render on demand at the simulated time.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from roboalign.control.observation import ObservationAssembler, Privileged
from roboalign.core.camera import Frame
from roboalign.core.kinematics import Kinematics
from roboalign.core.observation import Observation
from roboalign.core.robot import JointLimits, JointState, Robot, RobotNotConnectedError, RobotSpec
from roboalign.sensors.sim import SimCamera
from roboalign.sim.gl import configure_gl, render_error_hint

configure_gl()  # must run before mujoco is imported (it reads MUJOCO_GL once)
import mujoco  # noqa: E402

from roboalign.sim import tasks  # noqa: E402

ARM_XML = Path(__file__).resolve().parent / "assets" / "arm.xml"
ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 7))
JOINT_NAMES = ARM_JOINTS + ("gripper",)
GRIPPER_INDEX = 6
FINGER_JOINTS = ("left_finger_joint", "right_finger_joint")
FINGER_OPEN = 0.04  # m of slide per finger at gripper = 0 (fully open)
HAND_GEOMS = ("left_finger_geom", "right_finger_geom", "palm")
CONTROL_RATE_HZ = 50.0
# Limits a real servo arm of this size has (xArm/UR class), used by the safety filter.
MAX_VELOCITY = np.array([2.0, 2.0, 2.5, 3.0, 3.0, 3.0, 2.5])  # rad/s; gripper: units/s
MAX_ACCELERATION = np.array([8.0, 8.0, 10.0, 15.0, 15.0, 15.0, 20.0])  # rad/s^2; units/s^2


def load_model() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(ARM_XML))


@functools.lru_cache(maxsize=1)
def sim_robot_spec() -> RobotSpec:
    """The sim arm's RobotSpec (no rendering): position limits come from arm.xml's joint ranges."""
    model = load_model()
    lower = [float(model.joint(n).range[0]) for n in ARM_JOINTS] + [0.0]
    upper = [float(model.joint(n).range[1]) for n in ARM_JOINTS] + [1.0]
    limits = JointLimits(
        lower=np.array(lower), upper=np.array(upper),
        max_velocity=MAX_VELOCITY.copy(), max_acceleration=MAX_ACCELERATION.copy(),
    )
    return RobotSpec(
        name="roboalign_sim_arm", joint_names=JOINT_NAMES, limits=limits,
        control_rate_hz=CONTROL_RATE_HZ, gripper_index=GRIPPER_INDEX,
    )


class SimArm(Robot):
    """A seeded, rendered MuJoCo arm with language-conditioned tasks.

    render_size: (height, width) of every camera image in pixels.
    cameras: the cameras this robot carries (`cameras` maps them to SimCamera; `observation()`
        renders them), a subset of `camera_names`; () renders nothing, which is what fast
        data-free rollouts (tests, success-rate sweeps, the scripted expert) use.
    task_family: default family for `reset()` ("touch" or "push").
    model: a compiled variant of sim/assets/arm.xml (e.g. with extra bodies, roboalign.eval.scene);
        None loads arm.xml itself.

    Connected from construction (connect() is a no-op then); close() is disconnect().
    Not thread-safe: the offscreen GL context is bound to the thread that first renders, so
    step and render from one thread.
    """

    def __init__(
        self,
        render_size: tuple[int, int] = (128, 128),
        cameras: tuple[str, ...] | list[str] = ("front",),
        task_family: str = "touch",
        model: mujoco.MjModel | None = None,
    ) -> None:
        if task_family not in tasks.FAMILIES:
            raise ValueError(f"unknown task family {task_family!r}: choose one of {tasks.FAMILIES}")
        self.model = model if model is not None else load_model()
        self.data = mujoco.MjData(self.model)
        self.task_family = task_family
        self.render_size = (int(render_size[0]), int(render_size[1]))
        cameras = tuple(cameras)
        unknown = [c for c in cameras if c not in self.camera_names]
        if unknown:
            raise ValueError(f"unknown camera(s) {unknown}: the sim arm has {self.camera_names}")
        self._cameras = {c: SimCamera(c, self.render, lambda: self.time) for c in cameras}
        self._connected = True
        m = self.model
        self._arm_qadr = np.array([m.jnt_qposadr[m.joint(n).id] for n in ARM_JOINTS])
        self._arm_dadr = np.array([m.jnt_dofadr[m.joint(n).id] for n in ARM_JOINTS])
        self._finger_qadr = np.array([m.jnt_qposadr[m.joint(n).id] for n in FINGER_JOINTS])
        self._finger_dadr = np.array([m.jnt_dofadr[m.joint(n).id] for n in FINGER_JOINTS])
        self._block_bodies = {n: m.body(n).id for n in tasks.OBJECT_NAMES}
        self._block_qadr = {n: m.jnt_qposadr[m.joint(f"{n}_joint").id] for n in tasks.OBJECT_NAMES}
        self._block_geoms = {n: m.geom(f"{n}_geom").id for n in tasks.OBJECT_NAMES}
        self._hand_geoms = np.array([m.geom(g).id for g in HAND_GEOMS])
        self._tcp_site = m.site("tcp").id
        self._pad_mocap = m.body_mocapid[m.body("target_pad").id]
        self._ctrl_low = m.actuator_ctrlrange[:, 0].copy()
        self._ctrl_high = m.actuator_ctrlrange[:, 1].copy()
        self._substeps_per_check = max(1, int(round(1.0 / CONTROL_RATE_HZ / m.opt.timestep)))
        self._renderer: mujoco.Renderer | None = None
        self._pending_s = 0.0
        self._latch = tasks.SuccessLatch()
        self._task: tasks.TaskInfo | None = None
        self.reset(0)

    # ----------------------------------------------------------------------------- properties
    @property
    def spec(self) -> RobotSpec:
        return sim_robot_spec()

    def kinematics(self, tool_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Kinematics:
        """MuJoCo FK of the tcp site (+ tool_offset, m, site frame): roboalign.sim.kinematics."""
        from roboalign.sim.kinematics import SimToolKinematics  # that module imports this one

        return SimToolKinematics(tool_offset)

    @property
    def cameras(self) -> dict[str, SimCamera]:
        """The cameras this arm was built with, by name (a subset of camera_names)."""
        return self._cameras

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(self.model.camera(i).name for i in range(self.model.ncam))

    @property
    def time(self) -> float:
        """Simulated seconds since reset."""
        return float(self.data.time)

    @property
    def task(self) -> tasks.TaskInfo:
        assert self._task is not None
        return self._task

    @property
    def instruction(self) -> str:
        return self.task.instruction

    # ---------------------------------------------------------------------------------- reset
    def reset(self, seed: int, task: str | None = None) -> tasks.TaskInfo:
        """Start episode `seed`: random layout and arm pose (deterministic in seed).

        task: None (this arm's family), a family name ("touch", "push"), or an instruction
        naming family and colour ("push the red block onto the target"), used verbatim.
        """
        family, colour, instruction = self.task_family, "", ""
        if task is not None:
            family, colour = tasks.parse_task(task)
            instruction = "" if task.strip().lower() in tasks.FAMILIES else task.strip()
        info, layout = tasks.sample_task(int(seed), family, colour, instruction)
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        for name, xy in layout.block_xy.items():
            a = self._block_qadr[name]
            yaw = layout.block_yaw[name]
            d.qpos[a : a + 3] = (xy[0], xy[1], tasks.BLOCK_HALF)
            d.qpos[a + 3 : a + 7] = (np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2))
        # The pad is only part of the scene in the push family; elsewhere it hides under the table.
        pad = (layout.pad_xy[0], layout.pad_xy[1], 0.0) if layout.pad_xy is not None else (0.0, 0.0, -0.5)
        d.mocap_pos[self._pad_mocap] = pad
        q0 = np.concatenate([layout.arm_q, [layout.gripper]])
        d.qpos[self._arm_qadr] = layout.arm_q
        d.qpos[self._finger_qadr] = FINGER_OPEN * (1.0 - layout.gripper)
        self.set_command(q0)
        mujoco.mj_forward(m, d)
        self._pending_s = 0.0
        self._latch.reset()
        self._task = info
        for camera in self._cameras.values():
            camera.invalidate()  # same simulated instant (0 s), new scene
        return info

    # ------------------------------------------------------------------------ command / step
    def set_command(self, q: np.ndarray) -> None:
        """Absolute targets [7]: joints in rad, gripper 0 (open) .. 1 (closed); clipped to range."""
        q = np.asarray(q, dtype=np.float64).reshape(-1)
        if q.shape[0] != len(JOINT_NAMES):
            raise ValueError(f"SimArm.set_command needs {len(JOINT_NAMES)} values {JOINT_NAMES}, got {q.shape[0]}")
        if not np.all(np.isfinite(q)):
            raise ValueError(f"SimArm.set_command got non-finite values {q.tolist()}")
        finger = FINGER_OPEN * (1.0 - np.clip(q[GRIPPER_INDEX], 0.0, 1.0))
        ctrl = np.concatenate([q[:GRIPPER_INDEX], [finger, finger]])
        self.data.ctrl[:] = np.clip(ctrl, self._ctrl_low, self._ctrl_high)

    def step(self, seconds: float) -> None:
        """Advance physics by `seconds` (rounded to whole 2 ms steps; the remainder carries over)."""
        if seconds < 0 or not np.isfinite(seconds):
            raise ValueError(f"SimArm.step needs a non-negative duration, got {seconds}")
        ts = self.model.opt.timestep
        self._pending_s += seconds
        n = int(self._pending_s / ts + 1e-9)
        self._pending_s -= n * ts
        # Check task success once per control period (20 ms) of sim time.
        while n > 0:
            k = min(n, self._substeps_per_check)
            mujoco.mj_step(self.model, self.data, nstep=k)
            n -= k
            self._check_task(k * ts)

    def _check_task(self, elapsed_s: float) -> None:
        """Once per control period of sim time: update the success latch (`elapsed_s` since the
        last check). Evaluation scenes (roboalign.eval.scene) extend this."""
        self._latch.update(self._success_condition(), elapsed_s)

    # ---------------------------------------------------------------------------------- state
    def joint_positions(self) -> np.ndarray:
        g = 1.0 - float(np.mean(self.data.qpos[self._finger_qadr])) / FINGER_OPEN
        return np.concatenate([self.data.qpos[self._arm_qadr], [np.clip(g, 0.0, 1.0)]])

    def joint_velocities(self) -> np.ndarray:
        gv = -float(np.mean(self.data.qvel[self._finger_dadr])) / FINGER_OPEN
        return np.concatenate([self.data.qvel[self._arm_dadr], [gv]])

    def tcp_position(self) -> np.ndarray:
        """World xyz (m) of the tool centre point between the fingertips."""
        return self.data.site_xpos[self._tcp_site].copy()

    def object_positions(self) -> dict[str, np.ndarray]:
        """World xyz (m) of each block centre, plus "target_pad" when the task has a pad."""
        out = {n: self.data.xpos[b].copy() for n, b in self._block_bodies.items()}
        if self.task.pad_position is not None:
            out["target_pad"] = np.array(self.task.pad_position, dtype=np.float64)
        return out

    def hand_touches(self, obj: str) -> bool:
        """True if a finger or the palm is in contact with object `obj` now."""
        n = self.data.ncon
        if n == 0:
            return False
        pairs = self.data.contact.geom[:n]
        gid = self._block_geoms[obj]
        hand = np.isin(pairs, self._hand_geoms)
        return bool(np.any((pairs[:, 0] == gid) & hand[:, 1]) or np.any((pairs[:, 1] == gid) & hand[:, 0]))

    def _success_condition(self) -> bool:
        task = self.task
        centre = self.data.xpos[self._block_bodies[task.target]]
        if task.family == "touch":
            return tasks.touch_condition(self.data.site_xpos[self._tcp_site], centre, self.hand_touches(task.target))
        return tasks.push_condition(centre, np.asarray(task.pad_position))

    def success(self) -> bool:
        """Latched: True once the task condition has held for tasks.SUCCESS_HOLD_S."""
        return self._latch.succeeded

    # ---------------------------------------------------------------------------- core.Robot
    @property
    def is_connected(self) -> bool:
        return self._connected

    def connect(self) -> None:
        self._connected = True
        for camera in self._cameras.values():
            camera.connect()

    def disconnect(self) -> None:
        self._connected = False
        for camera in self._cameras.values():
            camera.disconnect()
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def now(self) -> float:
        """Simulated seconds since reset: the clock of read_state() and the cameras' frames."""
        return self.time

    def sleep_until(self, t: float) -> None:
        """Advance the physics to simulated time `t` (whole 2 ms steps; nothing if t is past)."""
        if t > self.time:
            self.step(t - self.time)

    def read_state(self) -> JointState:
        self._check_connected()
        return JointState(JOINT_NAMES, self.joint_positions(), self.time, self.joint_velocities())

    def send_command(self, positions: np.ndarray) -> None:
        self._check_connected()
        self.set_command(positions)

    def _check_connected(self) -> None:
        if not self._connected:
            raise RobotNotConnectedError("the sim arm is disconnected: call connect() first")

    def privileged_state(self) -> dict[str, np.ndarray]:
        """Ground truth only a simulator knows (see observation()); for the scripted expert."""
        objects = self.object_positions()
        task = self.task
        privileged = {n: p for n, p in objects.items() if n != "target_pad"}
        privileged["target_position"] = objects[task.target].copy()
        privileged["target_index"] = np.array([tasks.OBJECT_NAMES.index(task.target)], dtype=np.int64)
        privileged["family_index"] = np.array([tasks.FAMILIES.index(task.family)], dtype=np.int64)
        if task.pad_position is not None:
            privileged["pad_position"] = np.array(task.pad_position, dtype=np.float64)
        return privileged

    # -------------------------------------------------------------------------------- cameras
    def render(self, camera: str) -> np.ndarray:
        """uint8 [H, W, 3] RGB image from `camera`."""
        if camera not in self.camera_names:
            raise ValueError(f"unknown camera {camera!r}: the sim arm has {self.camera_names}")
        if self._renderer is None:
            h, w = self.render_size
            vis = self.model.vis.global_
            vis.offheight, vis.offwidth = max(vis.offheight, h), max(vis.offwidth, w)
            try:
                self._renderer = mujoco.Renderer(self.model, height=h, width=w)
            except Exception as exc:  # GL errors come in many types (ImportError, OSError, GLError)
                raise RuntimeError(render_error_hint(exc)) from exc
        self._renderer.update_scene(self.data, camera=camera)
        return self._renderer.render()

    def observation(self, timestamp: float) -> Observation:
        """Observation of now, stamped `timestamp` (the caller's clock), with privileged state.

        privileged: "<colour>_block" -> xyz (m) for every block, "target_position" -> xyz of the
        target block, "target_index" -> [i] into tasks.OBJECT_NAMES, "family_index" -> [k] into
        tasks.FAMILIES, and "pad_position" -> xyz in the push family.
        """
        t = float(timestamp)
        assembler = ObservationAssembler(self.spec, tuple(self._cameras), privileged=True)
        obs = assembler.assemble(
            t,
            JointState(JOINT_NAMES, self.joint_positions(), t, self.joint_velocities()),
            {c: Frame(self.render(c), t, 0) for c in self._cameras},
            self.task.instruction,
            Privileged(self.privileged_state(), t),
        )
        assert isinstance(obs, Observation), obs  # every stream is present and stamped `t`
        return obs

    def close(self) -> None:
        """Same as disconnect()."""
        self.disconnect()

    def __enter__(self) -> SimArm:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
