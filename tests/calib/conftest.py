"""Rendered ChArUco views with known intrinsics and poses (roboalign.calib.synthetic)."""
from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from roboalign.calib.board import CharucoBoardSpec  # noqa: E402
from roboalign.calib.geometry import pose, rotation_about  # noqa: E402
from roboalign.calib.synthetic import BoardRenderer  # noqa: E402

SPEC = CharucoBoardSpec(squares_x=7, squares_y=5, square_m=0.030, marker_m=0.022, dictionary="DICT_5X5_100")
SIZE = (640, 480)
K = np.array([[520.0, 0.0, 322.0], [0.0, 518.0, 238.5], [0.0, 0.0, 1.0]])
# ground truth of the hand-eye tests: the camera on the gripper, the board on the table, and
# the fixed camera / held board of the eye-to-hand set-up
GRIPPER_FROM_CAMERA = pose(rotation_about("z", 90) @ rotation_about("x", -10), [0.05, -0.03, 0.08])
BASE_FROM_BOARD = pose(rotation_about("z", 20), [0.5, 0.1, 0.0])
BASE_FROM_CAMERA = pose(rotation_about("x", 160) @ rotation_about("z", 30), [0.6, 0.2, 0.7])
GRIPPER_FROM_BOARD = pose(rotation_about("y", 180), [0.0, 0.0, 0.12])


@pytest.fixture(scope="session")
def renderer() -> BoardRenderer:
    return BoardRenderer(SPEC, K, SIZE)


def needs_hand_eye_solver():
    """opencv-python 5.0.0.93 lost cv2.calibrateHandEye in Python (opencv/opencv#29565)."""
    if not hasattr(cv2, "calibrateHandEye"):
        pytest.fail(f"OpenCV {cv2.__version__} lacks cv2.calibrateHandEye (opencv/opencv#29565): install "
                    "opencv-python-headless==4.14.0.94, the `realsense` extra's pin")
