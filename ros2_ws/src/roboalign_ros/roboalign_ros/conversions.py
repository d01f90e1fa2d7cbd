"""ROS message <-> RoboAlign record conversions, all in one place.

Only standard interfaces (shared/DESIGN.md): sensor_msgs Image/CompressedImage/CameraInfo/JointState,
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
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from visualization_msgs.msg import Marker, MarkerArray

from roboalign.core.action import ActionChunk
from roboalign.core.camera import Intrinsics

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
def _image_msg(pixels: np.ndarray, encoding: str, stamp: Time, frame_id: str) -> Image:
    """Image of a C-contiguous little-endian [H, W(, C)] array; step = bytes per row."""
    h, w = pixels.shape[:2]
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(h), int(w)
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(pixels.strides[0])
    msg.data = pixels.tobytes()
    return msg


def image_to_msg(image: np.ndarray, stamp: Time, frame_id: str) -> Image:
    """uint8 [H, W, 3] RGB -> rgb8 Image. tobytes(): assigning the array itself is ~250x slower."""
    return _image_msg(np.ascontiguousarray(image, dtype=np.uint8), "rgb8", stamp, frame_id)


# Encodings a policy's colour input may arrive in (sensor_msgs/image_encodings.h names).
COLOUR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "yuv422", "uyvy", "yuv422_yuy2", "yuyv")
_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
_DEPTH_LIKE = ("16UC1", "32FC1", "mono16", "16SC1", "32SC1", "64FC1")


def image_from_msg(msg: Image) -> np.ndarray:
    """A colour Image -> uint8 [H, W, 3] RGB (a copy the caller owns).

    rgb8 and bgr8; rgba8 and bgra8 (alpha dropped); mono8 (grey in all three channels);
    yuv422 = uyvy and yuv422_yuy2 = yuyv (BT.601 limited range, what UVC cameras send, the
    same numbers as OpenCV's COLOR_YUV2RGB_UYVY/YUYV). Depth and 16-bit images are refused:
    a policy's colour input must be a colour topic."""
    enc = msg.encoding
    if enc in _DEPTH_LIKE:
        raise ValueError(f"image encoding {enc!r} is depth or 16-bit data, not colour: connect the policy's camera "
                         "to the colour topic (e.g. .../color/image_raw, not .../depth/image_rect_raw)")
    if enc not in COLOUR_ENCODINGS:
        raise ValueError(f"image encoding {enc!r} is not supported: publish one of {', '.join(COLOUR_ENCODINGS)}")
    if msg.height < 1 or msg.width < 1:
        raise ValueError(f"image of size {msg.width}x{msg.height} is empty")
    yuv = enc in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv")
    if yuv and msg.width % 2:
        raise ValueError(f"a {enc} image needs an even width, got {msg.width}")
    channels = 2 if yuv else _CHANNELS[enc]
    need = msg.height * msg.step
    if msg.step < msg.width * channels or len(msg.data) < need:
        raise ValueError(f"image {msg.width}x{msg.height} {enc} step {msg.step} has {len(msg.data)} bytes")
    buf = np.frombuffer(msg.data, np.uint8)  # msg.data is an array.array: no copy here
    img = buf[:need].reshape(msg.height, msg.step)[:, : msg.width * channels].reshape(msg.height, msg.width, channels)
    if yuv:
        return _yuv422_to_rgb(img, uyvy=enc in ("yuv422", "uyvy"))
    if enc == "mono8":
        return np.repeat(img, 3, axis=2)
    if enc in ("bgr8", "bgra8"):
        return np.ascontiguousarray(img[:, :, 2::-1])
    return np.ascontiguousarray(img[:, :, :3])


def _yuv422_to_rgb(pairs: np.ndarray, uyvy: bool) -> np.ndarray:
    """[H, W, 2] packed 4:2:2 (two pixels share U and V) -> RGB, BT.601 limited range."""
    h, w = pairs.shape[:2]
    quads = pairs.reshape(h, w // 2, 4).astype(np.float32)
    if uyvy:   # U Y0 V Y1
        u, y0, v, y1 = (quads[..., i] for i in range(4))
    else:      # Y0 U Y1 V
        y0, u, y1, v = (quads[..., i] for i in range(4))
    y = np.stack([y0, y1], axis=-1).reshape(h, w) - 16.0
    u = np.repeat(u - 128.0, 2, axis=1)
    v = np.repeat(v - 128.0, 2, axis=1)
    rgb = np.stack([1.164 * y + 1.596 * v, 1.164 * y - 0.391 * u - 0.813 * v, 1.164 * y + 2.018 * u], axis=-1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _cv2():
    try:
        import cv2  # the `realsense` extra (opencv-python-headless); only compressed images need it
    except ImportError:
        raise ValueError('compressed images need OpenCV: pip install -e ".[realsense]"') from None
    return cv2


def compressed_to_msg(image: np.ndarray, stamp: Time, frame_id: str, quality: int = 90) -> CompressedImage:
    """uint8 [H, W, 3] RGB -> JPEG CompressedImage, as image_transport's compressed plugin
    publishes it (format "rgb8; jpeg compressed bgr8")."""
    cv2 = _cv2()
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    msg = CompressedImage()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.format = "rgb8; jpeg compressed bgr8"
    msg.data = data.tobytes()
    return msg


def image_from_compressed(msg: CompressedImage) -> np.ndarray:
    """A JPEG or PNG CompressedImage (image_transport's compressed plugin) -> uint8 [H, W, 3] RGB.
    compressedDepth (16-bit depth) is refused like a depth Image."""
    if "compressedDepth" in msg.format:
        raise ValueError(f"compressed image format {msg.format!r} is depth, not colour: connect the policy's camera "
                         "to the colour topic's /compressed")
    cv2 = _cv2()
    bgr = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"compressed image ({msg.format or 'no format'}, {len(msg.data)} bytes) does not decode")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def depth_to_msg(depth_mm: np.ndarray, stamp: Time, frame_id: str) -> Image:
    """uint16 [H, W] millimetres -> 16UC1 Image (the ROS depth convention realsense-ros uses)."""
    return _image_msg(np.ascontiguousarray(depth_mm, dtype="<u2"), "16UC1", stamp, frame_id)


def camera_info_msg(width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                    stamp: Time, frame_id: str) -> CameraInfo:
    """Pinhole intrinsics (pixels), no distortion."""
    return camera_info_from_intrinsics(Intrinsics(width, height, fx, fy, cx, cy), stamp, frame_id)


def camera_info_from_intrinsics(k: Intrinsics, stamp: Time, frame_id: str) -> CameraInfo:
    """Intrinsics -> CameraInfo for the raw (unrectified) image: K, D, identity R, P = [K | 0]."""
    msg = CameraInfo()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.width, msg.height = int(k.width), int(k.height)
    if k.distortion_model == "none":
        msg.distortion_model, msg.d = "plumb_bob", [0.0] * 5
    else:
        msg.distortion_model, msg.d = k.distortion_model, list(k.distortion)
    msg.k = [k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [k.fx, 0.0, k.cx, 0.0, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def intrinsics_from_camera_info(msg: CameraInfo) -> Intrinsics:
    """CameraInfo -> Intrinsics; ValueError for an uncalibrated one (K all zero) or a model
    this runtime does not know."""
    k = list(msg.k)
    if not any(k):
        raise ValueError("camera_info has an all-zero K: the camera is not calibrated")
    d = tuple(float(x) for x in msg.d)
    model = msg.distortion_model or "plumb_bob"
    if model == "plumb_bob" and not any(d):
        model, d = "none", ()
    return Intrinsics(width=int(msg.width), height=int(msg.height), fx=k[0], fy=k[4], cx=k[2], cy=k[5],
                      distortion_model=model, distortion=d)


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
