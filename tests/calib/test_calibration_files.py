"""Calibration files: the ROS camera_info YAML others write loads, ours round-trips, and a
broken file is refused at its line."""
from __future__ import annotations

import numpy as np
import pytest

from roboalign.calib.files import CameraMount, load_hand_eye, load_intrinsics, save_hand_eye, save_intrinsics
from roboalign.calib.geometry import pose, rotation_about
from roboalign.core.camera import Intrinsics
from roboalign.errors import ConfigError

# What ROS's camera_calibration (cameracalibrator) writes for a webcam.
ROS_CAMERA_CALIBRATION = """\
image_width: 640
image_height: 480
camera_name: narrow_stereo
camera_matrix:
  rows: 3
  cols: 3
  data: [617.201, 0, 324.563, 0, 617.437, 242.027, 0, 0, 1]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [0.0954, -0.2121, 0.0012, -0.0004, 0]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
projection_matrix:
  rows: 3
  cols: 4
  data: [617.201, 0, 324.563, 0, 0, 617.437, 242.027, 0, 0, 0, 1, 0]
"""


def test_a_ros_camera_calibration_file_loads(tmp_path):
    path = tmp_path / "front.yaml"
    path.write_text(ROS_CAMERA_CALIBRATION)
    k = load_intrinsics(path)
    assert (k.width, k.height, k.fx, k.fy, k.cx, k.cy) == (640, 480, 617.201, 617.437, 324.563, 242.027)
    assert k.distortion_model == "plumb_bob" and k.distortion == (0.0954, -0.2121, 0.0012, -0.0004, 0.0)


def test_our_intrinsics_file_round_trips_and_records_how_it_was_made(tmp_path):
    k = Intrinsics(1280, 720, 910.5, 909.8, 641.2, 362.9, "plumb_bob", (0.1, -0.25, 0.0, 0.001, 0.09))
    path = save_intrinsics(tmp_path / "wrist.yaml", "wrist", k, {"rms_px": 0.21})
    assert load_intrinsics(path) == k
    assert "rms_px: 0.21" in path.read_text()


def test_a_camera_matrix_of_the_wrong_size_is_refused_at_its_line(tmp_path):
    path = tmp_path / "front.yaml"
    path.write_text(ROS_CAMERA_CALIBRATION.replace("data: [617.201, 0, 324.563, 0, 617.437, 242.027, 0, 0, 1]",
                                                   "data: [617.201, 0, 324.563]"))
    with pytest.raises(ConfigError, match=r"front.yaml:7:\d+: camera_matrix.data: must be a list of 9 numbers"):
        load_intrinsics(path)


def test_a_missing_calibration_file_says_how_to_make_it(tmp_path):
    with pytest.raises(ConfigError, match="roboalign calib intrinsics"):
        load_intrinsics(tmp_path / "front.yaml")


def test_a_camera_mount_round_trips(tmp_path):
    t = pose(rotation_about("z", 90) @ rotation_about("x", -10), [0.05, -0.03, 0.08])
    path = save_hand_eye(tmp_path / "wrist_handeye.yaml", CameraMount("tool0", "wrist_optical_frame", t), {"mode": "x"})
    back = load_hand_eye(path)
    assert (back.parent, back.child) == ("tool0", "wrist_optical_frame")
    np.testing.assert_allclose(back.transform, t, atol=1e-12)
    assert "static_transform_publisher" in path.read_text()
