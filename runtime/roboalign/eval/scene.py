"""EvalArm: the sim arm with an evaluation suite's variant applied at every reset.

`reset(seed)` lays the scene out as SimArm does (same seed, same layout), then applies
`suites.draw_variant(suite, seed)`: moves the target block (positions_ood), places distractor
bodies (built into the model with MjSpec; unused ones wait on the floor behind the front camera),
changes material, light and headlight colours (colour_lighting) or the front camera's pose
(camera_pose). Every model field a variant touches is restored from the compiled model's values
first, so nothing carries over from one episode to the next. Suites without distractors use
sim/assets/arm.xml unchanged.

It also records `closest_m`, the closest the tool centre point came to the top of the current
target (m), and watches what the hand touches: `wrong_object` names the first object other than the
current target on which the touch condition (tasks.touch_condition: fingertips on its top or the
hand in contact) held for tasks.SUCCESS_HOLD_S. The multistep family ("touch the red block then
the blue block") succeeds when the touches happen in order, each held for SUCCESS_HOLD_S; its
privileged state names the current block as the target, so the scripted expert (which plans
from privileged state every call) does the sequence unchanged.
"""
from __future__ import annotations

import dataclasses

import mujoco
import numpy as np

from roboalign.eval import suites
from roboalign.sim import tasks
from roboalign.sim.arm import ARM_XML, SimArm, load_model
from roboalign.sim.tasks import TaskInfo

VIDEO_CAMERA = "front"
PARK_X = 3.0  # m: unused distractors rest on the floor here, behind the front camera


def build_model(distractors: bool) -> mujoco.MjModel:
    """arm.xml, plus one free body per suites.DISTRACTOR_SHAPES when `distractors`."""
    if not distractors:
        return load_model()
    spec = mujoco.MjSpec.from_file(str(ARM_XML))
    shapes = {
        "distractor_box": (mujoco.mjtGeom.mjGEOM_BOX, [0.02, 0.02, 0.02]),
        "distractor_cylinder": (mujoco.mjtGeom.mjGEOM_CYLINDER, [0.018, 0.03, 0.0]),
        "distractor_ball": (mujoco.mjtGeom.mjGEOM_SPHERE, [0.022, 0.0, 0.0]),
    }
    for i, (name, half_height) in enumerate(suites.DISTRACTOR_SHAPES):
        gtype, size = shapes[name]
        body = spec.worldbody.add_body(name=name, pos=[PARK_X, 0.2 * i, -0.75 + half_height])
        body.add_freejoint(name=f"{name}_joint")
        # Same contact classes and friction as the blocks (arm.xml default class "block").
        body.add_geom(name=f"{name}_geom", type=gtype, size=size, mass=0.08, rgba=[0.5, 0.5, 0.5, 1.0],
                      contype=1, conaffinity=3, friction=[0.8, 0.01, 0.001])
    return spec.compile()


@dataclasses.dataclass
class _Look:
    """The model's own values of every field a variant changes (restored at each reset)."""

    mat_rgba: np.ndarray
    light_diffuse: np.ndarray
    light_dir: np.ndarray
    head_ambient: np.ndarray
    head_diffuse: np.ndarray
    cam_pos: np.ndarray
    cam_quat: np.ndarray
    cam_fovy: np.ndarray

    @classmethod
    def of(cls, m: mujoco.MjModel) -> _Look:
        return cls(m.mat_rgba.copy(), m.light_diffuse.copy(), m.light_dir.copy(),
                   m.vis.headlight.ambient.copy(), m.vis.headlight.diffuse.copy(),
                   m.cam_pos.copy(), m.cam_quat.copy(), m.cam_fovy.copy())

    def restore(self, m: mujoco.MjModel) -> None:
        m.mat_rgba[:] = self.mat_rgba
        m.light_diffuse[:] = self.light_diffuse
        m.light_dir[:] = self.light_dir
        m.vis.headlight.ambient[:] = self.head_ambient
        m.vis.headlight.diffuse[:] = self.head_diffuse
        m.cam_pos[:] = self.cam_pos
        m.cam_quat[:] = self.cam_quat
        m.cam_fovy[:] = self.cam_fovy


class EvalArm(SimArm):
    """SimArm running the episodes of one suite (module docstring)."""

    def __init__(self, suite: suites.Suite | str, render_size: tuple[int, int] = (128, 128),
                 cameras: tuple[str, ...] | list[str] = ("front",)) -> None:
        self.suite = suites.SUITES[suite] if isinstance(suite, str) else suite
        model = build_model(self.suite.distractors[1] > 0)
        self._look = _Look.of(model)
        self._distractor_bodies = {n: model.body(n).id for n, _ in suites.DISTRACTOR_SHAPES} \
            if self.suite.distractors[1] > 0 else {}
        self._half_height = dict(suites.DISTRACTOR_SHAPES)
        self._all_geoms = {n: model.geom(f"{n}_geom").id for n in (*tasks.OBJECT_NAMES, *self._distractor_bodies)}
        self.variant: suites.EpisodeVariant | None = None
        self.wrong_object = ""
        self.closest_m = float("inf")
        self._held: dict[str, float] = {}
        self._step = 0
        self._step_held = 0.0
        super().__init__(render_size, cameras, task_family=self.suite.sim_family, model=model)

    # ----------------------------------------------------------------------------------- reset
    def reset(self, seed: int = 0, task: str | None = None) -> TaskInfo:
        """Episode `seed` of the suite; `task` must be None (the suite decides the task)."""
        if task is not None:
            raise ValueError(f"EvalArm runs suite {self.suite.name!r}: the suite sets the task, not {task!r}")
        variant = suites.draw_variant(self.suite, seed)
        info = super().reset(seed)
        m, d = self.model, self.data
        self._look.restore(m)
        if variant.target_xy is not None:
            a = self._block_qadr[info.target]
            d.qpos[a : a + 2] = variant.target_xy
        for i, name in enumerate(self._distractor_bodies):  # park all, then place this episode's
            a = m.jnt_qposadr[m.joint(f"{name}_joint").id]
            d.qpos[a : a + 7] = (PARK_X, 0.2 * i, -0.75 + self._half_height[name], 1.0, 0.0, 0.0, 0.0)
        for dis in variant.distractors:
            a = m.jnt_qposadr[m.joint(f"{dis.name}_joint").id]
            d.qpos[a : a + 3] = (dis.xy[0], dis.xy[1], self._half_height[dis.name])
            d.qpos[a + 3 : a + 7] = (np.cos(dis.yaw / 2), 0.0, 0.0, np.sin(dis.yaw / 2))
            m.geom_rgba[self._all_geoms[dis.name]] = (*dis.rgb, 1.0)
        if variant.appearance is not None:
            self._apply_appearance(variant.appearance)
        if variant.camera is not None:
            self._apply_camera(variant.camera)
        mujoco.mj_forward(m, d)
        if variant.family == "multistep":
            info = TaskInfo(instruction=variant.instruction, family="multistep", target=variant.targets[0],
                            seed=int(seed))
            self._task = info
        self.variant = variant
        self.wrong_object = ""
        self.closest_m = float("inf")
        self._held = {}
        self._step, self._step_held = 0, 0.0
        for camera in self._cameras.values():
            camera.invalidate()
        return info

    def _apply_appearance(self, a: suites.Appearance) -> None:
        m = self.model
        for colour in tasks.COLOURS:
            mid = m.material(colour).id
            rgb = self._look.mat_rgba[mid, :3] * a.block_gain[colour] + np.asarray(a.block_shift[colour])
            m.mat_rgba[mid, :3] = np.clip(rgb, 0.0, 1.0)
        m.mat_rgba[m.material("table").id, :3] = a.table_rgb
        key = m.light("key").id
        m.light_diffuse[key] = np.clip(self._look.light_diffuse[key] * a.light_gain * np.asarray(a.light_tint), 0, 1)
        m.light_dir[key] = a.light_dir
        m.vis.headlight.ambient[:] = np.clip(self._look.head_ambient * a.headlight_gain, 0, 1)
        m.vis.headlight.diffuse[:] = np.clip(self._look.head_diffuse * a.headlight_gain, 0, 1)

    def _apply_camera(self, c: suites.CameraPose) -> None:
        m = self.model
        cam = m.camera(VIDEO_CAMERA).id
        m.cam_pos[cam] = self._look.cam_pos[cam] + np.asarray(c.shift)
        turn = np.zeros(4)
        mujoco.mju_euler2Quat(turn, np.asarray(c.turn, dtype=np.float64), "xyz")  # intrinsic: camera axes
        quat = np.zeros(4)
        mujoco.mju_mulQuat(quat, self._look.cam_quat[cam], turn)
        m.cam_quat[cam] = quat
        m.cam_fovy[cam] = self._look.cam_fovy[cam] + c.fovy_delta

    # ----------------------------------------------------------------------------------- tasks
    @property
    def targets(self) -> tuple[str, ...]:
        return self.variant.targets if self.variant is not None else (self.task.target,)

    @property
    def current_target(self) -> str:
        return self.targets[min(self._step, len(self.targets) - 1)]

    @property
    def steps_done(self) -> int:
        """Sub-goals reached (multistep: touches in order; otherwise 1 once successful)."""
        return self._step if self.task.family == "multistep" else int(self.success())

    def touching(self, obj: str) -> bool:
        """The touch condition on `obj` (a block or a placed distractor) now."""
        tcp = self.data.site_xpos[self._tcp_site]
        if obj in self._block_bodies:
            return tasks.touch_condition(tcp, self.data.xpos[self._block_bodies[obj]], self.hand_touches(obj))
        top = self.data.xpos[self._distractor_bodies[obj]] + np.array([0.0, 0.0, self._half_height[obj]])
        return bool(self._hand_contact(self._all_geoms[obj]) or np.linalg.norm(tcp - top) < tasks.TOUCH_RADIUS)

    def _hand_contact(self, gid: int) -> bool:
        n = self.data.ncon
        if n == 0:
            return False
        pairs = self.data.contact.geom[:n]
        hand = np.isin(pairs, self._hand_geoms)
        return bool(np.any((pairs[:, 0] == gid) & hand[:, 1]) or np.any((pairs[:, 1] == gid) & hand[:, 0]))

    def _check_task(self, elapsed_s: float) -> None:
        target = self.data.xpos[self._block_bodies[self.current_target]] + np.array([0.0, 0.0, tasks.BLOCK_HALF])
        self.closest_m = min(self.closest_m, float(np.linalg.norm(self.data.site_xpos[self._tcp_site] - target)))
        allowed = set(self.targets[: self._step + 1])  # the current target and those done
        placed = {d.name for d in self.variant.distractors}
        for obj in list(self._block_bodies) + sorted(placed):
            if obj in allowed:
                continue
            held = self._held.get(obj, 0.0) + elapsed_s if self.touching(obj) else 0.0
            self._held[obj] = held
            if held >= tasks.SUCCESS_HOLD_S - 1e-9 and not self.wrong_object:
                self.wrong_object = obj
        if self.task.family != "multistep":
            super()._check_task(elapsed_s)
            return
        if self._step < len(self.targets):
            self._step_held = self._step_held + elapsed_s if self.touching(self.targets[self._step]) else 0.0
            if self._step_held >= tasks.SUCCESS_HOLD_S - 1e-9:
                self._step, self._step_held = self._step + 1, 0.0
        if self._step >= len(self.targets):  # each touch was already held SUCCESS_HOLD_S
            self._latch.succeeded = True

    def privileged_state(self) -> dict[str, np.ndarray]:
        """SimArm's privileged state; in multistep the target is the block to touch next."""
        if self.task.family != "multistep":
            return super().privileged_state()
        privileged = {n: self.data.xpos[b].copy() for n, b in self._block_bodies.items()}
        target = self.current_target
        privileged["target_position"] = privileged[target].copy()
        privileged["target_index"] = np.array([tasks.OBJECT_NAMES.index(target)], dtype=np.int64)
        privileged["family_index"] = np.array([tasks.FAMILIES.index("touch")], dtype=np.int64)
        return privileged
