"""policy_node: Observation from the latest frames + joint state -> inference server -> chunk.

  /joint_states                 (JointState, sensor QoS)     in
  /camera/<name>/image_raw      (Image, sensor QoS)          in, one per camera the policy uses
                                                             (image_transport: compressed ->
                                                             .../image_raw/compressed, JPEG/PNG)
  /camera/<name>/camera_info    (CameraInfo, sensor QoS)     in, optional: K goes with the image
  /task/instruction             (String, latched)            in (or the `instruction` parameter)
  /sim/objects                  (MarkerArray)                in, sim only: see "Privileged inputs"
  /policy/chunk                 (JointTrajectory, reliable)  out: header.stamp = chunk start,
                                                             point k at time_from_start k*dt
  /policy/state                 (DiagnosticArray, reliable)  out: why no call is made (the
                                                             refusal naming its stream), counts

Another driver's topics (realsense-ros: /camera/camera/color/image_raw) are connected by
remapping /camera/<name>/image_raw and /camera/<name>/camera_info in the graph YAML
(docs/cameras.md). Images arrive as rgb8, bgr8, rgba8, bgra8, mono8 or yuv422; a depth or
other encoding is refused, counted (rejected_images) and named in /policy/state.

The server is called from a worker thread of this node, every replan_period seconds (and right
away once fresh inputs exist after a reset, retrying every 20 ms until then), never from an
executor callback, so a slow or dead model can never block any control loop. A timeout or an
error reply publishes nothing (the executor plays on, then holds; the safety watchdog stops the
arm if that lasts) and is logged and counted. observation->chunk latency is measured from the
observation's timestamp (its assembly) to the chunk's publication, on ROS time.

Observations are assembled by roboalign.control.observation.ObservationAssembler, the one the
direct control loop uses: joints reordered by name, each stream at most max_observation_age
old, streams at most max_observation_skew apart, and no stream frozen (frozen_after messages
in a row whose header.stamp does not advance: a driver resending its last frame). A refusal
skips the call (the policy pauses: no chunk; the executor holds, the safety watchdog stops
the arm if it lasts), is counted by reason (skipped_missing_input, skipped_stale_input,
skipped_skewed_input, skipped_frozen_input, skipped_invalid_input) and published on
/policy/state at once, naming the stream; calls resume by themselves as soon as the inputs are
fresh again.

Privileged inputs: the node subscribes to /sim/objects, and adds the object positions to the
observation, only when BOTH the served policy's metadata lists `privileged_inputs` (the
scripted expert does; learned policies list none) AND the node runs in a simulated graph
(parameter `simulation`, default false, set by the sim graph YAML). A learned policy never
receives simulator ground truth; a policy that needs it is refused outside simulation
(`connect_error` says so, `unusable` turns true, nothing is ever published).

Authentication: with `server_public_key` (the server's server.key) and `client_secret_key`
(this robot's <client>.key_secret, mode 0600) set, the connection uses CurveZMQ, as
`roboalign serve --auth-keys DIR` expects (roboalign.serving.auth). Both or neither; a key
file that is missing, malformed or readable by others stops the node at start-up.
"""
from __future__ import annotations

import collections
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from roboalign.control.observation import FreezeWatch, ObservationAssembler, Privileged, Refusal, RefusalReason
from roboalign.core import robot as core_robot
from roboalign.core.camera import Frame, Intrinsics
from roboalign.core.observation import Observation
from roboalign.core.robot import RobotSpec
from roboalign_ros import qos
from roboalign_ros.conversions import (
    chunk_to_trajectory,
    image_from_compressed,
    image_from_msg,
    intrinsics_from_camera_info,
    node_now,
    objects_from_markers,
    stamp_to_seconds,
)
from roboalign_ros.params import ParameterError, declare, refuse_undeclared, spin_node

LATENCY_WINDOW = 100_000
INPUT_RETRY_S = 0.02  # s between tries while an input (frame, joints, instruction) is missing


class PolicyNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("policy", **kwargs)
        self.endpoint = declare(self, "endpoint", "tcp://127.0.0.1:5555", "ZMQ endpoint of the inference server")
        self.replan_period = declare(self, "replan_period", 0.4, "s between policy calls", low=0.02, high=10.0)
        self.request_timeout = declare(self, "request_timeout", 1.0, "s before a policy call is abandoned", low=0.01, high=60.0)
        self.max_observation_age = declare(self, "max_observation_age", 0.5, "s: older frames or joint states skip the call", low=0.01, high=60.0)
        self.max_observation_skew = declare(self, "max_observation_skew", 0.5,
                                            "s: streams captured further apart skip the call", low=0.01, high=60.0)
        self.cameras = tuple(declare(self, "cameras", ["front"], "cameras the policy sees (topics /camera/<name>/image_raw)"))
        self.image_transport = declare(self, "image_transport", "raw", "raw: subscribe to image_raw; compressed: to "
                                       "image_raw/compressed (JPEG/PNG, when the camera is across a network)",
                                       read_only=True)
        frozen_after = declare(self, "frozen_after", 3, "messages in a row whose stamp does not advance before a "
                               "stream counts as frozen", low=1, high=1000, read_only=True)
        diag_rate = declare(self, "diagnostics_rate_hz", 2.0, "rate of /policy/state (Hz); a change of state is "
                            "published at once", low=0.1, high=50.0, read_only=True)
        self.simulation = declare(self, "simulation", False, "true only in a simulated graph: a served policy whose metadata "
                                  "lists privileged inputs may then receive /sim/objects (never on a robot)", read_only=True)
        self.fixed_instruction = declare(self, "instruction", "", "task instruction; empty = listen on /task/instruction")
        server_key = declare(self, "server_public_key", "", "CurveZMQ: the server's public key file (server.key); "
                             "empty = no authentication (a loopback server)")
        client_key = declare(self, "client_secret_key", "", "CurveZMQ: this client's key pair file "
                             "(<client>.key_secret, mode 0600), written by `roboalign keys generate`")
        refuse_undeclared(self)
        if self.image_transport not in ("raw", "compressed"):
            raise ParameterError(self.get_name(), "image_transport",
                                 f"image_transport: must be raw or compressed, got {self.image_transport!r}")
        self._auth = self._client_auth(server_key, client_key)
        # Decided once the served policy's metadata is known (_connect): True only for a policy
        # that lists privileged inputs, in a simulated graph. Read by _observation.
        self.use_privileged = False
        self.connect_error: str | None = None  # why the server or its policy cannot be used (last seen)
        self.unusable = False                  # True: the served policy can never run here; no more tries
        # server_infer: the policy call on the server (the reply's timing.infer_ms, batch included)
        self.latency_ms: dict[str, collections.deque] = {
            stage: collections.deque(maxlen=LATENCY_WINDOW)
            for stage in ("observation->chunk", "server_roundtrip", "server_infer")}
        self.counts = {"calls": 0, "chunks": 0, "errors": 0, "timeouts": 0, "skipped_stale_input": 0,
                       "skipped_missing_input": 0, "skipped_skewed_input": 0, "skipped_invalid_input": 0,
                       "skipped_frozen_input": 0, "discarded_after_reset": 0, "rejected_images": 0}
        self.refusal: Refusal | None = None    # why the last try made no call (None: the last try called)
        self.image_problem: str | None = None  # the last image refused (its encoding), for /policy/state
        self._lock = threading.Lock()  # guards the latest inputs and the episode generation
        self._generation = 0
        self._reset_stamp = -np.inf
        self._joints: tuple[float, JointState] | None = None
        self._images: dict[str, Frame] = {}
        self._frames_received = {c: 0 for c in self.cameras}  # per camera: Frame.sequence
        self._intrinsics: dict[str, Intrinsics] = {}           # per camera, from its camera_info
        self._freeze = FreezeWatch(frozen_after)
        self._objects: tuple[float, dict[str, np.ndarray]] | None = None
        self._instruction = self.fixed_instruction
        self._policy = None
        self._spec: RobotSpec | None = None
        self._assembler: ObservationAssembler | None = None
        self._chunk_pub = self.create_publisher(JointTrajectory, "/policy/chunk", qos.COMMAND)
        self._state_pub = self.create_publisher(DiagnosticArray, "/policy/state", qos.STATE)
        self.create_subscription(JointState, "/joint_states", self._on_joints, qos.SENSOR)
        for camera in self.cameras:
            if self.image_transport == "compressed":
                self.create_subscription(CompressedImage, f"/camera/{camera}/image_raw/compressed",
                                         lambda msg, c=camera: self._on_image(c, msg), qos.SENSOR)
            else:
                self.create_subscription(Image, f"/camera/{camera}/image_raw",
                                         lambda msg, c=camera: self._on_image(c, msg), qos.SENSOR)
            self.create_subscription(CameraInfo, f"/camera/{camera}/camera_info",
                                     lambda msg, c=camera: self._on_camera_info(c, msg), qos.SENSOR)
        self.create_timer(1.0 / diag_rate, self._publish_state)
        self.create_subscription(String, "/task/instruction", self._on_instruction, qos.LATCHED)
        self._objects_sub = None  # /sim/objects: created by _connect, only for a privileged policy in sim
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by reset_episode: plan as soon as inputs are fresh
        self._worker = threading.Thread(target=self._loop, name="policy-calls", daemon=True)
        self._worker.start()

    def _client_auth(self, server_key: str, client_key: str):
        """ClientAuth from the two key files, None when neither is set; ParameterError otherwise."""
        if not server_key and not client_key:
            return None
        if not (server_key and client_key):
            missing = "client_secret_key" if server_key else "server_public_key"
            raise ParameterError(self.get_name(), missing, f"{missing}: missing; CurveZMQ needs both "
                                 "server_public_key and client_secret_key (or neither, for a loopback server)")
        from roboalign.serving.auth import ClientAuth  # lazy: pulls in zmq

        try:
            return ClientAuth.from_files(client_key, server_key)
        except (OSError, ValueError) as exc:
            name = "server_public_key" if str(server_key) in str(exc) else "client_secret_key"
            raise ParameterError(self.get_name(), name, f"{name}: {exc}") from None

    @property
    def connected(self) -> bool:
        """True once the server answered metadata (the policy's robot spec is known)."""
        return self._spec is not None

    # ---- inputs (executor thread: cheap, just keep the newest) ------------------------------
    def _on_joints(self, msg: JointState) -> None:
        stamp = stamp_to_seconds(msg.header.stamp)
        with self._lock:
            if stamp >= self._reset_stamp:
                self._joints = (stamp, msg)
                self._freeze.arrived("joints", stamp)

    def _on_image(self, camera: str, msg: Image | CompressedImage) -> None:
        stamp = stamp_to_seconds(msg.header.stamp)
        try:
            image = image_from_msg(msg) if isinstance(msg, Image) else image_from_compressed(msg)
            intrinsics = self._intrinsics.get(camera)
            if intrinsics is not None and (intrinsics.height, intrinsics.width) != image.shape[:2]:
                intrinsics = None  # camera_info of another mode (it just changed): send no K rather than a wrong one
            self._frames_received[camera] += 1
            frame = Frame(image, stamp, self._frames_received[camera], intrinsics=intrinsics)
        except ValueError as exc:
            self.counts["rejected_images"] += 1
            self.image_problem = f"/camera/{camera}: {exc}"
            self.get_logger().error(self.image_problem, throttle_duration_sec=5.0)
            return
        with self._lock:
            if stamp >= self._reset_stamp:
                self._images[camera] = frame
                self._freeze.arrived(camera, stamp)

    def _on_camera_info(self, camera: str, msg: CameraInfo) -> None:
        try:
            self._intrinsics[camera] = intrinsics_from_camera_info(msg)
        except ValueError as exc:  # uncalibrated (K all zero): the images still go, without K
            self.get_logger().warning(f"/camera/{camera}/camera_info: {exc}", throttle_duration_sec=30.0)

    def _on_objects(self, msg: MarkerArray) -> None:
        stamp = stamp_to_seconds(msg.markers[0].header.stamp) if msg.markers else node_now(self)
        objects = objects_from_markers(msg)
        with self._lock:
            if stamp >= self._reset_stamp:
                self._objects = (stamp, objects)

    def _on_instruction(self, msg: String) -> None:
        if not self.fixed_instruction:
            with self._lock:
                self._instruction = msg.data

    # ---- episodes ---------------------------------------------------------------------------
    def reset_episode(self) -> None:
        """Forget every input and discard any call in flight; the next observation is built
        only from messages stamped after now. Resets the remote policy (errors are logged)."""
        with self._lock:
            self._generation += 1
            self._reset_stamp = node_now(self)
            self._joints, self._images, self._objects = None, {}, None
            self._freeze.clear()
            if not self.fixed_instruction:
                self._instruction = ""
        self._wake.set()
        policy = self._policy
        if policy is not None:
            try:
                policy.reset()
            except Exception as exc:  # ServingError or a dead server: the episode starts anyway
                self.get_logger().warning(f"policy reset failed: {exc}")

    # ---- the worker thread ------------------------------------------------------------------
    def _connect(self) -> bool:
        """Ask the server for its policy's metadata; decide the robot spec and privileged inputs.
        A policy that can never run here (no robot, privileged inputs outside simulation) sets
        `unusable`; a server that does not answer (yet) is retried."""
        from roboalign.serving.client import RemotePolicy  # lazy: pulls in zmq
        from roboalign.serving.errors import ServingError

        try:
            if self._policy is None:
                self._policy = RemotePolicy(self.endpoint, timeout_s=self.request_timeout, auth=self._auth)
            meta = self._policy.metadata()
        except ServingError as exc:
            self.connect_error = f"policy server at {self.endpoint} not ready: {exc}"
            self.get_logger().warning(self.connect_error, throttle_duration_sec=5.0)
            return False
        except ValueError as exc:  # not a valid PolicyMetadata (a malformed robot spec included)
            meta, problem = None, f"the server at {self.endpoint} sent unusable policy metadata: {exc}"
        else:
            problem = meta.deployment_problem(simulation=self.simulation)
        if problem is not None:
            self.connect_error, self.unusable = problem, True
            self.get_logger().error(f"{problem}; this node publishes nothing")
            return False
        privileged = meta.privileged_inputs
        if privileged:
            self._objects_sub = self.create_subscription(MarkerArray, "/sim/objects", self._on_objects, qos.STATE)
            self.get_logger().info(f"simulation: giving {meta.model_id or meta.policy!r} the privileged inputs it "
                                   f"lists {list(privileged)}")
        self.use_privileged = bool(privileged)
        self.connect_error = None
        self._spec = meta.robot
        return True

    def _observation(self) -> tuple[Observation | None, int]:
        """The newest inputs as an Observation (None when the assembler refuses them)."""
        now = node_now(self)
        with self._lock:
            generation = self._generation
            joints, images, objects, instruction = self._joints, dict(self._images), self._objects, self._instruction
        if self._assembler is None or self._assembler.spec is not self._spec:
            self._assembler = ObservationAssembler(self._spec, self.cameras, self.max_observation_age,
                                                   self.max_observation_skew, privileged=self.use_privileged,
                                                   freeze=self._freeze)
        state = None
        if joints is not None:
            stamp, msg = joints
            velocities = msg.velocity if len(msg.velocity) == len(msg.position) else None
            try:
                state = core_robot.JointState(tuple(msg.name), msg.position, stamp, velocities)
            except ValueError as exc:  # names and positions of different lengths
                state = Refusal(RefusalReason.INVALID, "joints", str(exc))
        privileged = Privileged(objects[1], objects[0]) if objects is not None else None
        if isinstance(state, Refusal):
            result = state
        else:
            result = self._assembler.assemble(now, state, images, instruction, privileged)
        if isinstance(result, Refusal):
            self.counts[f"skipped_{result.reason.value}_input"] += 1
            if result.reason is not RefusalReason.MISSING:  # missing is normal right after a reset
                log = self.get_logger().error if result.reason is RefusalReason.INVALID else self.get_logger().warning
                log(f"no policy call: {result}", throttle_duration_sec=2.0)
            self._set_refusal(result)
            return None, generation
        self._set_refusal(None)
        return result, generation

    # ---- /policy/state ------------------------------------------------------------------------
    def _set_refusal(self, refusal: Refusal | None) -> None:
        """Remember why no call is made; a change (paused, resumed, another stream) is published at once."""
        before = self.refusal
        self.refusal = refusal
        if (before is None) != (refusal is None) or (
                before is not None and (before.reason, before.stream) != (refusal.reason, refusal.stream)):
            if refusal is None and before is not None:
                self.get_logger().info(f"inputs fresh again ({before.stream} recovered): policy calls resume")
            self._publish_state()

    def _publish_state(self) -> None:
        refusal = self.refusal
        status = DiagnosticStatus(name="roboalign/policy/inputs", hardware_id=self.endpoint)
        if self.unusable or (self.connect_error and self._spec is None):
            status.level, status.message = DiagnosticStatus.ERROR, str(self.connect_error)
        elif refusal is not None and refusal.reason is not RefusalReason.MISSING:
            status.level, status.message = DiagnosticStatus.WARN, f"paused: {refusal}"
        elif refusal is not None:
            status.level, status.message = DiagnosticStatus.WARN, f"waiting: {refusal}"
        else:
            status.level, status.message = DiagnosticStatus.OK, "inputs fresh: calling the policy"
        values = [KeyValue(key="reason", value="" if refusal is None else refusal.reason.value),
                  KeyValue(key="stream", value="" if refusal is None else refusal.stream)]
        values += [KeyValue(key=k, value=str(v)) for k, v in self.counts.items()]
        now = node_now(self)
        with self._lock:
            joints, images = self._joints, dict(self._images)
        if joints is not None:
            values.append(KeyValue(key="age_s.joints", value=f"{now - joints[0]:.3f}"))
        values += [KeyValue(key=f"age_s.{c}", value=f"{now - f.capture_time:.3f}") for c, f in images.items()]
        if self.image_problem:
            values.append(KeyValue(key="image_problem", value=self.image_problem[:300]))
        status.values = values
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [status]
        self._state_pub.publish(msg)

    def _loop(self) -> None:
        from roboalign.serving.errors import RequestTimeout, ServingError

        next_call = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(max(0.0, next_call - time.monotonic()))
            if self._stop.is_set():
                break
            if self._wake.is_set():
                self._wake.clear()
                next_call = time.monotonic()
            next_call = max(next_call + self.replan_period, time.monotonic())
            if self._spec is None and not self._connect():
                if self.unusable:
                    break  # nothing this node could send would be right; it stays up, silent
                continue
            obs, generation = self._observation()
            if obs is None:
                next_call = time.monotonic() + INPUT_RETRY_S  # do not lose a whole period waiting
                continue
            self.counts["calls"] += 1
            try:
                chunk = self._policy.infer(obs)
            except RequestTimeout as exc:
                self.counts["timeouts"] += 1
                self.get_logger().warning(f"policy call timed out, publishing nothing: {exc}", throttle_duration_sec=1.0)
                continue
            except ServingError as exc:
                self.counts["errors"] += 1
                self.get_logger().error(f"policy call failed, publishing nothing: {exc}", throttle_duration_sec=1.0)
                continue
            except Exception as exc:  # e.g. an observation the codec refuses: keep the thread alive
                self.counts["errors"] += 1
                self.get_logger().error(f"policy call raised {type(exc).__name__}: {exc}", throttle_duration_sec=1.0)
                continue
            with self._lock:
                if generation != self._generation:  # an episode reset happened during the call
                    self.counts["discarded_after_reset"] += 1
                    continue
            try:
                msg = chunk_to_trajectory(chunk, self._spec.joint_names)
            except ValueError as exc:
                self.counts["errors"] += 1
                self.get_logger().error(f"unusable chunk from the policy: {exc}", throttle_duration_sec=1.0)
                continue
            self._chunk_pub.publish(msg)
            self.counts["chunks"] += 1
            self.latency_ms["observation->chunk"].append((node_now(self) - obs.timestamp) * 1000.0)
            timing = self._policy.last_timing
            for stage, key in (("server_roundtrip", "roundtrip_ms"), ("server_infer", "infer_ms")):
                if timing.get(key) is not None:
                    self.latency_ms[stage].append(float(timing[key]))

    def close(self) -> None:
        """Stop the worker thread and close the server connection (call before destroy_node)."""
        self._stop.set()
        self._wake.set()
        if self._worker.is_alive():
            self._worker.join(timeout=self.request_timeout + 5.0)
        if self._policy is not None:
            self._policy.close()


def main(args=None) -> int:
    return spin_node(PolicyNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
