"""`roboalign calib ...`: print a ChArUco board, calibrate a camera, locate it on the arm.

  roboalign calib board --out calibration/board.png [--squares 7x5 --square-mm 30 --marker-mm 22 --dpi 300]
      the printable board (PNG at true size for that dpi) and board.yaml beside it.
  roboalign calib intrinsics --robot R --camera-name front (--images DIR | --camera SOURCE --views N)
      intrinsics from a folder of board images or a live camera (a source string: realsense:SERIAL,
      /dev/video0, ...), gated on reprojection error and coverage; writes calibration/R/front.yaml
      (ROS camera_info YAML) and front_corners.png (the detected corners of every view).
  roboalign calib handeye --robot R --camera-name front --views DIR --mode eye_in_hand|eye_to_hand
      the camera's pose on the gripper (or in the base) from board images + the arm's poses
      (DIR/poses.yaml), with OpenCV's solvers and held-out errors in mm and degrees; writes
      calibration/R/front_handeye.yaml.

Step by step for a lab: calibration/README.md and docs/cameras.md.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from roboalign.arguments import float_range, int_range
from roboalign.errors import UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _squares(text: str) -> tuple[int, int]:
    x, sep, y = text.lower().partition("x")
    if not sep or not x.isdigit() or not y.isdigit() or int(x) < 3 or int(y) < 3 or int(x) > 40 or int(y) > 40:
        raise argparse.ArgumentTypeError(f"expected COLUMNSxROWS of squares between 3 and 40, e.g. 7x5, got {text!r}")
    return int(x), int(y)


def _name(text: str) -> str:
    if not text or not all(c.isalnum() or c in "_-" for c in text):
        raise argparse.ArgumentTypeError(f"use letters, digits, '_' and '-' only, got {text!r}")
    return text


def register(subparsers: argparse._SubParsersAction) -> None:
    calib = subparsers.add_parser("calib", help="camera calibration: ChArUco board, intrinsics, hand-eye")
    sub = calib.add_subparsers(dest="calib_command", metavar="SUBCOMMAND")
    calib.set_defaults(func=lambda args: (calib.print_help(), 2)[1])

    board = sub.add_parser("board", help="write a printable ChArUco board (PNG at true size) and board.yaml")
    board.add_argument("--out", type=Path, default=Path("calibration/board.png"), help="PNG path (board.yaml beside it)")
    board.add_argument("--squares", type=_squares, default=(7, 5), help="COLUMNSxROWS of squares (default 7x5)")
    board.add_argument("--square-mm", type=float_range(5.0, 500.0), default=30.0, help="square side, mm (default 30)")
    board.add_argument("--marker-mm", type=float_range(3.0, 500.0), default=22.0, help="marker side, mm (default 22)")
    board.add_argument("--dictionary", default="DICT_5X5_100", help="ArUco dictionary (default DICT_5X5_100)")
    board.add_argument("--dpi", type=int_range(72, 2400), default=300, help="printer resolution (default 300)")
    board.add_argument("--margin-mm", type=float_range(0.0, 100.0), default=10.0, help="white margin, mm (default 10)")
    board.set_defaults(func=_board)

    intr = sub.add_parser("intrinsics", help="camera intrinsics from board images (a folder or a live camera)")
    _target(intr)
    src = intr.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", type=Path, help="folder of board images (png, jpg)")
    src.add_argument("--camera", help="live camera source: realsense[:SERIAL], /dev/videoN, opencv:..., a .db3")
    intr.add_argument("--views", type=int_range(3, 500), default=20, help="live: views to collect (default 20)")
    intr.add_argument("--interval-s", type=float_range(0.0, 60.0), default=0.5,
                      help="live: at least this long between views (default 0.5 s)")
    intr.add_argument("--timeout-s", type=float_range(1.0, 3600.0), default=300.0, help="live: give up after (default 300 s)")
    intr.add_argument("--width", type=int_range(0, 8192), default=640, help="live: image width (default 640)")
    intr.add_argument("--height", type=int_range(0, 8192), default=480, help="live: image height (default 480)")
    intr.add_argument("--min-views", type=int_range(3, 1000), default=10, help="gate: views needed (default 10)")
    intr.add_argument("--min-corners", type=int_range(4, 10000), default=8, help="gate: corners per view (default 8)")
    intr.add_argument("--max-rms", type=float_range(0.0, 10.0, low_open=True), default=0.5,
                      help="gate: RMS reprojection error, px (default 0.5)")
    intr.add_argument("--max-view-rms", type=float_range(0.0, 20.0, low_open=True), default=1.0,
                      help="views above this error, px, are dropped and the fit rerun (default 1.0)")
    intr.add_argument("--min-coverage", type=float_range(0.0, 1.0), default=0.5,
                      help="gate: fraction of a 4x4 image grid the corners must touch (default 0.5)")
    intr.set_defaults(func=_intrinsics)

    he = sub.add_parser("handeye", help="the camera's pose on the arm from board views at known arm poses")
    _target(he)
    he.add_argument("--views", type=Path, required=True, help="folder of board images and poses.yaml")
    he.add_argument("--mode", choices=("eye_in_hand", "eye_to_hand"), required=True,
                    help="eye_in_hand: camera on the gripper, board still; eye_to_hand: camera still, board held")
    he.add_argument("--method", default="park", choices=("tsai", "park", "horaud", "andreff", "daniilidis", "shah", "li"),
                    help="OpenCV solver (default park)")
    he.add_argument("--intrinsics", type=Path, default=None, help="camera_info YAML (default calibration/R/CAMERA.yaml)")
    he.add_argument("--holdout-every", type=int_range(0, 100), default=4,
                    help="leave every N-th view out of the fit to measure the error on it (0: none; default 4)")
    he.add_argument("--max-error-mm", type=float_range(0.0, 1000.0, low_open=True), default=5.0,
                    help="gate: median held-out board-centre error, mm (default 5)")
    he.add_argument("--max-error-deg", type=float_range(0.0, 180.0, low_open=True), default=1.0,
                    help="gate: median held-out rotation error, degrees (default 1)")
    he.add_argument("--camera-frame", default=None, help="child frame name (default CAMERA_optical_frame)")
    he.set_defaults(func=_handeye)


def _target(p: argparse.ArgumentParser) -> None:
    p.add_argument("--robot", type=_name, required=True, help="robot name: results go to calibration/ROBOT/")
    p.add_argument("--camera-name", type=_name, required=True, help="camera name (front, wrist): the file name")
    p.add_argument("--board", type=Path, default=Path("calibration/board.yaml"), help="board.yaml (default calibration/board.yaml)")
    p.add_argument("--calibration-dir", type=Path, default=Path("calibration"), help="results root (default calibration)")


def _load_board(path: Path):
    from roboalign.calib.files import load_board

    if not path.is_file():
        raise UsageError(f"--board {path}: not found; write one with `roboalign calib board` (and put in the measured "
                         "square size)")
    return load_board(path)


# ---- board --------------------------------------------------------------------------------------
def _board(args: argparse.Namespace) -> int:
    from roboalign.calib.board import CharucoBoardSpec, printable, write_png
    from roboalign.calib.files import save_board

    if args.marker_mm >= args.square_mm:
        raise UsageError(f"--marker-mm ({args.marker_mm:g}) must be smaller than --square-mm ({args.square_mm:g})")
    try:
        spec = CharucoBoardSpec(args.squares[0], args.squares[1], args.square_mm / 1000.0, args.marker_mm / 1000.0,
                                args.dictionary)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    image = printable(spec, args.dpi, args.margin_mm)
    png = write_png(args.out, image, dpi=args.dpi)
    yaml_path = save_board(args.out.with_suffix(".yaml"), spec)
    w_mm, h_mm = (s * 25.4 / args.dpi for s in image.shape[1::-1])
    print(f"wrote {png} ({image.shape[1]}x{image.shape[0]} px = {w_mm:.0f} x {h_mm:.0f} mm at {args.dpi} dpi) and "
          f"{yaml_path}; print at 100 % scale, measure a square and correct square_m in {yaml_path.name}")
    return 0


# ---- intrinsics -----------------------------------------------------------------------------------
def _read_folder(folder: Path) -> list[tuple[str, np.ndarray]]:
    from roboalign.calib.board import cv2_module

    cv2 = cv2_module()
    if not folder.is_dir():
        raise UsageError(f"--images {folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f"--images {folder}: no {', '.join(IMAGE_SUFFIXES)} images in it")
    out = []
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise UsageError(f"{path}: not a readable image")
        out.append((path.name, image))
    return out


def _capture_live(args: argparse.Namespace, detector, save_dir: Path) -> list[tuple[str, np.ndarray]]:
    """Views from a live camera: one kept whenever the board is seen with enough corners and
    has moved since the last kept view (a new pose, not the same one twice)."""
    from tqdm import tqdm

    from roboalign.calib.board import write_png
    from roboalign.core.camera import CameraError
    from roboalign.sensors.sources import open_source

    try:
        camera = open_source(args.camera_name, args.camera, width=args.width, height=args.height, depth=False)
    except ValueError as exc:
        raise UsageError(f"--camera: {exc}") from None
    camera.connect()  # CameraError (exit 1) says what to check
    views, last, last_time = [], None, 0.0
    deadline = time.monotonic() + args.timeout_s
    bar = tqdm(total=args.views, unit="view", desc=f"move the board in front of {args.camera_name}")
    try:
        while len(views) < args.views:
            if time.monotonic() > deadline:
                raise UsageError(f"--camera: only {len(views)} of {args.views} views in {args.timeout_s:g} s; is the "
                                 "board in view and lit?")
            try:
                frame = camera.read(2.0)
            except CameraError as exc:
                bar.set_postfix_str(str(exc)[:60])
                continue
            found = detector.detect(frame.image)
            if found is None or len(found) < args.min_corners or time.monotonic() - last_time < args.interval_s:
                continue
            moved = last is None or np.median(np.linalg.norm(found.corners_px.mean(0) - last, axis=-1)) > 20.0
            if not moved:
                continue
            name = f"view_{len(views):03d}.png"
            write_png(save_dir / name, frame.image)
            views.append((name, frame.image))
            last, last_time = found.corners_px.mean(0), time.monotonic()
            bar.update(1)
    finally:
        bar.close()
        camera.disconnect()
    return views


def _intrinsics(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from roboalign.calib.board import BoardDetector, write_png
    from roboalign.calib.files import save_intrinsics
    from roboalign.calib.intrinsics import IntrinsicsGates, calibrate_intrinsics
    from roboalign.calib.report import corner_report

    spec = _load_board(args.board)
    detector = BoardDetector(spec)
    out_dir = args.calibration_dir / args.robot
    if args.images is not None:
        views = _read_folder(args.images)
        source = str(args.images)
    else:
        views = _capture_live(args, detector, out_dir / f"{args.camera_name}_views")
        source = f"{args.camera} (views saved in {out_dir / (args.camera_name + '_views')})"
    detections = [detector.detect(image, name) for name, image in tqdm(views, unit="img", desc="detecting corners")]
    gates = IntrinsicsGates(min_views=args.min_views, min_corners=args.min_corners, max_view_rms_px=args.max_view_rms,
                            max_rms_px=args.max_rms, min_coverage=args.min_coverage)
    report_path = out_dir / f"{args.camera_name}_corners.png"
    try:
        result = calibrate_intrinsics(spec, detections, gates, names=[n for n, _ in views])
    except Exception:
        write_png(report_path, corner_report([(n, img, d) for (n, img), d in zip(views, detections)], spec))
        print(f"detected corners: {report_path}")
        raise
    labels = {n: f"{e:.2f} px" for n, e in result.view_rms_px.items()} | result.rejected
    write_png(report_path, corner_report([(n, img, d) for (n, img), d in zip(views, detections)], spec,
                                         result.intrinsics, labels))
    out = save_intrinsics(out_dir / f"{args.camera_name}.yaml", args.camera_name, result.intrinsics, {
        "rms_px": round(result.rms_px, 4), "views_used": len(result.view_rms_px), "corners": result.corners,
        "coverage": round(result.coverage, 3), "std_fx_fy_cx_cy_px": [round(s, 3) for s in result.std_px],
        "rejected": result.rejected, "source": source, "board": str(args.board)})
    print(f"{args.camera_name}: {result.summary()}")
    print(f"wrote {out} and {report_path}")
    return 0


# ---- hand-eye -------------------------------------------------------------------------------------
def _handeye(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from roboalign.calib.board import BoardDetector, cv2_module, write_png
    from roboalign.calib.files import CameraMount, load_arm_poses, load_intrinsics, save_hand_eye
    from roboalign.calib.handeye import HandEyeView, board_pose, calibrate_hand_eye
    from roboalign.calib.intrinsics import CalibrationError
    from roboalign.calib.report import corner_report

    cv2 = cv2_module()
    spec = _load_board(args.board)
    out_dir = args.calibration_dir / args.robot
    intrinsics = load_intrinsics(args.intrinsics or out_dir / f"{args.camera_name}.yaml")
    arm = load_arm_poses(args.views / "poses.yaml")
    detector = BoardDetector(spec)
    views, shown = [], []
    for name, base_from_gripper in tqdm(arm.views, unit="view", desc="board poses"):
        image = cv2.imread(str(args.views / name), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise UsageError(f"{args.views / name}: missing or not an image (listed in poses.yaml)")
        if (image.shape[1], image.shape[0]) != (intrinsics.width, intrinsics.height):
            raise UsageError(f"{name} is {image.shape[1]}x{image.shape[0]}, the intrinsics are for "
                             f"{intrinsics.width}x{intrinsics.height}")
        found = detector.detect(image, name)
        shown.append((name, image, found))
        if found is None or len(found) < 6:
            continue
        views.append(HandEyeView(name, base_from_gripper, board_pose(found, spec, intrinsics)))
    report_path = out_dir / f"{args.camera_name}_handeye_corners.png"
    write_png(report_path, corner_report(shown, spec, intrinsics))
    if len(views) < 5:
        raise CalibrationError(f"the board was found in {len(views)} of {len(arm.views)} views (need 5 or more; "
                               f"see {report_path})")
    result = calibrate_hand_eye(views, spec, args.mode, args.method, args.holdout_every)
    held = result.held_out
    print(f"{args.camera_name} ({args.mode}, {args.method}): {len(result.views_fit)} views fit; {held.summary()}")
    if held.translation_mm:
        median_mm, median_deg = float(np.median(held.translation_mm)), float(np.median(held.rotation_deg))
        if median_mm > args.max_error_mm or median_deg > args.max_error_deg:
            raise CalibrationError(f"held-out error {median_mm:.2f} mm / {median_deg:.3f} deg is above the gate "
                                   f"({args.max_error_mm:g} mm / {args.max_error_deg:g} deg): check the arm poses "
                                   "(TCP, not flange?), the intrinsics and the board's measured size")
    parent = arm.gripper_frame if args.mode == "eye_in_hand" else arm.base_frame
    child = args.camera_frame or f"{args.camera_name}_optical_frame"
    out = save_hand_eye(out_dir / f"{args.camera_name}_handeye.yaml", CameraMount(parent, child, result.transform), {
        "mode": args.mode, "method": args.method, "views_fit": len(result.views_fit),
        "held_out_views": len(held.translation_mm),
        "held_out_translation_mm": [round(v, 3) for v in held.translation_mm],
        "held_out_rotation_deg": [round(v, 4) for v in held.rotation_deg],
        "intrinsics": str(args.intrinsics or out_dir / f"{args.camera_name}.yaml"), "board": str(args.board)})
    t = result.transform[:3, 3]
    print(f"{child} in {parent}: translation [{t[0]:.4f}, {t[1]:.4f}, {t[2]:.4f}] m; wrote {out} and {report_path}")
    return 0
