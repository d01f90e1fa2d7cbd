"""Observation and ActionChunk <-> protocol messages (body + named arrays), validated.

Array names on the wire (see docs/protocol.md):
    infer request:  "joint_positions" [D] float, "joint_velocities" [D] float (optional),
                    "images/<camera>" [H, W, 3] uint8, "privileged/<key>" any whitelisted dtype,
                    "intrinsics/<camera>" [3, 3] float (camera matrix K, pixels; optional)
    infer reply:    "actions" [H, D] float
Scalars travel in the header body: instruction, timestamp, capture_times (request);
start_time, dt, provenance, observation_time, timing (reply).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from roboalign.core.action import ActionChunk
from roboalign.core.observation import Observation
from roboalign.serving import errors
from roboalign.serving.errors import ProtocolError
from roboalign.serving.protocol import Limits, Message

IMAGE_PREFIX = "images/"
PRIVILEGED_PREFIX = "privileged/"
INTRINSICS_PREFIX = "intrinsics/"
_STATE_DTYPES = (np.dtype("<f4"), np.dtype("<f8"))
_MAX_JOINTS = 1024
_MAX_CAPTURE_STREAMS = 64


def observation_to_wire(obs: Observation) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Body and arrays for an infer request. Images are sent from their own memory."""
    arrays: dict[str, np.ndarray] = {"joint_positions": obs.joint_positions}
    if obs.joint_velocities is not None:
        arrays["joint_velocities"] = obs.joint_velocities
    for cam, img in obs.images.items():
        arrays[IMAGE_PREFIX + cam] = img
    for key, value in obs.privileged.items():
        arrays[PRIVILEGED_PREFIX + key] = np.asarray(value)
    for cam, k in obs.intrinsics.items():
        arrays[INTRINSICS_PREFIX + cam] = np.asarray(k, dtype=np.float64)
    body = {
        "instruction": obs.instruction,
        "timestamp": float(obs.timestamp),
        "capture_times": {str(k): float(v) for k, v in obs.capture_times.items()},
    }
    return body, arrays


def _bad(message: str, request_id: int) -> ProtocolError:
    return ProtocolError(errors.BAD_OBSERVATION, message, request_id=request_id)


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _state_vector(name: str, arr: np.ndarray, request_id: int) -> np.ndarray:
    if arr.ndim != 1 or not 1 <= arr.shape[0] <= _MAX_JOINTS or arr.dtype not in _STATE_DTYPES:
        raise _bad(f"{name} must be a float32/float64 vector of 1..{_MAX_JOINTS} entries, "
                   f"got {arr.dtype.name}{list(arr.shape)}", request_id)
    if not np.isfinite(arr).all():
        raise _bad(f"{name} contains NaN or inf", request_id)
    return np.array(arr, dtype=np.float64)  # small: a private writable copy


def observation_from_wire(msg: Message, limits: Limits) -> Observation:
    """Build the Observation of a decoded infer request, checking every field's type and shape.

    Images stay zero-copy read-only views of the receive buffers; joint vectors and privileged
    arrays are small and copied so a policy may use them freely.
    """
    rid = msg.id
    body = msg.body
    extra = set(body) - {"instruction", "timestamp", "capture_times"}
    if extra:
        raise _bad(f"unknown observation fields {sorted(map(str, extra))[:5]}", rid)
    instruction = body.get("instruction", "")
    if not isinstance(instruction, str):  # its length: protocol.decode bounds every header string
        raise _bad(f"instruction must be a string (at most {limits.max_string_len} bytes of UTF-8)", rid)
    timestamp = body.get("timestamp", 0.0)
    if not _finite_number(timestamp):
        raise _bad("timestamp must be a finite number of seconds", rid)
    capture = body.get("capture_times", {})
    if not (isinstance(capture, dict) and len(capture) <= _MAX_CAPTURE_STREAMS
            and all(isinstance(k, str) and _finite_number(v) for k, v in capture.items())):
        raise _bad(f"capture_times must map at most {_MAX_CAPTURE_STREAMS} stream names to finite seconds", rid)

    images: dict[str, np.ndarray] = {}
    privileged: dict[str, np.ndarray] = {}
    intrinsics: dict[str, np.ndarray] = {}
    joint_positions = joint_velocities = None
    for name, arr in msg.arrays.items():
        if name == "joint_positions":
            joint_positions = _state_vector(name, arr, rid)
        elif name == "joint_velocities":
            joint_velocities = _state_vector(name, arr, rid)
        elif name.startswith(IMAGE_PREFIX) and len(name) > len(IMAGE_PREFIX):
            if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
                raise _bad(f"image {name!r} must be uint8 [H, W, 3], got {arr.dtype.name}{list(arr.shape)}", rid)
            images[name[len(IMAGE_PREFIX):]] = arr
        elif name.startswith(PRIVILEGED_PREFIX) and len(name) > len(PRIVILEGED_PREFIX):
            privileged[name[len(PRIVILEGED_PREFIX):]] = np.array(arr)
        elif name.startswith(INTRINSICS_PREFIX) and len(name) > len(INTRINSICS_PREFIX):
            if arr.shape != (3, 3) or arr.dtype not in _STATE_DTYPES or not np.isfinite(arr).all():
                raise _bad(f"{name!r} must be a finite float [3, 3] camera matrix, got {arr.dtype.name}{list(arr.shape)}",
                           rid)
            intrinsics[name[len(INTRINSICS_PREFIX):]] = np.array(arr, dtype=np.float64)
        else:
            raise _bad(f"unexpected array {name!r} in an observation (expected joint_positions, "
                       f"joint_velocities, {IMAGE_PREFIX}<camera>, {PRIVILEGED_PREFIX}<key>, "
                       f"{INTRINSICS_PREFIX}<camera>)", rid)
    if joint_positions is None:
        raise _bad("observation has no joint_positions", rid)
    if joint_velocities is not None and joint_velocities.shape != joint_positions.shape:
        raise _bad("joint_velocities and joint_positions differ in length", rid)
    return Observation(
        images=images, joint_positions=joint_positions, instruction=instruction,
        timestamp=float(timestamp), joint_velocities=joint_velocities,
        capture_times={k: float(v) for k, v in capture.items()}, privileged=privileged, intrinsics=intrinsics,
    )


def chunk_to_wire(chunk: ActionChunk, timing: dict[str, float] | None = None
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    body = {
        "start_time": float(chunk.start_time),
        "dt": float(chunk.dt),
        "provenance": str(chunk.provenance),
        "observation_time": None if chunk.observation_time is None else float(chunk.observation_time),
        "timing": timing or {},
    }
    return body, {"actions": chunk.actions}


def chunk_from_wire(msg: Message, limits: Limits) -> tuple[ActionChunk, dict[str, float]]:
    """ActionChunk and server timings of an infer reply; ProtocolError if malformed."""
    def bad(message: str) -> ProtocolError:
        return ProtocolError(errors.BAD_MESSAGE, f"malformed infer reply: {message}", request_id=msg.id)

    actions = msg.arrays.get("actions")
    if actions is None or len(msg.arrays) != 1:
        raise bad("expected exactly one array named 'actions'")
    if actions.ndim != 2 or actions.dtype not in _STATE_DTYPES or actions.shape[0] < 1 or actions.shape[1] < 1:
        raise bad(f"actions must be float [H, D], got {actions.dtype.name}{list(actions.shape)}")
    body = msg.body
    start_time, dt = body.get("start_time"), body.get("dt")
    obs_time = body.get("observation_time")
    provenance = body.get("provenance", "")
    timing = body.get("timing", {})
    if not (_finite_number(start_time) and _finite_number(dt) and dt > 0):
        raise bad("start_time and dt must be finite numbers, dt > 0")
    if obs_time is not None and not _finite_number(obs_time):
        raise bad("observation_time must be a finite number or nil")
    if not isinstance(provenance, str) or len(provenance) > limits.max_string_len:
        raise bad("provenance must be a short string")
    if not (isinstance(timing, dict) and all(isinstance(k, str) and _finite_number(v) for k, v in timing.items())):
        raise bad("timing must map names to numbers")
    chunk = ActionChunk(
        actions=np.array(actions, dtype=np.float64),  # writable copy: executors may edit it
        start_time=float(start_time), dt=float(dt), provenance=provenance,
        observation_time=None if obs_time is None else float(obs_time),
    )
    return chunk, {k: (v if isinstance(v, int) else float(v)) for k, v in timing.items()}
