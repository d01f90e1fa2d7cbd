"""The policy node against a real inference server (ZMQ, in a thread): it passes the
simulator's privileged /sim/objects only to a policy that lists privileged inputs, and only in
a simulated graph; a learned policy never receives them. It authenticates with CurveZMQ keys."""
from __future__ import annotations

import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from ros_probe import Probe  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from roboalign.errors import ConfigError  # noqa: E402
from roboalign.policy.noop import NoopPolicy  # noqa: E402
from roboalign.serving.auth import ServerAuth, generate_keys  # noqa: E402
from roboalign.serving.server import PolicyServer  # noqa: E402
from roboalign.sim.arm import sim_robot_spec  # noqa: E402
from roboalign_ros import qos  # noqa: E402
from roboalign_ros.conversions import image_to_msg, joint_state_msg, objects_to_markers  # noqa: E402
from roboalign_ros.graph import load_graph  # noqa: E402
from roboalign_ros.runner import GraphRunner  # noqa: E402

pytestmark = pytest.mark.ros
SPEC = sim_robot_spec()


class RecordingPolicy(NoopPolicy):
    """Holds still, remembers what it was given, and lists `privileged_inputs` like the
    scripted expert (a learned policy lists none)."""

    def __init__(self, privileged_inputs: tuple[str, ...]) -> None:
        super().__init__(horizon=4, robot=SPEC, image_size=(32, 32))
        self.privileged_inputs = privileged_inputs
        self.seen = []

    def infer(self, observation):
        if observation.instruction != "warm-up":
            self.seen.append(observation)
        return super().infer(observation)

    def metadata(self):
        return {**super().metadata(), "privileged_inputs": list(self.privileged_inputs)}


@pytest.fixture
def serve():
    servers = []

    def start(policy, auth=None) -> PolicyServer:
        server = PolicyServer(policy, "tcp://127.0.0.1:0", warmup_iters=1, auth=auth).start_in_thread()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def policy_node(domain_id: int, **params):
    return GraphRunner(load_graph(), only=("policy",), domain_id=domain_id,
                       overrides={"policy": {"request_timeout": 0.5, **params}}).start()


def feed(runner, probe: Probe, until, timeout: float = 10.0) -> None:
    """Play the sim's side (joints, a camera, the instruction, object positions) until `until()`."""
    joints = probe.publisher(JointState, "/joint_states", qos.SENSOR)
    camera = probe.publisher(Image, "/camera/front/image_raw", qos.SENSOR)
    objects = probe.publisher(MarkerArray, "/sim/objects", qos.STATE)
    probe.publisher(String, "/task/instruction", qos.LATCHED).publish(String(data="touch the red block"))
    frame = np.zeros((32, 32, 3), np.uint8)
    end = time.monotonic() + timeout
    while not until() and time.monotonic() < end:
        stamp = probe.node.get_clock().now().to_msg()
        joints.publish(joint_state_msg(SPEC.joint_names, np.zeros(SPEC.dof), None, stamp))
        camera.publish(image_to_msg(frame, stamp, "front"))
        objects.publish(objects_to_markers({"target_position": np.array([0.4, 0.0, 0.05])}, stamp, "world"))
        probe.spin_for(0.05)


def test_learned_policy_never_receives_privileged_inputs_even_in_simulation(serve, ros_domain_id):
    policy = RecordingPolicy(privileged_inputs=())
    runner = policy_node(ros_domain_id, endpoint=serve(policy).endpoint, simulation=True)
    probe = Probe(runner.context)
    try:
        feed(runner, probe, lambda: len(policy.seen) >= 2)
        node = runner.node("policy")
        assert node.connected and not node.use_privileged
        assert probe.node.count_subscribers("/sim/objects") == 0
    finally:
        probe.close()
        runner.shutdown()
    assert len(policy.seen) >= 2 and all(obs.privileged == {} for obs in policy.seen)


def test_policy_listing_privileged_inputs_gets_them_in_simulation(serve, ros_domain_id):
    policy = RecordingPolicy(privileged_inputs=("target_position",))
    runner = policy_node(ros_domain_id, endpoint=serve(policy).endpoint, simulation=True)
    probe = Probe(runner.context)
    try:
        feed(runner, probe, lambda: len(policy.seen) >= 2)
        assert runner.node("policy").use_privileged
        assert probe.node.count_subscribers("/sim/objects") == 1
    finally:
        probe.close()
        runner.shutdown()
    assert policy.seen and np.allclose(policy.seen[-1].privileged["target_position"], [0.4, 0.0, 0.05])


def test_policy_needing_privileged_inputs_is_refused_outside_simulation(serve, ros_domain_id):
    policy = RecordingPolicy(privileged_inputs=("target_position",))
    runner = policy_node(ros_domain_id, endpoint=serve(policy).endpoint, simulation=False)
    probe = Probe(runner.context)
    try:
        node = runner.node("policy")
        feed(runner, probe, lambda: node.unusable, timeout=5.0)
        assert node.unusable and "exist only in simulation" in node.connect_error
        feed(runner, probe, lambda: False, timeout=1.0)  # fresh inputs: still nothing is sent
        assert probe.node.count_subscribers("/sim/objects") == 0
    finally:
        probe.close()
        runner.shutdown()
    assert policy.seen == []


# ---- CurveZMQ ----------------------------------------------------------------------------------
@pytest.fixture
def keys(tmp_path):
    generate_keys(tmp_path / "keys", ("robot1",))
    generate_keys(tmp_path / "stranger", ("robot1",))  # a key pair the server does not know
    return tmp_path


def wait(condition, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while not condition() and time.monotonic() < end:
        time.sleep(0.05)
    return condition()


def test_policy_node_authenticates_to_a_curve_server_with_its_key_files(serve, keys, ros_domain_id):
    server = serve(RecordingPolicy(()), auth=ServerAuth.from_dir(keys / "keys"))
    runner = policy_node(ros_domain_id, endpoint=server.endpoint,
                         server_public_key=str(keys / "keys" / "server.key"),
                         client_secret_key=str(keys / "keys" / "robot1.key_secret"))
    try:
        assert wait(lambda: runner.node("policy").connected), runner.node("policy").connect_error
    finally:
        runner.shutdown()


@pytest.mark.parametrize("client", ["stranger", "plain"])
def test_policy_node_without_an_authorised_key_is_refused(client, serve, keys, ros_domain_id):
    server = serve(RecordingPolicy(()), auth=ServerAuth.from_dir(keys / "keys"))
    params = {} if client == "plain" else {"server_public_key": str(keys / "keys" / "server.key"),
                                           "client_secret_key": str(keys / "stranger" / "robot1.key_secret")}
    runner = policy_node(ros_domain_id, endpoint=server.endpoint, **params)
    try:
        node = runner.node("policy")
        assert wait(lambda: node.connect_error is not None, timeout=5.0)
        time.sleep(1.0)
        assert not node.connected
        if client == "stranger":
            assert "refused this client's key" in node.connect_error
    finally:
        runner.shutdown()


def test_a_key_file_readable_by_others_stops_the_node(keys, ros_domain_id):
    secret = keys / "keys" / "robot1.key_secret"
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match="client_secret_key: .* is readable by others"):
        policy_node(ros_domain_id, server_public_key=str(keys / "keys" / "server.key"),
                    client_secret_key=str(secret))
