"""ScriptedExpert: solves the sim tasks from privileged state; the demo policy and demo source.

Each infer() plans from the *current* state (joints + object positions), so calling it every
0.4-0.8 s closes the loop: a block that slid, a late arm or a stale chunk are all corrected by
the next plan. A plan is a Cartesian path of the tool centre point (tcp) made of straight
segments, each with its own speed limit, timed with an acceleration-limited speed profile,
sampled every `dt` seconds and turned into joint targets by damped-least-squares IK (its own
MuJoCo model copy). Joint steps are clipped to the RobotSpec's velocity limits.

Phases, chosen from the current state at every call:
  touch: [lift] -> above the block -> down onto its top (gripper closed: fingertips together).
  push:  [lift] -> above the pre-push point behind the block -> down to table height -> push
         along the block-to-pad line until the block centre sits on the pad centre.
"""
from __future__ import annotations

import math

import numpy as np

from roboalign.core.action import ActionChunk
from roboalign.core.observation import Observation
from roboalign.core.policy import PolicyMetadata
from roboalign.core.robot import RobotSpec
from roboalign.sim import tasks
from roboalign.sim.arm import GRIPPER_INDEX, sim_robot_spec
from roboalign.sim.kinematics import ArmKinematics, tool_down_rotation

HOVER = 0.08  # m above the block top before descending
TOUCH_CLEARANCE = 0.002  # m tcp above the block top at the touch (fingertips just on it)
FAST = 0.30  # m/s free-space speed
SLOW = 0.12  # m/s descending speed
PUSH_SPEED = 0.08  # m/s while pushing
ACCEL = 1.0  # m/s^2 along the path
PUSH_HEIGHT = 0.018  # m tcp height while pushing (fingers cover the block's lower side)
FINGER_HALF_X = 0.012  # m, half depth of a finger along the hand x (the pushing face)
PRE_PUSH_BACKOFF = 0.075  # m from block centre to tcp before a push
SAFE_HEIGHT = 0.10  # m tcp height for moves across the table in the push family
ALIGN_XY = 0.02  # m: "above the point" tolerance
# The sim arm's PD position actuators trail a moving target by about kv/kp seconds (arm.xml:
# (110 + 4) / 2500 and (25 + 1) / 600 ~ 0.045 s). A plan therefore starts from q + LAG_S * qdot,
# the command the arm is following, not from where it is: restarting at the measured q would
# pull the command back at every re-plan and the arm would stutter every 0.4 s.
TRACKING_LAG_S = np.array([0.045] * 6 + [0.0625])  # s per dimension; fingers: (20 + 5) / 400
# Simulation-only inputs infer() reads (Observation.privileged keys; over ROS they travel on
# /sim/objects). "family_index" is read too when present, but the instruction names the family.
PRIVILEGED_INPUTS = ("target_position", "pad_position")


def _heading_near(desired: float, current: float) -> float:
    """The gripper is symmetric under a half turn: pick desired or desired+pi nearest current."""
    best = desired
    for cand in (desired, desired + np.pi, desired - np.pi):
        if abs(np.angle(np.exp(1j * (cand - current)))) < abs(np.angle(np.exp(1j * (best - current)))):
            best = cand
    return current + float(np.angle(np.exp(1j * (best - current))))


def sample_path(start: np.ndarray, waypoints: list[tuple[np.ndarray, float]], v0: float, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions along start -> waypoints at `times` (s from now), and the path fraction done.

    waypoints: (point, speed limit m/s of the segment that ends there). The speed ramps at ACCEL,
    slows to the next segment's limit before each corner and to rest at the end.
    """
    pts = [np.asarray(start, dtype=np.float64)] + [np.asarray(p, dtype=np.float64) for p, _ in waypoints]
    seg_len = [float(np.linalg.norm(pts[i + 1] - pts[i])) for i in range(len(waypoints))]
    vmax = [float(v) for _, v in waypoints] + [0.0]
    cum = [0.0]
    for length in seg_len:
        cum.append(cum[-1] + length)
    total = cum[-1]
    h = 0.02  # s, integration step of the speed profile (plain floats: this loop is hot)
    n = int(math.ceil(times[-1] / h)) + 1
    s_hist = [0.0] * n
    s, v, seg = 0.0, max(0.0, v0), 0
    for i in range(1, n):
        while seg < len(seg_len) - 1 and s >= cum[seg + 1]:
            seg += 1
        to_corner = max(cum[seg + 1] - s, 0.0)
        v_lim = min(vmax[seg], math.sqrt(vmax[seg + 1] ** 2 + 2 * ACCEL * to_corner))
        v = min(v + ACCEL * h, v_lim) if v <= v_lim else max(v - ACCEL * h, v_lim)
        s = min(s + v * h, total)
        s_hist[i] = s
    cum = np.asarray(cum)
    seg_len = np.asarray(seg_len)
    s_at = np.interp(times, np.arange(n) * h, s_hist)
    out = np.empty((len(times), 3))
    for k, sk in enumerate(s_at):
        seg = min(int(np.searchsorted(cum, sk, side="right")) - 1, len(seg_len) - 1)
        frac = 0.0 if seg_len[seg] <= 0 else (sk - cum[seg]) / seg_len[seg]
        out[k] = pts[seg] + frac * (pts[seg + 1] - pts[seg])
    done = s_at / total if total > 0 else np.ones_like(s_at)
    return out, done


def interpolate_rotation(Ra: np.ndarray, Rb: np.ndarray, f: float) -> np.ndarray:
    """Rotation a fraction f in [0, 1] of the way from Ra to Rb (geodesic, Rodrigues formula)."""
    if f >= 1.0:
        return Rb
    rel = Rb @ Ra.T
    angle = math.acos(max(-1.0, min(1.0, (np.trace(rel) - 1.0) / 2.0)))
    if angle < 1e-6 or f <= 0.0:
        return Rb if angle < 1e-6 else Ra
    axis = np.array([rel[2, 1] - rel[1, 2], rel[0, 2] - rel[2, 0], rel[1, 0] - rel[0, 1]])
    norm = np.linalg.norm(axis)
    if norm < 1e-9:  # half-turn: axis undefined by the skew part; no smooth path to pick
        return Rb
    axis /= norm
    K = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    a = f * angle
    return (np.eye(3) + math.sin(a) * K + (1.0 - math.cos(a)) * (K @ K)) @ Ra


class ScriptedExpert:
    """Policy protocol: infer(obs) -> ActionChunk of `horizon` absolute joint targets every `dt` s."""

    def __init__(
        self,
        spec: RobotSpec | None = None,
        horizon: int = 16,
        dt: float = 0.1,
        cameras: tuple[str, ...] = ("front",),
        image_size: tuple[int, int] = (128, 128),
    ) -> None:
        self.spec = spec or sim_robot_spec()
        self.horizon = int(horizon)
        self.dt = float(dt)
        self.cameras = tuple(cameras)
        self.image_size = tuple(image_size)
        self.kin = ArmKinematics()
        # IK iterations per chunk point: each point is warm-started from the previous one, a few
        # cm away, so one damped step lands within millimetres (the next point corrects the rest).
        self.ik_iterations = 1
        self._times = self.dt * np.arange(self.horizon)
        # Stay under the limits with margin: the PD tracking and the executor add their own lag.
        self._max_step = 0.9 * self.spec.limits.max_velocity * self.dt
        # The gripper jumps from rest to its step in one chunk step: keep that under max accel.
        g = GRIPPER_INDEX
        self._max_step[g] = min(self._max_step[g], 0.9 * self.spec.limits.max_acceleration[g] * self.dt**2)

    def metadata(self) -> PolicyMetadata:
        return PolicyMetadata(policy="expert", model_id="scripted-expert", robot=self.spec, cameras=self.cameras,
                              image_size=self.image_size, chunk_length=self.horizon, control_period=self.dt,
                              task_families=tasks.FAMILIES, privileged_inputs=PRIVILEGED_INPUTS)

    def reset(self) -> None:
        """Stateless between calls: every chunk is planned from its observation alone."""

    # ------------------------------------------------------------------------------- planning
    def _family(self, obs: Observation) -> str:
        if "family_index" in obs.privileged:
            return tasks.FAMILIES[int(np.asarray(obs.privileged["family_index"]).reshape(-1)[0])]
        return tasks.parse_task(obs.instruction)[0]

    def _plan_touch(self, tcp: np.ndarray, target: np.ndarray) -> tuple[list, float]:
        top = target + np.array([0.0, 0.0, tasks.BLOCK_HALF])
        touch = top + np.array([0.0, 0.0, TOUCH_CLEARANCE])
        above = top + np.array([0.0, 0.0, HOVER])
        path: list[tuple[np.ndarray, float]] = []
        if np.linalg.norm(tcp[:2] - top[:2]) > ALIGN_XY:
            if tcp[2] < above[2] - 0.02:
                path.append((np.array([tcp[0], tcp[1], above[2]]), SLOW))
            path.append((above, FAST))
        path.append((touch, SLOW))
        return path, float(np.arctan2(target[1], target[0]))

    def _plan_push(self, tcp: np.ndarray, block: np.ndarray, pad: np.ndarray) -> tuple[list, float]:
        d = pad[:2] - block[:2]
        u = d / max(np.linalg.norm(d), 1e-9)
        u3 = np.array([u[0], u[1], 0.0])
        rel = block[:2] - tcp[:2]
        behind = float(rel @ u)
        lateral = float(np.linalg.norm(rel - behind * u))
        contact_gap = tasks.BLOCK_HALF + FINGER_HALF_X
        goal = np.array([pad[0], pad[1], PUSH_HEIGHT]) - contact_gap * u3
        pre = np.array([block[0], block[1], PUSH_HEIGHT]) - PRE_PUSH_BACKOFF * u3
        path: list[tuple[np.ndarray, float]] = []
        if lateral < 0.012 and contact_gap - 0.015 < behind < PRE_PUSH_BACKOFF + 0.03 and tcp[2] < PUSH_HEIGHT + 0.02:
            pass  # behind the block, in line with the pad: push straight on to the goal
        elif np.linalg.norm(tcp[:2] - pre[:2]) < ALIGN_XY and tcp[2] < SAFE_HEIGHT + 0.03:
            path.append((pre, SLOW))
        else:
            if tcp[2] < SAFE_HEIGHT - 0.02:
                path.append((np.array([tcp[0], tcp[1], SAFE_HEIGHT]), SLOW))
            path.append((np.array([pre[0], pre[1], SAFE_HEIGHT]), FAST))
            path.append((pre, SLOW))
        path.append((goal, PUSH_SPEED))
        return path, float(np.arctan2(u[1], u[0]))

    def infer(self, observation: Observation) -> ActionChunk:
        priv = observation.privileged
        if "target_position" not in priv:
            raise ValueError(
                "ScriptedExpert needs privileged sim state (privileged['target_position']): it "
                "only runs against the simulator (SimArm.observation provides it)"
            )
        q = np.asarray(observation.joint_positions, dtype=np.float64)
        if q.shape[0] != self.spec.dof:
            raise ValueError(f"ScriptedExpert expects {self.spec.dof} joint positions, got {q.shape[0]}")
        target = np.asarray(priv["target_position"], dtype=np.float64).reshape(3)
        family = self._family(observation)
        lo, hi = self.spec.limits.lower, self.spec.limits.upper
        start = q.copy()
        tcp_velocity = np.zeros(3)  # m/s
        qd = observation.joint_velocities
        if qd is not None and qd.shape == q.shape and np.all(np.isfinite(qd)):
            start = np.clip(q + TRACKING_LAG_S * qd, lo, hi)
            tcp_velocity = self.kin.jacobian(start[:6])[:3] @ qd[:6]
        tcp, R = self.kin.fk(start[:6])
        if family == "push":
            if "pad_position" not in priv:
                raise ValueError("ScriptedExpert: the push task needs privileged['pad_position']")
            pad = np.asarray(priv["pad_position"], dtype=np.float64).reshape(3)
            path, heading = self._plan_push(tcp, target, pad)
        else:
            path, heading = self._plan_touch(tcp, target)
        # Speed already made along the new path's first segment carries over; the rest ramps.
        first = path[0][0] - tcp
        v0 = float(max(0.0, tcp_velocity @ first / max(np.linalg.norm(first), 1e-9)))
        points, done = sample_path(tcp, path, v0, self._times)
        heading = _heading_near(heading, float(np.arctan2(R[1, 0], R[0, 0])))
        goal_R = tool_down_rotation(heading)

        actions = np.empty((self.horizon, self.spec.dof))
        actions[0] = start
        prev = start[:6].copy()
        gripper = float(start[GRIPPER_INDEX])
        for k in range(1, self.horizon):
            # Turn and level the tool as the path progresses (orientation done halfway), so a
            # tilted start is corrected smoothly instead of in the first step.
            target_R = interpolate_rotation(R, goal_R, min(1.0, 2.0 * done[k]))
            sol, _ = self.kin.solve(prev, points[k], target_R, iterations=self.ik_iterations)
            step = np.clip(sol - prev, -self._max_step[:6], self._max_step[:6])
            prev = prev + step
            gripper = gripper + float(np.clip(1.0 - gripper, -self._max_step[GRIPPER_INDEX], self._max_step[GRIPPER_INDEX]))
            actions[k, :6] = prev
            actions[k, GRIPPER_INDEX] = gripper
        actions = np.clip(actions, lo, hi)
        return ActionChunk(
            actions=actions,
            start_time=float(observation.timestamp),
            dt=self.dt,
            provenance="scripted-expert",
            observation_time=float(observation.timestamp),
        )
