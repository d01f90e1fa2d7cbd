"""Calibration results on disk: calibration/<robot>/ (see calibration/README.md).

    <camera>.yaml           intrinsics in the ROS camera_info YAML format (camera_calibration_
                            parsers), so realsense-ros, usb_cam and our camera node all load
                            it; a `roboalign:` block adds how it was made (RMS, views, board)
    <camera>_handeye.yaml   where the camera sits: parent frame, child frame, translation (m),
                            quaternion (x, y, z, w), the 4x4 matrix, and its held-out error
    board.yaml              the ChArUco board used (roboalign calib board writes it)

Reading errors are ConfigErrors naming the file, line and key.
"""
from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from roboalign import config
from roboalign.calib.board import CharucoBoardSpec
from roboalign.calib.geometry import from_quaternion, quaternion_xyzw
from roboalign.core.camera import Intrinsics
from roboalign.errors import ConfigError


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def _write(path: str | Path, header: str, data: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120))
    tmp.replace(path)
    return path


def _matrix(rows: int, cols: int, values) -> dict[str, Any]:
    return {"rows": rows, "cols": cols, "data": [float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]}


# ---- intrinsics ---------------------------------------------------------------------------------
def save_intrinsics(path: str | Path, camera: str, k: Intrinsics, provenance: dict[str, Any] | None = None) -> Path:
    d = list(k.distortion) if k.distortion_model != "none" else [0.0] * 5
    model = "plumb_bob" if k.distortion_model == "none" else k.distortion_model
    data = {
        "image_width": k.width,
        "image_height": k.height,
        "camera_name": camera,
        "camera_matrix": _matrix(3, 3, k.matrix()),
        "distortion_model": model,
        "distortion_coefficients": _matrix(1, len(d), d),
        "rectification_matrix": _matrix(3, 3, np.eye(3)),
        "projection_matrix": _matrix(3, 4, np.column_stack([k.matrix(), np.zeros(3)])),
        "roboalign": {"written": _now(), **(provenance or {})},
    }
    return _write(path, f"# Intrinsics of camera {camera!r} (ROS camera_info YAML; written by roboalign calib)\n", data)


def load_intrinsics(path: str | Path) -> Intrinsics:
    """A camera_info YAML (ours, ROS camera_calibration's, or realsense-ros's) -> Intrinsics."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("calibration file not found (produce it with `roboalign calib intrinsics`, "
                          "calibration/README.md)", path=path)
    data, located = config.read_yaml(path)
    if not isinstance(data, dict):
        raise located.error((), "a camera_info YAML is a mapping (image_width, camera_matrix, ...)")

    def need(key: str, kind: type | tuple) -> Any:
        if key not in data:
            raise located.error((), f"missing {key!r} (a ROS camera_info YAML has image_width, image_height, "
                                "camera_matrix, distortion_model, distortion_coefficients)")
        if not isinstance(data[key], kind):
            raise located.error((key,), f"must be {getattr(kind, '__name__', 'a mapping')}")
        return data[key]

    def values(key: str, count: int | None) -> list[float]:
        block = need(key, dict)
        raw = block.get("data")
        if not isinstance(raw, list) or (count is not None and len(raw) != count):
            raise located.error((key, "data"), f"must be a list of {count or 'the'} numbers")
        try:
            return [float(v) for v in raw]
        except (TypeError, ValueError):
            raise located.error((key, "data"), "must hold numbers only") from None

    k = values("camera_matrix", 9)
    model = str(data.get("distortion_model", "plumb_bob"))
    dist = values("distortion_coefficients", None) if "distortion_coefficients" in data else []
    if model == "plumb_bob" and not any(dist):
        model, dist = "none", []
    try:
        return Intrinsics(width=int(need("image_width", int)), height=int(need("image_height", int)), fx=k[0],
                          fy=k[4], cx=k[2], cy=k[5], distortion_model=model, distortion=tuple(dist))
    except ValueError as exc:
        raise ConfigError(str(exc), path=path) from None


# ---- hand-eye -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CameraMount:
    """Pose of camera frame `child` in frame `parent` (4x4, metres): T_parent_child."""

    parent: str
    child: str
    transform: np.ndarray


def save_hand_eye(path: str | Path, mount: CameraMount, provenance: dict[str, Any] | None = None) -> Path:
    t = mount.transform
    data = {
        "parent_frame": mount.parent,
        "child_frame": mount.child,
        "translation_m": [float(v) for v in t[:3, 3]],
        "rotation_xyzw": [float(v) for v in quaternion_xyzw(t)],
        "matrix": [[float(v) for v in row] for row in t],
        "roboalign": {"written": _now(), **(provenance or {})},
    }
    header = (f"# Pose of {mount.child} in {mount.parent} (T_{mount.parent}_{mount.child}, metres), from "
              "`roboalign calib handeye`.\n# As a static transform: ros2 run tf2_ros static_transform_publisher "
              "--x X --y Y --z Z --qx QX --qy QY --qz QZ --qw QW --frame-id PARENT --child-frame-id CHILD\n")
    return _write(path, header, data)


def load_hand_eye(path: str | Path) -> CameraMount:
    path = Path(path)
    if not path.is_file():
        raise ConfigError("hand-eye file not found (produce it with `roboalign calib handeye`)", path=path)
    data, located = config.read_yaml(path)
    if not isinstance(data, dict):
        raise located.error((), "a hand-eye file is a mapping (parent_frame, child_frame, translation_m, ...)")
    for key, size in (("translation_m", 3), ("rotation_xyzw", 4)):
        v = data.get(key)
        if not (isinstance(v, list) and len(v) == size and all(isinstance(x, (int, float)) for x in v)):
            raise located.error((key,) if key in data else (), f"{key} must be a list of {size} numbers")
    try:
        t = from_quaternion(data["rotation_xyzw"], data["translation_m"])
    except ValueError as exc:
        raise located.error(("rotation_xyzw",), str(exc)) from None
    return CameraMount(parent=str(data.get("parent_frame", "")), child=str(data.get("child_frame", "")), transform=t)


# ---- the board ------------------------------------------------------------------------------------
def save_board(path: str | Path, spec: CharucoBoardSpec) -> Path:
    return _write(path, "# ChArUco board (roboalign calib board). Measure a printed square with a caliper and put the "
                  "measured size in square_m (and marker_m scaled alike).\n", dataclasses.asdict(spec))


def load_board(path: str | Path) -> CharucoBoardSpec:
    return config.load(CharucoBoardSpec, path)


# ---- hand-eye input: the arm's pose at each view ------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ArmPoses:
    """poses.yaml of a hand-eye capture folder: the arm's TCP pose (T_base_gripper) per image.

        base_frame: base_link
        gripper_frame: tool0
        views:
          - image: view_000.png
            translation_m: [0.41, -0.02, 0.33]
            rotation_xyzw: [0.0, 1.0, 0.0, 0.0]
    """

    base_frame: str
    gripper_frame: str
    views: tuple[tuple[str, np.ndarray], ...]   # (image file name, T_base_gripper)


def load_arm_poses(path: str | Path) -> ArmPoses:
    path = Path(path)
    if not path.is_file():
        raise ConfigError("poses file not found: a hand-eye folder holds the images and poses.yaml "
                          "(calibration/README.md)", path=path)
    data, located = config.read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("views"), list) or not data["views"]:
        raise located.error((), "poses.yaml needs a non-empty 'views' list of {image, translation_m, rotation_xyzw}")
    config.check_keys(data, ("base_frame", "gripper_frame", "views"), str(path))
    views = []
    for i, view in enumerate(data["views"]):
        where = ("views", i)
        if not isinstance(view, dict) or not isinstance(view.get("image"), str):
            raise located.error(where, "each view needs 'image' (a file name beside poses.yaml)")
        try:
            config.check_keys(view, ("image", "translation_m", "rotation_xyzw"))
        except ConfigError as exc:
            raise located.error(where, exc.message) from None
        for key, size in (("translation_m", 3), ("rotation_xyzw", 4)):
            v = view.get(key)
            if not (isinstance(v, list) and len(v) == size and all(isinstance(x, (int, float)) for x in v)):
                raise located.error((*where, key) if key in view else where, f"{key} must be a list of {size} numbers")
        try:
            views.append((view["image"], from_quaternion(view["rotation_xyzw"], view["translation_m"])))
        except ValueError as exc:
            raise located.error((*where, "rotation_xyzw"), str(exc)) from None
    return ArmPoses(str(data.get("base_frame", "base_link")), str(data.get("gripper_frame", "tool0")), tuple(views))


def save_arm_poses(path: str | Path, poses: ArmPoses) -> Path:
    views = [{"image": name, "translation_m": [float(v) for v in t[:3, 3]],
              "rotation_xyzw": [float(v) for v in quaternion_xyzw(t)]} for name, t in poses.views]
    return _write(path, "# The arm's TCP pose T_base_gripper (metres) when each image was taken\n",
                  {"base_frame": poses.base_frame, "gripper_frame": poses.gripper_frame, "views": views})
