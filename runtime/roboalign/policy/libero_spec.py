"""LIBERO's evaluation protocol in numbers, and its observation preprocessing (numpy only).

Shared by the LIBERO client (runs in .venv-libero: numpy 1.26, no torch) and the server-side
adapter (roboalign.policy.libero_adapter), so both sides agree on one definition. The numbers
follow the standard protocol as openpi's examples/libero/main.py runs it
(../shared/recipes/libero.md):

- 4 suites x 10 tasks x 50 initial states; an episode lasts at most SUITE_MAX_STEPS[suite]
  policy steps after NUM_STEPS_WAIT steps of DUMMY_ACTION while the objects settle;
- both cameras render at RENDER_SIZE (the training data's resolution), are rotated 180 degrees
  (the renderer's images are upside down and mirrored) and resized to IMAGE_SIZE;
- state = eef position (3, m) + eef orientation as axis-angle (3, rad) + gripper qpos (2, m);
- actions: 7-D, OSC_POSE deltas of the end effector (6, each in [-1, 1]) + gripper
  (-1 open, +1 close), re-planned every `replan_steps` steps from the returned chunk.
"""
from __future__ import annotations

import functools
import math

import numpy as np

SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10")
# Longest demonstration of each suite plus a margin (openpi's values).
SUITE_MAX_STEPS = {"libero_spatial": 220, "libero_object": 280, "libero_goal": 300, "libero_10": 520}
TASKS_PER_SUITE = 10
INIT_STATES_PER_TASK = 50
NUM_STEPS_WAIT = 10
DUMMY_ACTION = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0)  # hold still, gripper open
RENDER_SIZE = 256
IMAGE_SIZE = 224
CONTROL_PERIOD_S = 0.05  # LIBERO's control frequency: 20 Hz
ACTION_DIM = 7
STATE_DIM = 8
DEFAULT_REPLAN_STEPS = 5
DEFAULT_SEED = 7
# Wire camera name -> LIBERO observation key.
CAMERAS = {"agentview": "agentview_image", "wrist": "robot0_eye_in_hand_image"}
STATE_LAYOUT = "eef_pos(3) + eef_axis_angle(3) + gripper_qpos(2)"
GRIPPER_MEANING = "-1 open, +1 close"


@functools.lru_cache(maxsize=16)
def _resample_weights(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] weights of a triangle (bilinear) filter widened by the scale on a
    downscale, as PIL's Image.resize(BILINEAR) computes them (openpi's resize_with_pad)."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    weights = np.zeros((n_out, n_in), np.float64)
    for i in range(n_out):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        x = (np.arange(lo, hi) + 0.5 - center) / support
        w = np.clip(1.0 - np.abs(x), 0.0, None)
        weights[i, lo:hi] = w / w.sum()
    return weights


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 [H, W, 3] -> uint8 [height, width, 3], bilinear with PIL's antialiasing (within 1
    grey level of PIL). Square in, square out here, so openpi's padding never applies."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return np.ascontiguousarray(image)
    # Horizontal pass, rounded to 8 bits, then vertical: PIL's order, so rounding agrees too.
    planes = np.moveaxis(image, 2, 0).astype(np.float64)            # [C, H, W]
    rows = np.clip(np.rint(planes @ _resample_weights(w, width).T), 0, 255)
    out = _resample_weights(h, height) @ rows                        # [C, height, width]
    return np.ascontiguousarray(np.moveaxis(np.clip(np.rint(out), 0, 255).astype(np.uint8), 0, 2))


def camera_image(raw: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """A LIBERO camera frame as the policy sees it: rotated 180 degrees, then resized."""
    if raw.dtype != np.uint8 or raw.ndim != 3 or raw.shape[2] != 3:
        raise ValueError(f"a LIBERO camera frame is uint8 [H, W, 3], got {raw.dtype}{list(raw.shape)}")
    return resize(raw[::-1, ::-1], size, size)


def quat_to_axis_angle(quat_xyzw: np.ndarray) -> np.ndarray:
    """robosuite's quat2axisangle: (x, y, z, w) -> axis * angle (rad)."""
    q = np.asarray(quat_xyzw, np.float64)
    w = min(max(float(q[3]), -1.0), 1.0)
    den = math.sqrt(1.0 - w * w)
    if math.isclose(den, 0.0):
        return np.zeros(3)
    return q[:3] * 2.0 * math.acos(w) / den


def state_vector(obs: dict) -> np.ndarray:
    """The 8-D state of a LIBERO observation dict (STATE_LAYOUT), float64."""
    return np.concatenate([np.asarray(obs["robot0_eef_pos"], np.float64),
                           quat_to_axis_angle(obs["robot0_eef_quat"]),
                           np.asarray(obs["robot0_gripper_qpos"], np.float64)])


def policy_inputs(obs: dict) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(images by wire camera name at IMAGE_SIZE, 8-D state) of a LIBERO observation dict."""
    images = {name: camera_image(np.asarray(obs[key])) for name, key in CAMERAS.items()}
    return images, state_vector(obs)
