"""Calibration accuracy against ground truth, swept over image noise, view count and arm noise.

ChArUco boards (7x5, 30 mm squares) are rendered through a known pinhole camera (640x480,
fx 520, fy 518) at random poses (roboalign.calib.synthetic), detected and calibrated exactly as
`roboalign calib` does; the errors are against the known camera and the known camera mount.

    python benchmarks/calib/bench_calib.py --seeds 3 --out benchmarks/calib/results-dev-2core.json

The tests (tests/calib/test_calibration_ground_truth.py) pin one point of this sweep; this
shows how the errors grow with worse images, fewer views and a less repeatable arm.
"""
from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from pathlib import Path

import numpy as np

from roboalign.calib.board import BoardDetector, CharucoBoardSpec
from roboalign.calib.geometry import pose, rotation_about, rotation_error_deg, translation_error_mm
from roboalign.calib.handeye import METHODS, HandEyeView, board_pose, calibrate_hand_eye
from roboalign.calib.intrinsics import CalibrationError, IntrinsicsGates, calibrate_intrinsics
from roboalign.calib.synthetic import BoardRenderer, ImageNoise, calibration_poses, hand_eye_arm_poses, jitter_pose
from roboalign.core.camera import Intrinsics

SPEC = CharucoBoardSpec(7, 5, 0.030, 0.022, "DICT_5X5_100")
K = np.array([[520.0, 0.0, 322.0], [0.0, 518.0, 238.5], [0.0, 0.0, 1.0]])
CASES = {"eye_in_hand": (pose(rotation_about("z", 90) @ rotation_about("x", -10), [0.05, -0.03, 0.08]),
                         pose(rotation_about("z", 20), [0.5, 0.1, 0.0])),
         "eye_to_hand": (pose(rotation_about("x", 160) @ rotation_about("z", 30), [0.6, 0.2, 0.7]),
                         pose(rotation_about("y", 180), [0.0, 0.0, 0.12]))}


def intrinsics_sweep(renderer, seeds: int) -> list[dict]:
    detector = BoardDetector(SPEC)
    rows = []
    for (blur, grey), views, seed in itertools.product([(0.6, 2.0), (1.2, 6.0), (2.0, 10.0)], [10, 20], range(seeds)):
        rng = np.random.default_rng(seed)
        found = [detector.detect(renderer.render(p, ImageNoise(blur, grey), rng), f"v{i}")
                 for i, p in enumerate(calibration_poses(SPEC, views, rng))]
        row = {"blur_px": blur, "noise_grey": grey, "views": views, "seed": seed,
               "boards_found": sum(d is not None for d in found)}
        try:
            r = calibrate_intrinsics(SPEC, found, IntrinsicsGates(min_views=min(10, views), max_rms_px=5.0))
            k = r.intrinsics
            row.update(fx_error_pct=100 * (k.fx / K[0, 0] - 1), fy_error_pct=100 * (k.fy / K[1, 1] - 1),
                       cx_error_px=k.cx - K[0, 2], cy_error_px=k.cy - K[1, 2], rms_px=r.rms_px,
                       rejected=len(r.rejected))
        except CalibrationError as exc:
            row["failed"] = str(exc)
        rows.append(row)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    return rows


def hand_eye_sweep(renderer, seeds: int) -> list[dict]:
    detector = BoardDetector(SPEC)
    intr = Intrinsics(640, 480, K[0, 0], K[1, 1], K[0, 2], K[1, 2])
    rows = []
    for mode, (arm_mm, arm_deg), seed in itertools.product(CASES, [(0.0, 0.0), (0.2, 0.02), (0.5, 0.05), (1.0, 0.1)],
                                                          range(seeds)):
        camera, board = CASES[mode]
        rng = np.random.default_rng(seed)
        seen = calibration_poses(SPEC, 16, rng, distance_m=(0.3, 0.5), tilt_deg=30.0)
        views = []
        for i, (view, arm) in enumerate(zip(seen, hand_eye_arm_poses(mode, camera, board, seen))):
            found = detector.detect(renderer.render(view, ImageNoise(), rng), f"v{i}")
            views.append(HandEyeView(found.source, jitter_pose(arm, arm_mm / 1000, arm_deg, rng),
                                     board_pose(found, SPEC, intr)))
        for method in METHODS:
            r = calibrate_hand_eye(views, SPEC, mode, method, holdout_every=4)
            row = {"mode": mode, "method": method, "arm_noise_mm": arm_mm, "arm_noise_deg": arm_deg, "seed": seed,
                   "translation_error_mm": translation_error_mm(r.transform, camera),
                   "rotation_error_deg": rotation_error_deg(r.transform, camera),
                   "held_out_median_mm": float(np.median(r.held_out.translation_mm)),
                   "held_out_median_deg": float(np.median(r.held_out.rotation_deg))}
            rows.append(row)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rows[-len(METHODS)].items()}),
              flush=True)
    return rows


def summarise(rows: list[dict], keys: tuple[str, ...], values: tuple[str, ...]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if "failed" not in row:
            groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    return [{**dict(zip(keys, g)), **{f"max_abs_{v}": round(float(max(abs(r[v]) for r in rs)), 4) for v in values},
             "runs": len(rs)} for g, rs in groups.items()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    import cv2

    renderer = BoardRenderer(SPEC, K, (640, 480))
    t0 = time.perf_counter()
    intr = intrinsics_sweep(renderer, args.seeds)
    hand = hand_eye_sweep(renderer, args.seeds)
    result = {
        "machine": f"{platform.machine()} {platform.system()}, OpenCV {cv2.__version__}",
        "camera": {"size": [640, 480], "fx": K[0, 0], "fy": K[1, 1]},
        "board": {"squares": [SPEC.squares_x, SPEC.squares_y], "square_m": SPEC.square_m},
        "wall_s": round(time.perf_counter() - t0, 1),
        "intrinsics_summary": summarise(intr, ("blur_px", "noise_grey", "views"), ("fx_error_pct", "cx_error_px")),
        "hand_eye_summary": summarise(hand, ("mode", "method", "arm_noise_mm"),
                                      ("translation_error_mm", "rotation_error_deg", "held_out_median_mm")),
        "intrinsics_runs": intr,
        "hand_eye_runs": hand,
    }
    if args.out:  # one line per row: the file stays readable in a diff
        lines = []
        for key, value in result.items():
            if isinstance(value, list):
                lines.append(f' "{key}": [\n' + ",\n".join("  " + json.dumps(row) for row in value) + "\n ]")
            else:
                lines.append(f' "{key}": {json.dumps(value)}')
        args.out.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    print(json.dumps({k: result[k] for k in ("wall_s", "intrinsics_summary")}, indent=1))
    for row in result["hand_eye_summary"]:
        if row["method"] in ("park", "shah"):
            print(row)


if __name__ == "__main__":
    main()
