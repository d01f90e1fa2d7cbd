"""`roboalign calib board|intrinsics|handeye` end to end on rendered board images: the files a
lab gets (board PNG at true size, camera_info YAML, hand-eye YAML, report images) and the one
line it reads when something is wrong."""
from __future__ import annotations

import struct

import numpy as np
import pytest
from cli_helpers import cli_mistake
from conftest import BASE_FROM_BOARD, GRIPPER_FROM_CAMERA, SPEC, K, needs_hand_eye_solver

from roboalign.calib.board import BoardDetector, write_png
from roboalign.calib.files import ArmPoses, load_board, load_hand_eye, load_intrinsics, save_arm_poses, save_board
from roboalign.calib.geometry import rotation_error_deg, translation_error_mm
from roboalign.calib.synthetic import ImageNoise, calibration_poses, hand_eye_arm_poses
from roboalign.cli import main


def png_dpi(path) -> float:
    data = path.read_bytes()
    at = data.index(b"pHYs")
    per_metre, _, unit = struct.unpack(">IIB", data[at + 4:at + 13])
    assert unit == 1
    return per_metre * 0.0254


def test_board_is_written_at_true_size_for_the_printer_with_its_description(tmp_path, capsys):
    out = tmp_path / "board.png"
    assert main(["calib", "board", "--out", str(out), "--squares", "8x6", "--square-mm", "25", "--marker-mm", "18",
                 "--dpi", "150", "--margin-mm", "10"]) == 0
    cv2 = pytest.importorskip("cv2")
    image = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    square_px, margin_px = round(25 / 25.4 * 150), round(10 / 25.4 * 150)
    assert image.shape == (6 * square_px + 2 * margin_px, 8 * square_px + 2 * margin_px)
    assert png_dpi(out) == pytest.approx(150, abs=0.1)
    spec = load_board(tmp_path / "board.yaml")
    assert (spec.squares_x, spec.squares_y, spec.square_m, spec.marker_m) == (8, 6, 0.025, 0.018)
    assert BoardDetector(spec).detect(image) is not None  # what was printed is what gets detected
    assert "print at 100 % scale" in capsys.readouterr().out


@pytest.mark.parametrize("argv, code, message", [
    (["--dpi", "10"], 2, "--dpi: must be between 72 and 2400"),
    (["--squares", "7by5"], 2, "--squares: expected COLUMNSxROWS"),
    (["--marker-mm", "30"], 2, "--marker-mm (30) must be smaller than --square-mm (30)"),
    (["--dictionary", "DICT_4X4_1"], 2, "unknown ArUco dictionary"),
    (["--squares", "20x20", "--dictionary", "DICT_4X4_50"], 2, "needs 200 markers; DICT_4X4_50 has 50"),
])
def test_board_flags_out_of_range_are_refused_in_one_line(tmp_path, capsys, argv, code, message):
    got, line = cli_mistake(capsys, ["calib", "board", "--out", str(tmp_path / "b.png"), *argv])
    assert got == code and message in line


@pytest.fixture(scope="module")
def lab(tmp_path_factory, renderer):
    """A lab folder: board.yaml and 12 rendered views of it through K."""
    root = tmp_path_factory.mktemp("lab")
    save_board(root / "board.yaml", SPEC)
    rng = np.random.default_rng(0)
    for i, p in enumerate(calibration_poses(SPEC, 12, rng)):
        write_png(root / "views" / f"img_{i:02d}.png", renderer.render(p, ImageNoise(), rng))
    return root


def test_intrinsics_from_a_folder_write_camera_info_yaml_and_the_corner_report(lab, tmp_path, capsys):
    cal = tmp_path / "calibration"
    assert main(["calib", "intrinsics", "--robot", "lab_arm", "--camera-name", "front", "--images", str(lab / "views"),
                 "--board", str(lab / "board.yaml"), "--calibration-dir", str(cal)]) == 0
    k = load_intrinsics(cal / "lab_arm" / "front.yaml")
    assert abs(k.fx / K[0, 0] - 1) < 0.005 and (k.width, k.height) == (640, 480) and k.distortion_model == "plumb_bob"
    assert (cal / "lab_arm" / "front_corners.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "RMS" in out and "12 views" in out


def test_intrinsics_from_too_few_images_fail_in_one_line_and_still_show_the_corners(lab, tmp_path, capsys):
    few = tmp_path / "few"
    few.mkdir()
    for src in sorted((lab / "views").iterdir())[:4]:
        (few / src.name).write_bytes(src.read_bytes())
    code, line = cli_mistake(capsys, ["calib", "intrinsics", "--robot", "lab_arm", "--camera-name", "front",
                                      "--images", str(few), "--board", str(lab / "board.yaml"),
                                      "--calibration-dir", str(tmp_path / "cal")])
    assert code == 1 and "only 4 usable views of 4 (need 10)" in line
    assert (tmp_path / "cal" / "lab_arm" / "front_corners.png").is_file()


def test_a_missing_board_file_says_how_to_make_one(tmp_path, capsys):
    code, line = cli_mistake(capsys, ["calib", "intrinsics", "--robot", "r", "--camera-name", "front", "--images",
                                      str(tmp_path), "--board", str(tmp_path / "nope.yaml")])
    assert code == 2 and "roboalign calib board" in line


def test_a_live_camera_that_is_not_there_is_one_line(lab, tmp_path, capsys):
    pytest.importorskip("pyrealsense2")
    code, line = cli_mistake(capsys, ["calib", "intrinsics", "--robot", "r", "--camera-name", "front", "--camera",
                                      "realsense:000000000001", "--board", str(lab / "board.yaml"),
                                      "--calibration-dir", str(tmp_path)])
    assert code == 1 and "no RealSense camera is connected" in line


def test_handeye_from_images_and_arm_poses_writes_the_camera_mount(lab, renderer, tmp_path, capsys):
    needs_hand_eye_solver()
    cal = tmp_path / "calibration"
    (cal / "lab_arm").mkdir(parents=True)
    (cal / "lab_arm" / "wrist.yaml").write_text(
        f"image_width: 640\nimage_height: 480\ncamera_name: wrist\ncamera_matrix: {{rows: 3, cols: 3, data: "
        f"{K.reshape(-1).tolist()}}}\ndistortion_model: plumb_bob\ndistortion_coefficients: {{rows: 1, cols: 5, "
        "data: [0, 0, 0, 0, 0]}\n")
    rng = np.random.default_rng(7)
    seen = calibration_poses(SPEC, 12, rng, distance_m=(0.3, 0.5), tilt_deg=30.0)
    arm = hand_eye_arm_poses("eye_in_hand", GRIPPER_FROM_CAMERA, BASE_FROM_BOARD, seen)
    names = []
    for i, view in enumerate(seen):
        names.append(f"view_{i:02d}.png")
        write_png(tmp_path / "he" / names[-1], renderer.render(view, ImageNoise(), rng))
    save_arm_poses(tmp_path / "he" / "poses.yaml", ArmPoses("base_link", "tool0", tuple(zip(names, arm))))
    assert main(["calib", "handeye", "--robot", "lab_arm", "--camera-name", "wrist", "--views", str(tmp_path / "he"),
                 "--mode", "eye_in_hand", "--board", str(lab / "board.yaml"), "--calibration-dir", str(cal)]) == 0
    mount = load_hand_eye(cal / "lab_arm" / "wrist_handeye.yaml")
    assert (mount.parent, mount.child) == ("tool0", "wrist_optical_frame")
    assert translation_error_mm(mount.transform, GRIPPER_FROM_CAMERA) < 2.0
    assert rotation_error_deg(mount.transform, GRIPPER_FROM_CAMERA) < 0.2
    assert "held out 3 views" in capsys.readouterr().out
    assert (cal / "lab_arm" / "wrist_handeye_corners.png").is_file()


def test_handeye_with_a_malformed_poses_file_points_at_the_line(lab, tmp_path, capsys):
    (tmp_path / "he").mkdir()
    (tmp_path / "he" / "poses.yaml").write_text(
        "base_frame: base_link\nviews:\n  - image: a.png\n    translation_m: [0.1, 0.2]\n    rotation_xyzw: [0, 0, 0, 1]\n")
    (tmp_path / "cal" / "r").mkdir(parents=True)
    (tmp_path / "cal" / "r" / "front.yaml").write_text(
        "image_width: 64\nimage_height: 48\ncamera_matrix: {rows: 3, cols: 3, data: [50, 0, 32, 0, 50, 24, 0, 0, 1]}\n")
    code, line = cli_mistake(capsys, ["calib", "handeye", "--robot", "r", "--camera-name", "front", "--views",
                                      str(tmp_path / "he"), "--mode", "eye_in_hand", "--board", str(lab / "board.yaml"),
                                      "--calibration-dir", str(tmp_path / "cal")])
    assert code == 2 and "poses.yaml:4" in line and "translation_m must be a list of 3 numbers" in line


def test_intrinsics_from_a_live_camera_collect_views_then_calibrate(lab, renderer, tmp_path, capsys):
    """A live source (here an OpenCV video of the board moving; a UVC camera or a RealSense the
    same way): views are kept as the board moves, saved, then calibrated."""
    cv2 = pytest.importorskip("cv2")
    clip = tmp_path / "waving.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 100)
    rng = np.random.default_rng(3)
    for p in calibration_poses(SPEC, 14, rng):
        writer.write(cv2.cvtColor(renderer.render(p, ImageNoise(), rng), cv2.COLOR_GRAY2BGR))
    writer.release()
    cal = tmp_path / "calibration"
    assert main(["calib", "intrinsics", "--robot", "lab_arm", "--camera-name", "wrist", "--camera", f"opencv:{clip}",
                 "--views", "12", "--interval-s", "0", "--board", str(lab / "board.yaml"),
                 "--calibration-dir", str(cal)]) == 0
    k = load_intrinsics(cal / "lab_arm" / "wrist.yaml")
    assert abs(k.fx / K[0, 0] - 1) < 0.005
    assert len(list((cal / "lab_arm" / "wrist_views").glob("view_*.png"))) == 12
