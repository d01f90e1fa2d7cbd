"""Hand-eye calibration: where a camera sits relative to the arm, from board views at known
arm poses, with OpenCV's solvers and errors measured on views the fit never saw.

Two set-ups (T_a_b = pose of frame b in frame a, metres; roboalign.calib.geometry):

- eye_in_hand: the camera rides on the gripper, the board lies still in the workspace.
  Solves X = T_gripper_camera.
- eye_to_hand: the camera is fixed, the board is held by the gripper.
  Solves X = T_base_camera.

Each view pairs the arm's reported pose T_base_gripper (the driver's TCP pose) with the board
pose T_camera_board found in that view's image (solvePnP on the ChArUco corners with the
camera's intrinsics). Methods: "tsai", "park", "horaud", "andreff", "daniilidis"
(cv2.calibrateHandEye, AX = XB) and "shah", "li" (cv2.calibrateRobotWorldHandEye, AX = ZB,
which also solves the board's pose).

Held-out error: every `holdout_every`-th view is left out of the fit. From the fit views the
board's fixed pose (in the base for eye_in_hand, in the gripper for eye_to_hand) is averaged;
then for each held-out view the board pose the calibration predicts from the arm's pose alone
is compared with the pose the camera measured: translation error of the board's centre (mm)
and rotation error (degrees). That is what a grasp planned from this calibration would miss by.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from roboalign.calib.board import BoardDetection, CharucoBoardSpec, cv2_module
from roboalign.calib.geometry import from_rvec, invert, mean_pose, pose, rotation_error_deg, transform
from roboalign.calib.intrinsics import CalibrationError
from roboalign.core.camera import Intrinsics

MODES = ("eye_in_hand", "eye_to_hand")
HAND_EYE_METHODS = {"tsai": "CALIB_HAND_EYE_TSAI", "park": "CALIB_HAND_EYE_PARK", "horaud": "CALIB_HAND_EYE_HORAUD",
                    "andreff": "CALIB_HAND_EYE_ANDREFF", "daniilidis": "CALIB_HAND_EYE_DANIILIDIS"}
ROBOT_WORLD_METHODS = {"shah": "CALIB_ROBOT_WORLD_HAND_EYE_SHAH", "li": "CALIB_ROBOT_WORLD_HAND_EYE_LI"}
METHODS = tuple(HAND_EYE_METHODS) + tuple(ROBOT_WORLD_METHODS)
_MISSING = ("this OpenCV ({version}) has no {name} in Python (opencv-python 5.0.0.93 lost the binding: "
            "opencv/opencv#29565): install opencv-python-headless==4.14.0.94, the `realsense` extra's pin")


@dataclasses.dataclass(frozen=True)
class HandEyeView:
    name: str
    base_from_gripper: np.ndarray   # T_base_gripper, from the arm
    camera_from_board: np.ndarray   # T_camera_board, from the image


@dataclasses.dataclass(frozen=True)
class HeldOutError:
    translation_mm: tuple[float, ...]   # per held-out view
    rotation_deg: tuple[float, ...]

    def summary(self) -> str:
        if not self.translation_mm:
            return "no held-out views"
        t, r = np.asarray(self.translation_mm), np.asarray(self.rotation_deg)
        return (f"held out {t.size} views: board centre off by median {np.median(t):.2f} mm (max {t.max():.2f}), "
                f"rotation median {np.median(r):.3f} deg (max {r.max():.3f})")


@dataclasses.dataclass(frozen=True)
class HandEyeResult:
    mode: str
    method: str
    transform: np.ndarray         # X: T_gripper_camera (eye_in_hand) or T_base_camera (eye_to_hand)
    board_pose: np.ndarray        # T_base_board (eye_in_hand) or T_gripper_board (eye_to_hand), fit views
    views_fit: tuple[str, ...]
    held_out: HeldOutError


def board_pose(detection: BoardDetection, spec: CharucoBoardSpec, intrinsics: Intrinsics) -> np.ndarray:
    """T_camera_board from one view's corners (IPPE for the planar board, then LM refinement)."""
    cv2 = cv2_module()
    if len(detection) < 6:
        raise CalibrationError(f"{detection.source}: {len(detection)} corners are too few for a board pose (min 6)")
    obj = detection.object_points(spec).astype(np.float64)
    img = detection.corners_px.astype(np.float64)
    k, dist = intrinsics.matrix(), np.asarray(intrinsics.distortion or (0.0,) * 5, dtype=np.float64)
    ok, rvec, tvec = cv2.solvePnP(obj, img, k, dist, flags=cv2.SOLVEPNP_IPPE)
    if not ok:
        raise CalibrationError(f"{detection.source}: no board pose fits its corners")
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, k, dist, rvec, tvec)
    return from_rvec(rvec, tvec)


def _require(name: str):
    cv2 = cv2_module()
    fn = getattr(cv2, name, None)
    if fn is None:
        raise CalibrationError(_MISSING.format(version=cv2.__version__, name=f"cv2.{name}"))
    return cv2, fn


def solve(views: Sequence[HandEyeView], mode: str, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(X, the board's fixed pose) from `views` with one of METHODS; see the module docstring."""
    if mode not in MODES:
        raise ValueError(f"hand-eye mode {mode!r} is not one of {MODES}")
    if method not in METHODS:
        raise ValueError(f"hand-eye method {method!r} is not one of {METHODS}")
    if len(views) < 3:
        raise CalibrationError(f"hand-eye needs at least 3 views with different arm orientations, got {len(views)}")
    arm = [v.base_from_gripper for v in views]
    if mode == "eye_to_hand":  # the same equations with the arm's poses inverted
        arm = [invert(t) for t in arm]
    board = [v.camera_from_board for v in views]
    if method in HAND_EYE_METHODS:
        cv2, fn = _require("calibrateHandEye")
        r, t = fn([a[:3, :3] for a in arm], [a[:3, 3] for a in arm], [b[:3, :3] for b in board],
                  [b[:3, 3] for b in board], method=getattr(cv2, HAND_EYE_METHODS[method]))
        x = pose(r, t)
        fixed = mean_pose([a @ x @ b for a, b in zip(arm, board)])
    else:
        cv2, fn = _require("calibrateRobotWorldHandEye")
        inv = [invert(a) for a in arm]
        r_bw, t_bw, r_gc, t_gc = fn([b[:3, :3] for b in board], [b[:3, 3] for b in board],
                                    [a[:3, :3] for a in inv], [a[:3, 3] for a in inv],
                                    method=getattr(cv2, ROBOT_WORLD_METHODS[method]))
        x = invert(pose(r_gc, t_gc))
        fixed = invert(pose(r_bw, t_bw))
    return x, fixed


def held_out_error(views: Sequence[HandEyeView], x: np.ndarray, fixed: np.ndarray, mode: str,
                   spec: CharucoBoardSpec) -> HeldOutError:
    """Predicted vs measured board pose in each view (see the module docstring)."""
    centre = np.array([[spec.size_m[0] / 2, spec.size_m[1] / 2, 0.0]])
    dt, dr = [], []
    for v in views:
        arm = v.base_from_gripper if mode == "eye_in_hand" else invert(v.base_from_gripper)
        predicted = invert(x) @ invert(arm) @ fixed
        dt.append(float(np.linalg.norm(transform(predicted, centre) - transform(v.camera_from_board, centre)) * 1000))
        dr.append(rotation_error_deg(predicted, v.camera_from_board))
    return HeldOutError(tuple(dt), tuple(dr))


def calibrate_hand_eye(views: Sequence[HandEyeView], spec: CharucoBoardSpec, mode: str = "eye_in_hand",
                       method: str = "park", holdout_every: int = 4) -> HandEyeResult:
    """Fit on all views but every `holdout_every`-th (0: no hold-out), measure on those."""
    held = [v for i, v in enumerate(views) if holdout_every and i % holdout_every == holdout_every - 1]
    fit = [v for v in views if not any(v is h for h in held)]
    x, fixed = solve(fit, mode, method)
    return HandEyeResult(mode=mode, method=method, transform=x, board_pose=fixed,
                         views_fit=tuple(v.name for v in fit), held_out=held_out_error(held, x, fixed, mode, spec))
