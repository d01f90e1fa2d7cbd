"""The recorder node in its own process, killed with SIGKILL mid-episode: every earlier episode
stays intact and identical to what was published; the cut one is recovered and flagged partial."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")

import rclpy
from rclpy.context import Context
from ros_probe import Probe
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from roboalign.data.recording_reader import find_recordings, load_recording, read_recording
from roboalign.data.session import RecordingSession
from roboalign_ros import qos

pytestmark = pytest.mark.ros
NAMES = ["j1", "j2", "j3"]
STEPS = 20          # joint states and commands per episode
FRAMES = (0, 10)    # steps that also publish a camera frame


def stamp_of(msg, ns: int) -> None:
    msg.header.stamp.sec, msg.header.stamp.nanosec = ns // 10**9, ns % 10**9


class Operator:
    """Publishes the graph's topics and /recorder/command; reads /recorder/status."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.joints = probe.publisher(JointState, "/joint_states", qos.SENSOR)
        self.commands = probe.publisher(JointTrajectory, "/arm/command_raw", qos.COMMAND)
        self.images = probe.publisher(Image, "/camera/front/image_raw", qos.SENSOR)
        self.words = probe.publisher(String, "/recorder/command", qos.COMMAND)
        self.instruction = probe.publisher(String, "/task/instruction", qos.LATCHED)
        self.statuses = probe.subscribe(String, "/recorder/status", qos.LATCHED)

    def status(self) -> dict:
        return json.loads(self.statuses[-1].data) if self.statuses else {}

    def say(self, word: str, **expect) -> dict:
        self.words.publish(String(data=word))
        self.probe.spin_until(lambda: all(self.status().get(k) == v for k, v in expect.items()), 10.0,
                              f"status {expect} after {word!r} (last: {self.status()})")
        return self.status()

    def play(self, rng: np.random.Generator) -> dict:
        """One episode's worth of messages, each with fresh stamps; returns what was sent."""
        sent = {"q": [], "a": [], "frames": []}
        for k in range(STEPS):
            ns = time.time_ns()
            q, a = rng.normal(size=3), rng.normal(size=3)
            js = JointState(name=NAMES, position=q.tolist())
            stamp_of(js, ns)
            self.joints.publish(js)
            cmd = JointTrajectory(joint_names=NAMES, points=[JointTrajectoryPoint(positions=a.tolist())])
            stamp_of(cmd, ns)
            self.commands.publish(cmd)
            sent["q"].append(q)
            sent["a"].append(a)
            if k in FRAMES:
                pixels = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
                img = Image(height=12, width=16, encoding="rgb8", step=48, data=pixels.tobytes())
                stamp_of(img, ns)
                self.images.publish(img)
                sent["frames"].append(pixels)
            self.probe.spin_for(0.01)
        return sent


def expected_messages(sent: dict) -> int:
    return 1 + len(sent["q"]) + len(sent["a"]) + len(sent["frames"])  # + the latched instruction


def test_sigkill_mid_episode_keeps_earlier_episodes_intact_and_flags_the_cut_one(ros_domain_id, tmp_path):
    out = tmp_path / "demos"
    node = subprocess.Popen(
        [sys.executable, "-m", "roboalign_ros.recorder_node", "--ros-args", "-p", f"output_dir:={out}",
         "-p", "cameras:=[front]", "-p", "flush_period_s:=0.2", "-p", "status_rate_hz:=10.0",
         "-p", "operator:=ana"],
        env={**os.environ, "ROS_DOMAIN_ID": str(ros_domain_id)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    context = Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    probe = Probe(context, "operator")
    rng = np.random.default_rng(0)
    sent = []
    try:
        op = Operator(probe)
        op.instruction.publish(String(data="touch the red block"))
        probe.spin_until(lambda: op.status().get("state") == "idle" and op.words.get_subscription_count() > 0
                         and op.status().get("instruction") == "touch the red block", 30.0, "the recorder")
        for index, outcome in ((0, "success"), (1, "failure")):
            op.say("start", state="recording", episode_index=index)
            sent.append(op.play(rng))
            probe.spin_until(lambda s=sent[-1]: op.status().get("messages") == expected_messages(s), 10.0,
                             f"every message recorded (status: {op.status()})")
            op.say(outcome, state="idle", episode_count=index + 1)
        op.say("start", state="recording", episode_index=2)
        sent.append(op.play(rng))
        probe.spin_until(lambda: op.status().get("messages") == expected_messages(sent[-1]), 10.0, "episode 2")
        probe.spin_for(0.5)  # > flush_period_s: the chunk holding them is on disk
        node.kill()          # SIGKILL: no handler, no finally
        assert node.wait(10.0) == -9
    finally:
        if node.poll() is None:
            node.kill()
            node.wait(10.0)
        probe.close()
        rclpy.try_shutdown(context=context)

    assert sorted(p.name for p in out.iterdir()) == ["episode_000000.mcap", "episode_000001.mcap",
                                                     "episode_000002.mcap.active"]
    for index, outcome in ((0, "success"), (1, "failure")):
        rec = read_recording(out / f"episode_{index:06d}.mcap")
        assert not rec.torn and rec.outcome["outcome"] == outcome and rec.episode_metadata["operator"] == "ana"
        got = rec.messages
        assert np.array_equal([m[2].position for m in got["/joint_states"]], sent[index]["q"])
        assert np.array_equal([m[2].points[0].positions for m in got["/arm/command_raw"]], sent[index]["a"])
        assert [bytes(m[2].data) for m in got["/camera/front/image_raw"]] == [f.tobytes() for f in sent[index]["frames"]]
        assert [m[2].data for m in got["/task/instruction"]] == ["touch the red block"]
        assert load_recording(rec.path).success is (outcome == "success")

    session = RecordingSession(out, lambda: None)  # what the next recording session does first
    assert len(session.recovered) == 1 and "episode_000002.partial.mcap" in session.recovered[0]
    assert session.next_index == 3
    assert [p.name for p in find_recordings(out)] == ["episode_000000.mcap", "episode_000001.mcap"]
    partial = out / "episode_000002.partial.mcap"
    rec = read_recording(partial)
    assert rec.partial and rec.metadata["roboalign.recovery"]["torn"] is True
    assert np.array_equal([m[2].position for m in rec.messages["/joint_states"]], sent[2]["q"])
    assert load_recording(partial).metadata["partial"] is True
