"""camera_node: one camera (RealSense, UVC, a recording) on standard topics, stamped at capture.

  /camera/<name>/image_raw                        (Image rgb8, sensor QoS)          out
  /camera/<name>/image_raw/compressed             (CompressedImage JPEG)            out, `compressed: true`
  /camera/<name>/aligned_depth_to_color/image_raw (Image 16UC1 mm, sensor QoS)      out, depth cameras
  /camera/<name>/camera_info                      (CameraInfo, sensor QoS)          out, every frame
  /camera/<name>/state                            (DiagnosticArray, reliable)       out: rate, drops, staleness
  /clock                                          (rosgraph_msgs/Clock)             out, `publish_clock: true`

The device is read by roboalign.sensors (a background reader that always holds the freshest
frame; see docs/cameras.md): `source` is one of its source strings (realsense:SERIAL,
/dev/video0, realsense-file:run.db3, episode:DIR, ...). header.stamp is the frame's capture
time on ROS time (the device's own stamp mapped onto the host clock), never the publication
time, so the policy node can tell how old and how far apart its inputs are.

CameraInfo comes from `calibration_file` (calibration/<robot>/<name>.yaml, ROS camera_info
YAML, written by `roboalign calib intrinsics`), else from the device (a RealSense reports its
factory intrinsics; a recording carries them). A calibration for another image size is refused
(a wrong K is worse than none).

Lifecycle: a managed node (configure: open the device and load the calibration; activate:
publish; deactivate: stop publishing; cleanup: release the device). With `autostart` (the
default) it configures and activates itself, and keeps retrying the configuration every
`reconnect_interval` seconds while the device is missing, saying why on /camera/<name>/state
and in the log. A device lost while streaming is reopened by the reader.

Replaying a recording with its original timing: `recorded_timestamps: true` stamps frames with
the recording's times and `publish_clock: true` publishes them on /clock, so the rest of the
graph runs on the recording's clock (start those nodes with use_sim_time: true), as
`ros2 bag play --clock` does.
"""
from __future__ import annotations

import threading

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from roboalign.core.camera import CameraError, FrameTimeoutError, Intrinsics
from roboalign.errors import ConfigError
from roboalign.sensors.streaming import EndOfStreamError
from roboalign_ros import qos
from roboalign_ros.conversions import (
    camera_info_from_intrinsics,
    compressed_to_msg,
    depth_to_msg,
    image_to_msg,
    node_now,
    seconds_to_stamp,
)
from roboalign_ros.params import ParameterError, declare, refuse_undeclared, spin_node


class CameraNode(LifecycleNode):
    def __init__(self, **kwargs) -> None:
        super().__init__("camera", **kwargs)
        self.camera_name = declare(self, "camera_name", "front", "topics are /camera/<camera_name>/...", read_only=True)
        self.source = declare(self, "source", "", "the device: realsense[:SERIAL], /dev/videoN, opencv:PATH|URL, "
                              "realsense-file:PATH.db3, episode:DIR[#CAMERA] (docs/cameras.md)", read_only=True)
        self.width = declare(self, "width", 640, "image width asked of the device (px; 0: its default, UVC only)",
                             low=0, high=8192, read_only=True)
        self.height = declare(self, "height", 480, "image height (px; 0: the device's default, UVC only)",
                              low=0, high=8192, read_only=True)
        self.fps = declare(self, "fps", 30, "frame rate asked of the device (Hz)", low=1, high=1000, read_only=True)
        self.depth = declare(self, "depth", True, "publish depth aligned to colour (depth cameras)", read_only=True)
        self.compressed = declare(self, "compressed", False, "also publish image_raw/compressed (JPEG), for "
                                  "consumers across a network", read_only=True)
        self.jpeg_quality = declare(self, "jpeg_quality", 90, "JPEG quality of image_raw/compressed", low=10, high=100)
        self.calibration_file = declare(self, "calibration_file", "", "camera_info YAML of this camera "
                                        "(calibration/<robot>/<camera>.yaml); empty: the device's intrinsics",
                                        read_only=True)
        self.frame_id = declare(self, "frame_id", "", "header.frame_id (empty: <camera_name>_optical_frame)",
                                read_only=True) or f"{self.camera_name}_optical_frame"
        self.playback_rate = declare(self, "playback_rate", 1.0, "recordings: speed relative to recorded (0: as "
                                     "fast as read)", low=0.0, high=100.0, read_only=True)
        self.recorded_timestamps = declare(self, "recorded_timestamps", False, "recordings: stamp frames with the "
                                           "recording's own times (with publish_clock)", read_only=True)
        self.publish_clock = declare(self, "publish_clock", False, "publish each frame's stamp on /clock (replaying "
                                     "a recording: other nodes then use_sim_time)", read_only=True)
        self.reconnect_interval = declare(self, "reconnect_interval", 1.0, "s between tries to (re)open a missing "
                                          "device", low=0.05, high=60.0, read_only=True)
        self.lost_after = declare(self, "lost_after", 2.0, "s without a frame before the device counts as lost and "
                                  "is reopened", low=0.1, high=60.0, read_only=True)
        self.max_frame_age = declare(self, "max_frame_age", 0.5, "s: a newest frame older than this is reported stale",
                                     low=0.01, high=60.0)
        diag_rate = declare(self, "diagnostics_rate_hz", 1.0, "rate of /camera/<name>/state (Hz)", low=0.1, high=50.0)
        self.autostart = declare(self, "autostart", True, "configure and activate at start (false: a lifecycle "
                                 "manager drives /camera/change_state)", read_only=True)
        refuse_undeclared(self)
        if not self.source:
            raise ParameterError(self.get_name(), "source", "source: empty; name the camera, e.g. realsense:SERIAL, "
                                 "/dev/video0 or realsense-file:run.db3 (docs/cameras.md)")
        if self.recorded_timestamps and not self.publish_clock:
            self.get_logger().warning("recorded_timestamps without publish_clock: frames carry the recording's times, "
                                      "which other nodes will see as old unless they run on its clock")
        self.topic = f"/camera/{self.camera_name}"
        self.camera = None
        self.calibration: Intrinsics | None = None
        self.problem: str | None = None      # why the node is not streaming, when it is not
        self.published = 0
        self.skipped = 0                    # newer frames existed by the time one was published
        self._drops_seen = 0                # device drops already accounted for
        self.ended = False
        self._pubs: dict[str, object] = {}
        self._pump: threading.Thread | None = None
        self._pumping = threading.Event()
        self._state_pub = self.create_publisher(DiagnosticArray, f"{self.topic}/state", qos.STATE)
        self._clock_pub = self.create_publisher(Clock, "/clock", qos.SENSOR) if self.publish_clock else None
        self.create_timer(1.0 / diag_rate, self._publish_state)
        self._retry = None
        if self.autostart:
            self._retry = self.create_timer(self.reconnect_interval, self._autostart)
            self._autostart()

    # ---- lifecycle ----------------------------------------------------------------------------
    @property
    def lifecycle_state(self) -> str:
        """The lifecycle state: unconfigured, inactive, active or finalized."""
        return self._state_machine.current_state[1]

    def _autostart(self) -> None:
        """Configure (until it works), then activate; the timer stops once streaming."""
        state = self.lifecycle_state
        if state == "unconfigured":
            self.trigger_configure()
            state = self.lifecycle_state
        if state == "inactive":
            self.trigger_activate()
            state = self.lifecycle_state
        if state != "unconfigured" and self._retry is not None:
            self._retry.cancel()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from roboalign.calib.files import load_intrinsics
        from roboalign.sensors.sources import open_source

        try:
            self.calibration = load_intrinsics(self.calibration_file) if self.calibration_file else None
            self.camera = open_source(self.camera_name, self.source, width=self.width, height=self.height,
                                      fps=self.fps, depth=self.depth, playback_rate=self.playback_rate,
                                      recorded_timestamps=self.recorded_timestamps, intrinsics=self.calibration,
                                      clock=lambda: node_now(self), reconnect_interval_s=self.reconnect_interval,
                                      lost_after_s=self.lost_after)
            self.camera.connect()
        except (CameraError, ConfigError, ValueError) as exc:
            self.camera = None
            if str(exc) != self.problem:
                self.get_logger().error(f"cannot open the camera: {exc}" + (
                    f"; retrying every {self.reconnect_interval:g} s" if self.autostart else ""))
            self.problem = str(exc)
            return TransitionCallbackReturn.FAILURE
        self.problem = None
        self._pubs = {"image": self.create_lifecycle_publisher(Image, f"{self.topic}/image_raw", qos.SENSOR),
                      "info": self.create_lifecycle_publisher(CameraInfo, f"{self.topic}/camera_info", qos.SENSOR)}
        if self.depth:
            self._pubs["depth"] = self.create_lifecycle_publisher(
                Image, f"{self.topic}/aligned_depth_to_color/image_raw", qos.SENSOR)
        if self.compressed:
            self._pubs["compressed"] = self.create_lifecycle_publisher(
                CompressedImage, f"{self.topic}/image_raw/compressed", qos.SENSOR)
        self.get_logger().info(f"opened {self.source} as {self.topic}" + (
            f" with calibration {self.calibration_file}" if self.calibration_file else ""))
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # enables the lifecycle publishers
        self._pumping.set()
        self._pump = threading.Thread(target=self._publish_frames, name=f"camera-{self.camera_name}", daemon=True)
        self._pump.start()
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_pump()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return super().on_shutdown(state)

    def _stop_pump(self) -> None:
        self._pumping.clear()
        if self._pump is not None:
            self._pump.join(timeout=5.0)
            self._pump = None

    def _release(self) -> None:
        self._stop_pump()
        if self.camera is not None:
            self.camera.disconnect()
            self.camera = None
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}

    # ---- frames (the pump thread) -------------------------------------------------------------
    def _publish_frames(self) -> None:
        last_sequence = None
        while self._pumping.is_set():
            try:
                frame = self.camera.read(timeout_s=0.25)
            except EndOfStreamError:
                self.ended = True
                self.get_logger().info(f"{self.source}: recording ended after {self.published} frames")
                return
            except FrameTimeoutError:
                continue  # the reader reports a lost device in status(); diagnostics say it
            if last_sequence is not None:
                self.skipped += max(0, frame.sequence - last_sequence - 1 - self._device_drops_between())
            last_sequence = frame.sequence
            stamp = seconds_to_stamp(frame.capture_time)
            if self._clock_pub is not None:
                self._clock_pub.publish(Clock(clock=stamp))
            info = self._camera_info(frame)
            if info is not None:  # first: a subscriber then has K when the image comes
                self._pubs["info"].publish(info)
            self._pubs["image"].publish(image_to_msg(frame.image, stamp, self.frame_id))
            if "compressed" in self._pubs:
                self._pubs["compressed"].publish(compressed_to_msg(frame.image, stamp, self.frame_id, self.jpeg_quality))
            if "depth" in self._pubs and frame.depth is not None:
                self._pubs["depth"].publish(depth_to_msg(frame.depth, stamp, self.frame_id))
            self.published += 1

    def _device_drops_between(self) -> int:
        """Device drops since the last published frame (counted apart from the node's own skips)."""
        dropped = self.camera.status().dropped
        new, self._drops_seen = dropped - self._drops_seen, dropped
        return new

    def _camera_info(self, frame) -> CameraInfo | None:
        k = self.calibration or frame.intrinsics
        if k is None:
            return None
        if (k.height, k.width) != frame.image.shape[:2]:
            if self.problem is None:
                self.problem = (f"calibration {self.calibration_file} is for {k.width}x{k.height}, the camera delivers "
                                f"{frame.image.shape[1]}x{frame.image.shape[0]}: no camera_info published")
                self.get_logger().error(self.problem)
            return None
        return camera_info_from_intrinsics(k, seconds_to_stamp(frame.capture_time), self.frame_id)

    # ---- diagnostics ------------------------------------------------------------------------------
    def _publish_state(self) -> None:
        lifecycle = self.lifecycle_state
        status = DiagnosticStatus(name=f"roboalign/camera/{self.camera_name}", hardware_id=self.source)
        values = [KeyValue(key="lifecycle", value=lifecycle), KeyValue(key="published", value=str(self.published)),
                  KeyValue(key="skipped_by_publisher", value=str(self.skipped))]
        camera = self.camera
        if camera is None:
            status.level = DiagnosticStatus.ERROR if self.problem else DiagnosticStatus.WARN
            status.message = self.problem or f"not streaming ({lifecycle})"
        else:
            s = camera.status()
            values += [KeyValue(key="rate_hz", value=f"{s.rate_hz:.2f}"), KeyValue(key="frames", value=str(s.frames)),
                       KeyValue(key="dropped", value=str(s.dropped)),
                       KeyValue(key="reconnects", value=str(s.reconnects)),
                       KeyValue(key="age_s", value="none" if s.age_s is None else f"{s.age_s:.3f}")]
            status.message = s.summary()
            if s.ended or self.ended:
                status.level = DiagnosticStatus.OK
            elif s.error or self.problem:
                status.level = DiagnosticStatus.ERROR
                status.message = s.summary() if s.error else self.problem
            elif lifecycle == "active" and (s.age_s is None or s.age_s > self.max_frame_age):
                status.level = DiagnosticStatus.WARN
                status.message = f"stale: {s.summary()} (max {self.max_frame_age:g} s)"
            else:
                status.level = DiagnosticStatus.OK
        status.values = values
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [status]
        self._state_pub.publish(msg)

    def close(self) -> None:
        """Stop publishing and release the device (call before destroy_node)."""
        if self._retry is not None:
            self._retry.cancel()
        self._release()


def main(args=None) -> int:
    return spin_node(CameraNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
