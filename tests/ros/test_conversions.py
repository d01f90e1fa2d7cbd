"""Message <-> record conversions: round trips, joint reordering, readable errors."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")

from builtin_interfaces.msg import Time
from visualization_msgs.msg import Marker

from roboalign.core.action import ActionChunk
from roboalign_ros.conversions import (
    camera_info_msg,
    chunk_from_trajectory,
    chunk_to_trajectory,
    command_from_trajectory,
    command_to_trajectory,
    image_from_msg,
    image_to_msg,
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


def test_unsupported_image_encoding_says_what_to_publish():
    msg = image_to_msg(np.zeros((2, 2, 3), np.uint8), Time(), "cam")
    msg.encoding = "mono16"
    with pytest.raises(ValueError, match="publish rgb8 or bgr8"):
        image_from_msg(msg)


def test_object_positions_round_trip_through_markers_and_skip_non_points():
    objects = {"red_block": np.array([0.3, 0.1, 0.02]), "target_index": np.array([2])}
    msg = objects_to_markers(objects, Time(), "world")
    assert [m.ns for m in msg.markers] == ["red_block"] and msg.markers[0].action == Marker.ADD
    back = objects_from_markers(msg)
    np.testing.assert_allclose(back["red_block"], objects["red_block"])


def test_camera_info_carries_the_pinhole_matrix():
    info = camera_info_msg(128, 96, 100.0, 101.0, 64.0, 48.0, Time(), "cam")
    assert list(info.k) == [100.0, 0.0, 64.0, 0.0, 101.0, 48.0, 0.0, 0.0, 1.0]
