"""The policy node's camera inputs in a real rclpy graph with a real inference server: a
frozen or vanished camera pauses the policy, /policy/state says which stream and why, calls
resume by themselves; clocks skewed beyond the limit are refused; a RealSense recording played
through the camera node reaches the policy with its original stamps and intrinsics; another
driver's topics connect through remaps; a depth image on the colour topic is refused by name."""
from __future__ import annotations

import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from camera_graph import COLOR, FPS, H, W, camera_spec, diagnostic, graph, policy_spec, realsense_recording, video  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from ros_probe import Probe  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from roboalign.policy.noop import NoopPolicy  # noqa: E402
from roboalign.serving.server import PolicyServer  # noqa: E402
from roboalign.sim.arm import sim_robot_spec  # noqa: E402
from roboalign_ros import qos  # noqa: E402
from roboalign_ros.conversions import camera_info_msg, image_to_msg, joint_state_msg, seconds_to_stamp  # noqa: E402
from roboalign_ros.runner import GraphRunner  # noqa: E402

pytestmark = pytest.mark.ros
SPEC = sim_robot_spec()
OK, WARN = 0, 1


class RecordingPolicy(NoopPolicy):
    """Holds still and remembers every observation it was given."""

    def __init__(self) -> None:
        super().__init__(horizon=4, robot=SPEC, image_size=(H, W))
        self.seen = []

    def infer(self, observation):
        if observation.instruction != "warm-up":
            self.seen.append(observation)
        return super().infer(observation)


class Rig:
    """A real server, the graph's nodes in one runner, and a probe playing the robot's side."""

    def __init__(self, domain_id: int, *nodes, server: bool = True) -> None:
        self.policy = RecordingPolicy()
        self.server = PolicyServer(self.policy, "tcp://127.0.0.1:0", warmup_iters=1).start_in_thread()
        nodes = [n if n.name != "policy" else type(n)(**{**n.__dict__, "parameters": {
            **n.parameters, "endpoint": self.server.endpoint, "instruction": "touch the red block"}}) for n in nodes]
        self.runner = GraphRunner(graph(*nodes), domain_id=domain_id).start()
        self.probe = Probe(self.runner.context)
        self.chunks = self.probe.subscribe(JointTrajectory, "/policy/chunk", qos.COMMAND)
        self.state = self.probe.subscribe(DiagnosticArray, "/policy/state", qos.STATE)
        self.joints = self.probe.publisher(JointState, "/joint_states", qos.SENSOR)

    def now(self) -> float:
        return self.probe.node.get_clock().now().nanoseconds * 1e-9

    def publish_joints(self, stamp: float) -> None:
        self.joints.publish(joint_state_msg(SPEC.joint_names, np.zeros(SPEC.dof), None, seconds_to_stamp(stamp)))

    def run(self, seconds: float, step=None, until=None) -> None:
        """Every 20 ms for `seconds` (or until `until()`): step(now) publishes the robot's side."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and not (until and until()):
            if step is not None:
                step(self.now())
            self.probe.spin_for(0.02)

    def last_state(self):
        return diagnostic(self.state[-1])

    def close(self) -> None:
        self.probe.close()
        self.runner.shutdown()
        self.server.close()


@pytest.fixture
def rig(ros_domain_id):
    made = []

    def start(*nodes):
        made.append(Rig(ros_domain_id, *nodes))
        return made[-1]

    yield start
    for r in made:
        r.close()


FRAME = np.zeros((H, W, 3), np.uint8)


def test_a_frozen_camera_pauses_the_policy_says_why_and_it_resumes_when_frames_advance(rig):
    r = rig(policy_spec(max_observation_age=1.0, max_observation_skew=1.0))
    camera = r.probe.publisher(Image, "/camera/front/image_raw", qos.SENSOR)

    def live(now):
        r.publish_joints(now)
        camera.publish(image_to_msg(FRAME, seconds_to_stamp(now), "front"))

    r.run(10.0, live, until=lambda: len(r.chunks) >= 3)
    assert len(r.chunks) >= 3
    frozen_at = r.now()

    def frozen(now):  # the driver keeps sending, but always its last frame
        r.publish_joints(now)
        camera.publish(image_to_msg(FRAME, seconds_to_stamp(frozen_at), "front"))

    r.run(3.0, frozen, until=lambda: r.state and "frozen front" in r.last_state()[1])
    level, message, values = r.last_state()
    assert level == WARN and message.startswith("paused: frozen front") and values["stream"] == "front"
    count = len(r.chunks)
    r.run(0.6, frozen)
    assert len(r.chunks) <= count + 1  # at most the call already in flight
    assert r.runner.node("policy").counts["skipped_frozen_input"] > 0
    r.run(5.0, live, until=lambda: len(r.chunks) >= count + 3)  # frames advance again
    assert len(r.chunks) >= count + 3 and r.last_state()[0] == OK


def test_a_camera_that_drops_out_pauses_the_policy_until_its_frames_return(rig, tmp_path):
    pytest.importorskip("cv2")
    clip = video(tmp_path / "clip.avi")
    r = rig(camera_spec(source=f"opencv:{clip}", width=W, height=H, depth=False),
            policy_spec(max_observation_age=0.3, max_observation_skew=0.5))
    r.run(10.0, r.publish_joints, until=lambda: len(r.chunks) >= 3)
    assert len(r.chunks) >= 3
    clip.rename(tmp_path / "unplugged.avi")  # the camera disappears (its node reopens it every 0.1 s)
    r.run(5.0, r.publish_joints, until=lambda: r.state and "stale front" in r.last_state()[1])
    level, message, values = r.last_state()
    assert level == WARN and message.startswith("paused: stale front") and values["stream"] == "front"
    count = len(r.chunks)
    r.run(0.5, r.publish_joints)
    assert len(r.chunks) <= count + 1
    (tmp_path / "unplugged.avi").rename(clip)  # plugged back in
    r.run(5.0, r.publish_joints, until=lambda: len(r.chunks) >= count + 3)
    assert len(r.chunks) >= count + 3 and r.last_state()[0] == OK


def test_camera_and_joint_clocks_skewed_beyond_the_limit_are_refused(rig):
    r = rig(policy_spec(cameras=["front", "wrist"], max_observation_age=2.0, max_observation_skew=0.1))
    front = r.probe.publisher(Image, "/camera/front/image_raw", qos.SENSOR)
    wrist = r.probe.publisher(Image, "/camera/wrist/image_raw", qos.SENSOR)

    def skewed(now):  # the wrist camera's clock runs 0.3 s behind the arm's and the front camera's
        r.publish_joints(now)
        front.publish(image_to_msg(FRAME, seconds_to_stamp(now), "front"))
        wrist.publish(image_to_msg(FRAME, seconds_to_stamp(now - 0.3), "wrist"))

    r.run(5.0, skewed, until=lambda: r.state and "skewed wrist" in r.last_state()[1])
    r.run(0.5, skewed)
    level, message, values = r.last_state()
    assert level == WARN and "skewed wrist: captured 0.3" in message and values["stream"] == "wrist"
    assert r.chunks == [] and r.policy.seen == []
    assert r.runner.node("policy").counts["skipped_skewed_input"] > 0

    def aligned(now):  # within the limit: the three streams make one observation
        r.publish_joints(now)
        front.publish(image_to_msg(FRAME, seconds_to_stamp(now), "front"))
        wrist.publish(image_to_msg(FRAME, seconds_to_stamp(now - 0.05), "wrist"))

    r.run(5.0, aligned, until=lambda: len(r.policy.seen) >= 2)
    times = r.policy.seen[-1].capture_times
    assert set(times) == {"joints", "front", "wrist"} and max(times.values()) - min(times.values()) <= 0.1


def test_a_realsense_recording_reaches_the_policy_with_its_original_stamps_and_intrinsics(rig, tmp_path):
    pytest.importorskip("pyrealsense2")
    path, stamps = realsense_recording(tmp_path / "session.db3", frames=45)
    r = rig(camera_spec(source=f"realsense-file:{path}", width=W, height=H, fps=FPS, recorded_timestamps=True,
                        publish_clock=True, playback_rate=1.0, autostart=False),
            policy_spec(max_observation_age=0.5, max_observation_skew=0.5))
    policy = r.runner.node("policy")
    policy.set_parameters([Parameter("use_sim_time", value=True)])  # the graph runs on the recording's clock
    r.run(10.0, until=lambda: policy.connected)
    clock = r.probe.subscribe(Clock, "/clock", qos.SENSOR)
    camera = r.runner.node("camera_front")
    camera.trigger_configure()
    camera.trigger_activate()

    def joints_on_the_recorded_clock(_now):
        if clock:
            r.publish_joints(clock[-1].clock.sec + clock[-1].clock.nanosec * 1e-9)

    r.run(10.0, joints_on_the_recorded_clock, until=lambda: len(r.policy.seen) >= 3 or camera.ended)
    assert len(r.policy.seen) >= 2
    for obs in r.policy.seen:
        n = int(obs.images["front"][0, 0, 0])   # frame n has colour value n
        assert obs.capture_times["front"] == pytest.approx(stamps[n], abs=1e-6)
        assert abs(obs.capture_times["joints"] - obs.capture_times["front"]) < 0.5
    # K travels with every image once the camera_info stream has been heard (from the 2nd frame on)
    k = np.array([[COLOR[0], 0, COLOR[2]], [0, COLOR[1], COLOR[3]], [0, 0, 1]])
    with_k = [obs.intrinsics["front"] for obs in r.policy.seen if "front" in obs.intrinsics]
    assert "front" in r.policy.seen[-1].intrinsics and len(with_k) >= len(r.policy.seen) - 1
    for got in with_k:
        np.testing.assert_array_equal(got, k)


def test_realsense_ros_topics_reach_the_policy_through_graph_remaps(rig):
    r = rig(policy_spec(remappings={"/camera/front/image_raw": "/camera/front/color/image_raw",
                                    "/camera/front/camera_info": "/camera/front/color/camera_info"}))
    color = r.probe.publisher(Image, "/camera/front/color/image_raw", qos.SENSOR)
    info = r.probe.publisher(CameraInfo, "/camera/front/color/camera_info", qos.SENSOR)

    def realsense_ros(now):
        stamp = seconds_to_stamp(now)
        r.publish_joints(now)
        color.publish(image_to_msg(FRAME, stamp, "camera_color_optical_frame"))
        info.publish(camera_info_msg(W, H, 50.0, 50.0, 32.0, 24.0, stamp, "camera_color_optical_frame"))

    r.run(10.0, realsense_ros, until=lambda: len(r.policy.seen) >= 2)
    assert r.policy.seen and r.policy.seen[-1].intrinsics["front"][0, 0] == 50.0


def test_a_depth_image_on_the_colour_topic_is_refused_and_named(rig):
    r = rig(policy_spec())
    camera = r.probe.publisher(Image, "/camera/front/image_raw", qos.SENSOR)

    def depth_instead(now):
        r.publish_joints(now)
        msg = Image(height=H, width=W, encoding="16UC1", step=2 * W, data=bytes(2 * W * H))
        msg.header.stamp = seconds_to_stamp(now)
        camera.publish(msg)

    r.run(5.0, depth_instead, until=lambda: r.state and "image_problem" in r.last_state()[2])
    values = r.last_state()[2]
    assert "'16UC1' is depth" in values["image_problem"] and int(values["rejected_images"]) > 0
    assert r.chunks == []
