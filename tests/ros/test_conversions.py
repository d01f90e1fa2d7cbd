"""Message <-> record conversions: round trips, joint reordering, readable errors."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")

from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import Marker

from roboalign.core.action import ActionChunk
from roboalign.core.camera import Intrinsics
from roboalign_ros.conversions import (
    camera_info_from_intrinsics,
    camera_info_msg,
    chunk_from_trajectory,
    chunk_to_trajectory,
    command_from_trajectory,
    command_to_trajectory,
    compressed_to_msg,
    depth_to_msg,
    image_from_compressed,
    image_from_msg,
    image_to_msg,
    intrinsics_from_camera_info,
    joint_state_from_msg,
    joint_state_msg,
    objects_from_markers,
    objects_to_markers,
    seconds_to_stamp,
    stamp_to_seconds,
)

NAMES = ("joint1", "joint2", "joint3", "gripper")


def test_stamps_round_trip_to_the_nanosecond():
    t = 1_795_792_778.123456789
    stamp = seconds_to_stamp(t)
    assert stamp.nanosec < 1_000_000_000
    assert abs(stamp_to_seconds(stamp) - t) < 1e-6


def test_chunk_round_trips_through_joint_trajectory():
    chunk = ActionChunk(actions=np.arange(20.0).reshape(5, 4), start_time=1234.5, dt=0.1)
    msg = chunk_to_trajectory(chunk, NAMES)
    assert stamp_to_seconds(msg.header.stamp) == pytest.approx(1234.5)
    back = chunk_from_trajectory(msg, NAMES)
    np.testing.assert_array_equal(back.actions, chunk.actions)
    assert back.dt == pytest.approx(0.1) and back.start_time == pytest.approx(1234.5)


def test_chunk_with_permuted_joint_names_is_reordered():
    chunk = ActionChunk(actions=np.arange(8.0).reshape(2, 4), start_time=1.0, dt=0.1)
    msg = chunk_to_trajectory(chunk, NAMES)
    order = [3, 0, 2, 1]
    msg.joint_names = [NAMES[i] for i in order]
    for p in msg.points:
        p.positions = [p.positions[i] for i in order]
    np.testing.assert_array_equal(chunk_from_trajectory(msg, NAMES).actions, chunk.actions)


def test_chunk_with_uneven_times_or_missing_joints_is_refused():
    chunk = ActionChunk(actions=np.zeros((3, 4)), start_time=1.0, dt=0.1)
    msg = chunk_to_trajectory(chunk, NAMES)
    msg.points[2].time_from_start.nanosec = 350_000_000
    with pytest.raises(ValueError, match="evenly spaced"):
        chunk_from_trajectory(msg, NAMES)
    msg = chunk_to_trajectory(chunk, NAMES)
    msg.joint_names = ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="lacks joints"):
        chunk_from_trajectory(msg, NAMES)


def test_command_round_trips_and_names_a_size_mismatch():
    q = np.array([0.1, -0.2, 0.3, 1.0])
    msg = command_to_trajectory(q, NAMES, Time(sec=5), 0.02)
    np.testing.assert_array_equal(command_from_trajectory(msg, NAMES), q)
    msg.points[0].positions = [0.1, 0.2]
    with pytest.raises(ValueError, match="4 joint names but 2 positions"):
        command_from_trajectory(msg, NAMES)


def test_joint_state_is_read_in_robot_order():
    msg = joint_state_msg(("gripper", "joint3", "joint2", "joint1"), [1.0, 0.3, 0.2, 0.1], [0.0, 3.0, 2.0, 1.0], Time())
    pos, vel = joint_state_from_msg(msg, NAMES)
    np.testing.assert_array_equal(pos, [0.1, 0.2, 0.3, 1.0])
    np.testing.assert_array_equal(vel, [1.0, 2.0, 3.0, 0.0])


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_images_come_back_as_rgb(encoding):
    rgb = np.random.default_rng(0).integers(0, 255, (6, 5, 3), dtype=np.uint8)
    msg = image_to_msg(rgb if encoding == "rgb8" else rgb[:, :, ::-1], Time(), "cam")
    msg.encoding = encoding
    np.testing.assert_array_equal(image_from_msg(msg), rgb)


def raw(encoding: str, pixels: np.ndarray, pad: int = 0) -> Image:
    """An Image of `encoding` holding `pixels` ([H, W, C] or [H, W]) with `pad` bytes per row."""
    h, w = pixels.shape[:2]
    rows = pixels.reshape(h, -1)
    rows = np.concatenate([rows, np.zeros((h, pad), rows.dtype)], axis=1) if pad else rows
    return Image(height=h, width=w, encoding=encoding, step=rows.shape[1] * rows.itemsize, data=rows.tobytes())


RGB = np.random.default_rng(1).integers(0, 255, (4, 6, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding, pixels, expected", [
    ("rgba8", np.concatenate([RGB, np.full((4, 6, 1), 7, np.uint8)], axis=2), RGB),
    ("bgra8", np.concatenate([RGB[:, :, ::-1], np.full((4, 6, 1), 7, np.uint8)], axis=2), RGB),
    ("mono8", RGB[:, :, 0], np.repeat(RGB[:, :, :1], 3, axis=2)),
])
def test_four_channel_and_grey_images_become_rgb(encoding, pixels, expected):
    np.testing.assert_array_equal(image_from_msg(raw(encoding, pixels, pad=2)), expected)


@pytest.mark.parametrize("encoding, code", [("yuv422", "COLOR_YUV2RGB_UYVY"), ("yuv422_yuy2", "COLOR_YUV2RGB_YUYV")])
def test_packed_yuv422_decodes_like_opencv(encoding, code):
    cv2 = pytest.importorskip("cv2")
    packed = np.random.default_rng(2).integers(16, 240, (4, 6, 2), dtype=np.uint8)
    ours = image_from_msg(raw(encoding, packed))
    theirs = cv2.cvtColor(packed, getattr(cv2, code))
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 2


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1", "mono16"])
def test_a_depth_image_is_refused_naming_the_colour_topic(encoding):
    msg = image_to_msg(np.zeros((2, 2, 3), np.uint8), Time(), "cam")
    msg.encoding = encoding
    with pytest.raises(ValueError, match="not colour: connect the policy's camera to the colour topic"):
        image_from_msg(msg)


def test_unsupported_image_encoding_says_what_to_publish():
    msg = image_to_msg(np.zeros((2, 2, 3), np.uint8), Time(), "cam")
    msg.encoding = "bayer_rggb8"
    with pytest.raises(ValueError, match="publish one of rgb8, bgr8"):
        image_from_msg(msg)


def test_a_short_image_buffer_is_refused():
    msg = raw("rgb8", RGB)
    msg.data = msg.data[:-1]
    with pytest.raises(ValueError, match="has 71 bytes"):
        image_from_msg(msg)


def test_jpeg_compressed_images_round_trip_close_to_the_original():
    pytest.importorskip("cv2")
    smooth = np.zeros((32, 48, 3), np.uint8)
    smooth[..., 0] = np.linspace(0, 255, 48, dtype=np.uint8)[None, :]
    smooth[..., 2] = 180
    msg = compressed_to_msg(smooth, seconds_to_stamp(12.5), "cam", quality=95)
    assert msg.format == "rgb8; jpeg compressed bgr8" and len(msg.data) < smooth.nbytes
    back = image_from_compressed(msg)
    assert back.shape == smooth.shape and np.abs(back.astype(int) - smooth.astype(int)).mean() < 3


def test_compressed_depth_and_garbage_are_refused():
    with pytest.raises(ValueError, match="is depth"):
        image_from_compressed(CompressedImage(format="16UC1; compressedDepth png", data=b"x"))
    pytest.importorskip("cv2")
    with pytest.raises(ValueError, match="does not decode"):
        image_from_compressed(CompressedImage(format="jpeg", data=b"not a jpeg"))


def test_depth_travels_as_16uc1_millimetres():
    depth = np.array([[0, 1000], [65535, 412]], np.uint16)
    msg = depth_to_msg(depth, Time(), "cam")
    assert msg.encoding == "16UC1" and msg.step == 4
    np.testing.assert_array_equal(np.frombuffer(msg.data, "<u2").reshape(2, 2), depth)


def test_intrinsics_round_trip_through_camera_info():
    k = Intrinsics(640, 480, 605.1, 604.9, 321.2, 243.8, "plumb_bob", (0.1, -0.2, 0.001, 0.002, 0.05))
    info = camera_info_from_intrinsics(k, Time(), "cam")
    assert info.distortion_model == "plumb_bob" and list(info.p)[:3] == [605.1, 0.0, 321.2]
    assert intrinsics_from_camera_info(info) == k
    plain = Intrinsics(64, 48, 50.0, 50.0, 32.0, 24.0)
    assert intrinsics_from_camera_info(camera_info_from_intrinsics(plain, Time(), "cam")) == plain


def test_an_uncalibrated_camera_info_is_refused():
    with pytest.raises(ValueError, match="not calibrated"):
        intrinsics_from_camera_info(CameraInfo(width=64, height=48))


def test_object_positions_round_trip_through_markers_and_skip_non_points():
    objects = {"red_block": np.array([0.3, 0.1, 0.02]), "target_index": np.array([2])}
    msg = objects_to_markers(objects, Time(), "world")
    assert [m.ns for m in msg.markers] == ["red_block"] and msg.markers[0].action == Marker.ADD
    back = objects_from_markers(msg)
    np.testing.assert_allclose(back["red_block"], objects["red_block"])


def test_camera_info_carries_the_pinhole_matrix():
    info = camera_info_msg(128, 96, 100.0, 101.0, 64.0, 48.0, Time(), "cam")
    assert list(info.k) == [100.0, 0.0, 64.0, 0.0, 101.0, 48.0, 0.0, 0.0, 1.0]
