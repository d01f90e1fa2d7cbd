"""Calibration against ground truth: ChArUco boards rendered through a known pinhole camera at
known poses (OpenCV projection, roboalign.calib.synthetic) must give back the focal length
within 0.5 % and the hand-eye transform within 2 mm and 0.2 degrees.

Stated noise: images blurred (Gaussian, sigma 0.6 px) with pixel noise (sigma 2 grey levels of
255) at 640x480; arm poses off by sigma 0.2 mm and 0.02 degrees per axis (a good arm's
repeatability). Measured (benchmarks/calib): fx error about 0.05 %, hand-eye about 0.3 mm and
0.04 degrees; the bounds below leave room for other seeds."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    BASE_FROM_BOARD,
    BASE_FROM_CAMERA,
    GRIPPER_FROM_BOARD,
    GRIPPER_FROM_CAMERA,
    SPEC,
    K,
    needs_hand_eye_solver,
)

from roboalign.calib.board import BoardDetector
from roboalign.calib.geometry import rotation_error_deg, translation_error_mm
from roboalign.calib.handeye import HandEyeView, board_pose, calibrate_hand_eye
from roboalign.calib.intrinsics import CalibrationError, IntrinsicsGates, calibrate_intrinsics
from roboalign.calib.synthetic import ImageNoise, calibration_poses, hand_eye_arm_poses, jitter_pose
from roboalign.core.camera import Intrinsics

NOISE = ImageNoise(blur_px=0.6, noise_grey=2.0)
ARM_NOISE_M, ARM_NOISE_DEG = 0.0002, 0.02


_VIEWS: dict = {}


def views(renderer, count, seed, noise=NOISE):
    """(poses, detections) of `count` rendered views; rendered once per session (copies returned)."""
    key = (count, seed, noise)
    if key not in _VIEWS:
        rng = np.random.default_rng(seed)
        poses = calibration_poses(SPEC, count, rng)
        detector = BoardDetector(SPEC)
        _VIEWS[key] = poses, [detector.detect(renderer.render(p, noise, rng), f"view_{i:02d}")
                              for i, p in enumerate(poses)]
    poses, found = _VIEWS[key]
    return list(poses), list(found)


def test_detected_corners_land_within_a_tenth_of_a_pixel_of_the_true_projection(renderer):
    poses, found = views(renderer, 4, seed=3)
    errors = []
    for p, d in zip(poses, found):
        assert d is not None and len(d) >= 16  # a tilted board may hide a marker or two
        errors.append(np.linalg.norm(d.corners_px - renderer.projected_corners(p)[d.ids], axis=1))
    errors = np.concatenate(errors)
    assert np.median(errors) < 0.1 and errors.max() < 1.0  # a corner beside a hidden marker: up to ~0.9 px


@pytest.mark.parametrize("seed", [0, 1])
def test_intrinsics_recover_the_focal_length_within_half_a_percent(renderer, seed):
    _, found = views(renderer, 12, seed)
    result = calibrate_intrinsics(SPEC, found, IntrinsicsGates(min_views=10))
    k = result.intrinsics
    assert abs(k.fx / K[0, 0] - 1) < 0.005 and abs(k.fy / K[1, 1] - 1) < 0.005
    assert abs(k.cx - K[0, 2]) < 3.0 and abs(k.cy - K[1, 2]) < 3.0
    assert result.rms_px < 0.2 and not result.rejected


def test_too_few_views_fail_the_gate_saying_what_to_do(renderer):
    _, found = views(renderer, 12, seed=0)
    found = found[:5]
    with pytest.raises(CalibrationError, match="only 5 usable views .* tilted different ways"):
        calibrate_intrinsics(SPEC, found, IntrinsicsGates(min_views=10))


def test_a_badly_blurred_view_is_dropped_and_named(renderer):
    _, found = views(renderer, 12, seed=1)
    bad = found[3]
    shifted = type(bad)(bad.source, bad.image_size, bad.ids, bad.corners_px + np.random.default_rng(0).normal(
        0, 3.0, bad.corners_px.shape), bad.markers)  # a misdetection: corners off by pixels
    found[3] = shifted
    result = calibrate_intrinsics(SPEC, found, IntrinsicsGates(min_views=10))
    assert "view_03" in result.rejected and "reprojection error" in result.rejected["view_03"]
    assert abs(result.intrinsics.fx / K[0, 0] - 1) < 0.005


def test_a_fit_above_the_rms_gate_fails_saying_what_to_improve(renderer):
    _, found = views(renderer, 12, seed=0)
    with pytest.raises(CalibrationError, match="RMS reprojection error .* above 0.01 px: use sharper images"):
        calibrate_intrinsics(SPEC, found, IntrinsicsGates(min_views=10, max_rms_px=0.01))


def test_views_bunched_in_the_image_centre_fail_the_coverage_gate(renderer):
    _, found = views(renderer, 12, seed=0)
    centred = [type(d)(d.source, d.image_size, d.ids, (d.corners_px - [322, 238]) * 0.3 + [322, 238], d.markers)
               for d in found]  # the same views through a lens of 0.3x the focal length: consistent, bunched
    with pytest.raises(CalibrationError, match="cover only .* add views with the board near the corners"):
        calibrate_intrinsics(SPEC, centred, IntrinsicsGates(min_views=10))


CASES = {
    "eye_in_hand": (GRIPPER_FROM_CAMERA, BASE_FROM_BOARD),
    "eye_to_hand": (BASE_FROM_CAMERA, GRIPPER_FROM_BOARD),
}


_HAND_EYE: dict = {}


def hand_eye_views(renderer, mode, seed, count=16):
    """Views of the arm's poses (noisy) and the board poses measured in their images (cached)."""
    if (mode, seed) not in _HAND_EYE:
        _HAND_EYE[(mode, seed)] = _hand_eye_views(renderer, mode, seed, count)
    return list(_HAND_EYE[(mode, seed)])


def _hand_eye_views(renderer, mode, seed, count):
    camera, board = CASES[mode]
    rng = np.random.default_rng(seed)
    seen = calibration_poses(SPEC, count, rng, distance_m=(0.3, 0.5), tilt_deg=30.0)
    arm = hand_eye_arm_poses(mode, camera, board, seen)
    detector = BoardDetector(SPEC)
    intrinsics = Intrinsics(640, 480, K[0, 0], K[1, 1], K[0, 2], K[1, 2])
    out = []
    for i, (view, base_from_gripper) in enumerate(zip(seen, arm)):
        found = detector.detect(renderer.render(view, NOISE, rng), f"view_{i:02d}")
        out.append(HandEyeView(found.source, jitter_pose(base_from_gripper, ARM_NOISE_M, ARM_NOISE_DEG, rng),
                               board_pose(found, SPEC, intrinsics)))
    return out


@pytest.mark.parametrize("mode, method", [("eye_in_hand", "park"), ("eye_to_hand", "park"),
                                          ("eye_in_hand", "shah"), ("eye_to_hand", "daniilidis")])
def test_hand_eye_recovers_the_camera_mount_within_2_mm_and_0_2_degrees(renderer, mode, method):
    needs_hand_eye_solver()
    result = calibrate_hand_eye(hand_eye_views(renderer, mode, seed=0), SPEC, mode, method, holdout_every=4)
    truth = CASES[mode][0]
    assert translation_error_mm(result.transform, truth) < 2.0
    assert rotation_error_deg(result.transform, truth) < 0.2
    held = result.held_out
    assert len(held.translation_mm) == 4 and max(held.translation_mm) < 3.0 and max(held.rotation_deg) < 0.3


def test_hand_eye_with_a_wrong_arm_pose_shows_in_the_held_out_error(renderer):
    needs_hand_eye_solver()
    views_ = hand_eye_views(renderer, "eye_in_hand", seed=0)
    off = views_[3]  # a held-out view (every 4th): its arm pose reported 1 cm off
    moved = off.base_from_gripper.copy()
    moved[:3, 3] += [0.01, 0.0, 0.0]
    views_[3] = HandEyeView(off.name, moved, off.camera_from_board)
    held = calibrate_hand_eye(views_, SPEC, "eye_in_hand", "park", holdout_every=4).held_out
    assert max(held.translation_mm) > 8.0 and sorted(held.translation_mm)[-2] < 3.0
