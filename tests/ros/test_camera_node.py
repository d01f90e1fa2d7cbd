"""The camera node in a real rclpy graph: a RealSense recording played through its real
pyrealsense2 pipeline, a missing device said at once, the lifecycle, the calibration file, a
device that drops out and comes back, JPEG for remote consumers."""
from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("pyrealsense2")
cv2 = pytest.importorskip("cv2")

from camera_graph import COLOR, FPS, H, W, camera_spec, diagnostic, graph, realsense_recording, video  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState  # noqa: E402
from ros_probe import Probe  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402

from roboalign.calib.files import save_intrinsics  # noqa: E402
from roboalign.core.camera import Intrinsics  # noqa: E402
from roboalign_ros import qos  # noqa: E402
from roboalign_ros.conversions import image_from_compressed, image_from_msg, stamp_to_seconds  # noqa: E402
from roboalign_ros.runner import GraphRunner  # noqa: E402

pytestmark = pytest.mark.ros
OK, WARN, ERROR = 0, 1, 2


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    return realsense_recording(tmp_path_factory.mktemp("rs") / "session.db3")


@pytest.fixture
def rig(ros_domain_id):
    made = []

    def start(*nodes):
        runner = GraphRunner(graph(*nodes), domain_id=ros_domain_id).start()
        probe = Probe(runner.context)
        made.append((runner, probe))
        return runner, probe

    yield start
    for runner, probe in made:
        probe.close()
        runner.shutdown()


def test_a_realsense_recording_is_published_with_its_original_stamps_depth_and_intrinsics(rig, recording):
    path, stamps = recording
    runner, probe = rig(camera_spec(source=f"realsense-file:{path}", width=W, height=H, fps=FPS,
                                    recorded_timestamps=True, publish_clock=True, playback_rate=2.0))
    images = probe.subscribe(Image, "/camera/front/image_raw", qos.SENSOR)
    depth = probe.subscribe(Image, "/camera/front/aligned_depth_to_color/image_raw", qos.SENSOR)
    infos = probe.subscribe(CameraInfo, "/camera/front/camera_info", qos.SENSOR)
    clock = probe.subscribe(Clock, "/clock", qos.SENSOR)
    node = runner.node("camera_front")
    probe.spin_until(lambda: node.ended and len(images) >= 10, 15.0, "the recording to play to its end")
    probe.spin_for(0.2)
    for msg in images:
        n = int(image_from_msg(msg)[0, 0, 0])           # frame n has colour value n
        assert stamp_to_seconds(msg.header.stamp) == pytest.approx(stamps[n], abs=1e-6)
        assert msg.header.frame_id == "front_optical_frame"
    assert depth and depth[-1].encoding == "16UC1"
    n = int(image_from_msg(images[-1])[0, 0, 0])
    assert np.frombuffer(depth[-1].data, "<u2")[0] == 1000 + n
    info = infos[-1]
    assert (info.width, info.height) == (W, H) and list(info.k) == [COLOR[0], 0, COLOR[2], 0, COLOR[1], COLOR[3], 0, 0, 1]
    assert stamp_to_seconds(clock[-1].clock) == pytest.approx(stamp_to_seconds(images[-1].header.stamp), abs=1e-6)


def test_a_missing_realsense_is_reported_at_once_and_retried(rig):
    runner, probe = rig(camera_spec(source="realsense:000000000001"))
    states = probe.subscribe(DiagnosticArray, "/camera/front/state", qos.STATE)
    probe.spin_until(lambda: states, 3.0, "the camera's first diagnostics")  # not 15 s: the device list is checked
    level, message, values = diagnostic(states[-1])
    assert level == ERROR and "no RealSense camera is connected" in message and values["lifecycle"] == "unconfigured"


def test_a_managed_camera_streams_only_between_activate_and_deactivate(rig, recording):
    path, _ = recording
    runner, probe = rig(camera_spec(source=f"realsense-file:{path}", width=W, height=H, fps=FPS, autostart=False,
                                    playback_rate=0.5))
    images = probe.subscribe(Image, "/camera/front/image_raw", qos.SENSOR)
    probe.spin_for(0.5)
    assert images == [] and runner.node("camera_front").lifecycle_state == "unconfigured"

    def change(transition: int) -> bool:
        client = probe.node.create_client(ChangeState, "/camera_front/change_state")
        probe.spin_until(client.service_is_ready, 5.0, "the lifecycle service")
        future = client.call_async(ChangeState.Request(transition=Transition(id=transition)))
        probe.spin_until(future.done, 5.0, "the transition")
        return future.result().success

    assert change(Transition.TRANSITION_CONFIGURE) and change(Transition.TRANSITION_ACTIVATE)
    probe.spin_until(lambda: len(images) >= 3, 5.0, "frames once active")
    assert change(Transition.TRANSITION_DEACTIVATE)
    probe.spin_for(0.3)
    count = len(images)
    probe.spin_for(0.5)
    assert len(images) == count  # inactive: nothing published


def test_camera_info_comes_from_the_calibration_file(rig, recording, tmp_path):
    path, _ = recording
    calibrated = Intrinsics(W, H, 58.25, 58.5, 32.1, 24.2, "plumb_bob", (0.01, -0.02, 0.0, 0.0, 0.0))
    save_intrinsics(tmp_path / "front.yaml", "front", calibrated)
    runner, probe = rig(camera_spec(source=f"realsense-file:{path}", width=W, height=H, fps=FPS,
                                    calibration_file=str(tmp_path / "front.yaml")))
    infos = probe.subscribe(CameraInfo, "/camera/front/camera_info", qos.SENSOR)
    probe.spin_until(lambda: infos, 5.0, "camera_info")
    assert list(infos[-1].k)[:3] == [58.25, 0.0, 32.1] and list(infos[-1].d)[:2] == [0.01, -0.02]


def test_a_calibration_for_another_image_size_is_refused(rig, recording, tmp_path):
    path, _ = recording
    save_intrinsics(tmp_path / "front.yaml", "front", Intrinsics(640, 480, 600.0, 600.0, 320.0, 240.0))
    runner, probe = rig(camera_spec(source=f"realsense-file:{path}", width=W, height=H, fps=FPS,
                                    calibration_file=str(tmp_path / "front.yaml")))
    images = probe.subscribe(Image, "/camera/front/image_raw", qos.SENSOR)
    infos = probe.subscribe(CameraInfo, "/camera/front/camera_info", qos.SENSOR)
    states = probe.subscribe(DiagnosticArray, "/camera/front/state", qos.STATE)
    probe.spin_until(lambda: len(images) >= 3 and states, 5.0, "frames")
    probe.spin_for(0.2)
    level, message, _ = diagnostic(states[-1])
    assert infos == [] and level == ERROR and "is for 640x480, the camera delivers 64x48" in message


def test_a_camera_that_drops_out_is_reported_and_streams_again_when_it_returns(rig, tmp_path):
    clip = video(tmp_path / "clip.avi")
    runner, probe = rig(camera_spec(source=f"opencv:{clip}", width=W, height=H, depth=False))
    images = probe.subscribe(Image, "/camera/front/image_raw", qos.SENSOR)
    states = probe.subscribe(DiagnosticArray, "/camera/front/state", qos.STATE)
    probe.spin_until(lambda: len(images) >= 5, 5.0, "frames")
    clip.rename(tmp_path / "unplugged.avi")
    probe.spin_until(lambda: diagnostic(states[-1])[0] == ERROR, 5.0, "the loss in the diagnostics")
    assert "does not exist" in diagnostic(states[-1])[1]
    count = len(images)
    (tmp_path / "unplugged.avi").rename(clip)
    probe.spin_until(lambda: len(images) > count + 3 and diagnostic(states[-1])[0] == OK, 5.0, "frames again")
    assert int(diagnostic(states[-1])[2]["reconnects"]) >= 1


def test_jpeg_frames_are_published_for_remote_consumers(rig, recording):
    path, _ = recording
    runner, probe = rig(camera_spec(source=f"realsense-file:{path}", width=W, height=H, fps=FPS, compressed=True))
    raw = probe.subscribe(Image, "/camera/front/image_raw", qos.SENSOR)
    jpeg = probe.subscribe(CompressedImage, "/camera/front/image_raw/compressed", qos.SENSOR)
    probe.spin_until(lambda: len(jpeg) >= 3 and raw, 5.0, "compressed frames")
    decoded = image_from_compressed(jpeg[-1])
    assert decoded.shape == (H, W, 3) and jpeg[-1].format == "rgb8; jpeg compressed bgr8"
