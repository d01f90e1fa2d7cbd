"""ROS message <-> RoboAlign record conversions, all in one place.

Only standard interfaces (shared/DESIGN.md): sensor_msgs Image/CameraInfo/JointState,
trajectory_msgs JointTrajectory for chunks and commands, visualization_msgs MarkerArray for the
sim's privileged object positions. Times are ROS time as float seconds on the record side.
Every `*_from_*` function raises ValueError with a readable reason on a malformed message; the
nodes catch it, count it and keep running.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Point
from sensor_msgs.msg import CameraInfo, Image, JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from visualization_msgs.msg import Marker, MarkerArray

from roboalign.core.action import ActionChunk

_NS = 1_000_000_000


# ---- time ---------------------------------------------------------------------------------
def seconds_to_stamp(t: float) -> Time:
    ns = int(round(t * _NS))
    return Time(sec=ns // _NS, nanosec=ns % _NS)


def stamp_to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def node_now(node) -> float:
    """The node's clock (ROS time) in float seconds: the time base of stamps and chunks."""
    return node.get_clock().now().nanoseconds * 1e-9


def seconds_to_duration(t: float) -> Duration:
    ns = int(round(t * _NS))
    return Duration(sec=ns // _NS, nanosec=ns % _NS)


def duration_to_seconds(d: Duration) -> float:
    return d.sec + d.nanosec * 1e-9


# ---- images -------------------------------------------------------------------------------
def image_to_msg(image: np.ndarray, stamp: Time, frame_id: str) -> Image:
    """uint8 [H, W, 3] RGB -> rgb8 Image. tobytes(): assigning the array itself is ~250x slower."""
    h, w = image.shape[:2]
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(h), int(w)
    msg.encoding = "rgb8"
    msg.is_bigendian = 0
    msg.step = int(w) * 3
    msg.data = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
    return msg


def image_from_msg(msg: Image) -> np.ndarray:
    """rgb8 or bgr8 Image -> uint8 [H, W, 3] RGB (a copy the caller owns)."""
    if msg.encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"image encoding {msg.encoding!r} is not supported: publish rgb8 or bgr8")
    need = msg.height * msg.step
    if msg.step < msg.width * 3 or len(msg.data) < need:
        raise ValueError(f"image {msg.width}x{msg.height} step {msg.step} has {len(msg.data)} bytes")
    buf = np.frombuffer(msg.data, np.uint8)  # msg.data is an array.array: no copy here
    img = buf[:need].reshape(msg.height, msg.step)[:, : msg.width * 3].reshape(msg.height, msg.width, 3)
    return img[:, :, ::-1].copy() if msg.encoding == "bgr8" else img.copy()


def camera_info_msg(width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                    stamp: Time, frame_id: str) -> CameraInfo:
    """Pinhole intrinsics (pixels), no distortion."""
    msg = CameraInfo()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.width, msg.height = int(width), int(height)
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


# ---- joints -------------------------------------------------------------------------------
def _order(names: Sequence[str], wanted: Sequence[str], what: str) -> np.ndarray | None:
    """Index of each wanted joint in `names`; None when already in order."""
    names = list(names)
    if names == list(wanted):
        return None
    missing = [n for n in wanted if n not in names]
    if missing:
        raise ValueError(f"{what} lacks joints {missing} (has {names})")
    return np.array([names.index(n) for n in wanted])


def joint_state_msg(names: Sequence[str], positions: np.ndarray, velocities: np.ndarray | None,
                    stamp: Time) -> JointState:
    msg = JointState()
    msg.header.stamp = stamp
    msg.name = list(names)
    msg.position = np.asarray(positions, dtype=np.float64).tolist()
    if velocities is not None:
        msg.velocity = np.asarray(velocities, dtype=np.float64).tolist()
    return msg


def joint_state_from_msg(msg: JointState, joint_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """Positions (and velocities when present) in `joint_names` order."""
    pos = np.asarray(msg.position, dtype=np.float64)
    if len(msg.name) != pos.shape[0]:
        raise ValueError(f"joint state has {len(msg.name)} names but {pos.shape[0]} positions")
    idx = _order(msg.name, joint_names, "joint state")
    vel = np.asarray(msg.velocity, dtype=np.float64) if len(msg.velocity) == pos.shape[0] else None
    if idx is not None:
        pos = pos[idx]
        vel = None if vel is None else vel[idx]
    return pos, vel


# ---- chunks and commands ------------------------------------------------------------------
def chunk_to_trajectory(chunk: ActionChunk, joint_names: Sequence[str]) -> JointTrajectory:
    """header.stamp = chunk start time; point k at time_from_start = k * dt."""
    if chunk.dim != len(joint_names):
        raise ValueError(f"chunk has {chunk.dim} dimensions, {len(joint_names)} joint names given")
    msg = JointTrajectory()
    msg.header.stamp = seconds_to_stamp(chunk.start_time)
    msg.joint_names = list(joint_names)
    points = []
    for k, row in enumerate(chunk.actions):
        p = JointTrajectoryPoint()
        p.positions = row.tolist()
        p.time_from_start = seconds_to_duration(k * chunk.dt)
        points.append(p)
    msg.points = points
    return msg


def chunk_from_trajectory(msg: JointTrajectory, joint_names: Sequence[str], provenance: str = "") -> ActionChunk:
    """A uniformly timed JointTrajectory -> ActionChunk in `joint_names` order.

    Values are not checked for finiteness here: the executor does that (and counts it)."""
    n = len(msg.points)
    if n == 0:
        raise ValueError("trajectory has no points")
    idx = _order(msg.joint_names, joint_names, "trajectory")
    width = len(msg.joint_names)
    rows = []
    for k, p in enumerate(msg.points):
        if len(p.positions) != width:
            raise ValueError(f"trajectory point {k} has {len(p.positions)} positions for {width} joints")
        rows.append(p.positions)
    actions = np.asarray(rows, dtype=np.float64)
    if idx is not None:
        actions = actions[:, idx]
    times = np.array([duration_to_seconds(p.time_from_start) for p in msg.points])
    if n > 1:
        steps = np.diff(times)
        dt = float(steps.mean())
        if dt <= 0 or np.max(np.abs(steps - dt)) > 1e-6 + 1e-3 * dt:
            raise ValueError("trajectory points must be evenly spaced in time with increasing time_from_start")
    else:
        dt = 0.1  # a single point: its spacing is irrelevant (held after its time)
    start = stamp_to_seconds(msg.header.stamp) + float(times[0])
    return ActionChunk(actions=actions, start_time=start, dt=dt, provenance=provenance)


def command_to_trajectory(q: np.ndarray, joint_names: Sequence[str], stamp: Time,
                          time_from_start: float) -> JointTrajectory:
    """One joint target as a single-point trajectory (what ros2_control's JTC also accepts)."""
    msg = JointTrajectory()
    msg.header.stamp = stamp
    msg.joint_names = list(joint_names)
    p = JointTrajectoryPoint()
    p.positions = np.asarray(q, dtype=np.float64).tolist()
    p.time_from_start = seconds_to_duration(time_from_start)
    msg.points = [p]
    return msg


def command_from_trajectory(msg: JointTrajectory, joint_names: Sequence[str]) -> np.ndarray:
    """The first point of a single-point trajectory in `joint_names` order.

    Without joint_names the positions are taken in robot order (the size is checked later)."""
    if len(msg.points) != 1:
        raise ValueError(f"a command must have exactly one point, got {len(msg.points)}")
    pos = np.asarray(msg.points[0].positions, dtype=np.float64)
    if not msg.joint_names:
        return pos
    if len(msg.joint_names) != pos.shape[0]:
        raise ValueError(f"command has {len(msg.joint_names)} joint names but {pos.shape[0]} positions")
    idx = _order(msg.joint_names, joint_names, "command")
    return pos if idx is None else pos[idx]


# ---- privileged sim state -----------------------------------------------------------------
def objects_to_markers(positions: Mapping[str, np.ndarray], stamp: Time, frame_id: str) -> MarkerArray:
    """Object name -> xyz (m) as one marker each: ns = name, pose.position = xyz.

    A MarkerArray is the standard message that carries named 3D points and is shown as is by
    RViz and Foxglove; the policy node reads ns + position back."""
    out = MarkerArray()
    markers = []
    for i, (name, xyz) in enumerate(positions.items()):
        xyz = np.asarray(xyz, dtype=np.float64).reshape(-1)
        if xyz.shape[0] != 3:
            continue  # only points travel (indices and flags stay in the sim)
        m = Marker()
        m.header.stamp = stamp
        m.header.frame_id = frame_id
        m.ns = name
        m.id = i
        m.type = Marker.SPHERE
        m.action = Marker.ADD
        m.pose.position = Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))
        m.pose.orientation.w = 1.0
        m.scale.x = m.scale.y = m.scale.z = 0.02
        m.color.a = 1.0
        m.color.g = 1.0
        markers.append(m)
    out.markers = markers
    return out


def objects_from_markers(msg: MarkerArray) -> dict[str, np.ndarray]:
    return {
        m.ns: np.array([m.pose.position.x, m.pose.position.y, m.pose.position.z])
        for m in msg.markers
        if m.action == Marker.ADD
    }
