"""Board images rendered with known intrinsics and poses: ground truth for the calibration.

The board is drawn with OpenCV (the same picture `roboalign calib board` prints) and projected
through an ideal pinhole camera K at a pose T_camera_board by a homography (a plane maps to
the image exactly so), rendered at 3x and area-averaged down (the anti-aliasing a sensor's
pixels do), then blurred and given pixel noise. Used by the tests and benchmarks/calib to check
that the calibration recovers what was put in, and by `roboalign calib` users to check their
setup end to end with no camera.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from roboalign.calib.board import CharucoBoardSpec, cv2_module
from roboalign.calib.geometry import rotation_about, transform

SUPERSAMPLE = 3


@dataclasses.dataclass(frozen=True)
class ImageNoise:
    """What makes a rendered view look like a camera's: Gaussian blur (px, sigma) and pixel
    noise (grey levels, sigma, of 255)."""

    blur_px: float = 0.6
    noise_grey: float = 2.0


class BoardRenderer:
    """Views of `spec` through K (3x3, pixels) at `size` (width, height)."""

    def __init__(self, spec: CharucoBoardSpec, k: np.ndarray, size: tuple[int, int], px_per_square: int = 120,
                 margin_squares: float = 0.5, background: int = 110) -> None:
        self.spec = spec
        self.k = np.asarray(k, dtype=np.float64)
        self.size = (int(size[0]), int(size[1]))
        self.margin_px = int(round(margin_squares * px_per_square))
        self.texture = spec.image(px_per_square, self.margin_px)
        self.m_per_px = spec.square_m / px_per_square
        self.background = background

    def render(self, camera_from_board: np.ndarray, noise: ImageNoise = ImageNoise(),
               rng: np.random.Generator | None = None) -> np.ndarray:
        """uint8 grey [H, W] image of the board at pose T_camera_board (4x4, metres)."""
        cv2 = cv2_module()
        s, m = self.m_per_px, self.margin_px
        # texture pixel centre (u, v) -> board point ((u - m + 0.5) s, (v - m + 0.5) s, 0)
        texture_to_board = np.array([[s, 0.0, (0.5 - m) * s], [0.0, s, (0.5 - m) * s], [0.0, 0.0, 1.0]])
        r, t = camera_from_board[:3, :3], camera_from_board[:3, 3]
        board_to_image = self.k @ np.column_stack([r[:, 0], r[:, 1], t])
        # render at SUPERSAMPLE x: image pixel centre x maps to SUPERSAMPLE * (x + 0.5) - 0.5
        up = np.array([[SUPERSAMPLE, 0.0, (SUPERSAMPLE - 1) / 2], [0.0, SUPERSAMPLE, (SUPERSAMPLE - 1) / 2],
                       [0.0, 0.0, 1.0]])
        h = up @ board_to_image @ texture_to_board
        big = (self.size[0] * SUPERSAMPLE, self.size[1] * SUPERSAMPLE)
        warped = cv2.warpPerspective(self.texture, h, big, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                     borderValue=self.background)
        image = cv2.resize(warped, self.size, interpolation=cv2.INTER_AREA).astype(np.float32)
        if noise.blur_px > 0:
            image = cv2.GaussianBlur(image, (0, 0), noise.blur_px)
        if noise.noise_grey > 0:
            rng = rng or np.random.default_rng(0)
            image = image + rng.normal(0.0, noise.noise_grey, image.shape).astype(np.float32)
        return np.clip(np.rint(image), 0, 255).astype(np.uint8)

    def projected_corners(self, camera_from_board: np.ndarray) -> np.ndarray:
        """[corner_count, 2] exact image positions of the board's inner corners."""
        p = transform(camera_from_board, self.spec.corners_m())
        uv = (self.k @ p.T).T
        return uv[:, :2] / uv[:, 2:]


def facing_pose(distance_m: float, tilt_x_deg: float, tilt_y_deg: float, spec: CharucoBoardSpec,
                offset_m: tuple[float, float] = (0.0, 0.0), roll_deg: float = 0.0) -> np.ndarray:
    """T_camera_board of a board whose centre lies `distance_m` ahead of the camera (shifted by
    `offset_m` across the view), turned by the given angles about its own centre."""
    w, h = spec.size_m
    centre = np.array([w / 2, h / 2, 0.0])
    r = rotation_about("z", roll_deg) @ rotation_about("y", tilt_y_deg) @ rotation_about("x", tilt_x_deg)
    t = np.array([offset_m[0], offset_m[1], distance_m]) - r @ centre
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = r, t
    return pose


def calibration_poses(spec: CharucoBoardSpec, count: int, rng: np.random.Generator, distance_m=(0.35, 0.6),
                      tilt_deg: float = 35.0, spread: tuple[float, float] = (0.3, 0.22)) -> list[np.ndarray]:
    """`count` varied board poses, as a person waving the board in front of the camera would:
    tilted both ways (fronto-parallel views alone cannot separate focal length from distance)
    and moved across the view (its centre up to `spread` x distance off the optical axis, so
    the corners reach the image's edges, where distortion shows)."""
    poses = []
    for _ in range(count):
        z = rng.uniform(*distance_m)
        offset = (rng.uniform(-spread[0], spread[0]) * z, rng.uniform(-spread[1], spread[1]) * z)
        poses.append(facing_pose(z, rng.uniform(-tilt_deg, tilt_deg), rng.uniform(-tilt_deg, tilt_deg), spec,
                                 offset_m=offset, roll_deg=rng.uniform(-20, 20)))
    return poses


def hand_eye_arm_poses(mode: str, camera_transform: np.ndarray, board_pose: np.ndarray,
                       camera_from_board: list[np.ndarray]) -> list[np.ndarray]:
    """T_base_gripper of the arm poses that show the board at the given T_camera_board, for a
    camera at `camera_transform` (T_gripper_camera eye_in_hand, T_base_camera eye_to_hand) and a
    board at `board_pose` (T_base_board eye_in_hand, T_gripper_board eye_to_hand)."""
    from roboalign.calib.geometry import invert

    if mode == "eye_in_hand":  # T_base_board = T_base_gripper T_gripper_camera T_camera_board
        return [board_pose @ invert(c) @ invert(camera_transform) for c in camera_from_board]
    # T_base_camera T_camera_board = T_base_gripper T_gripper_board
    return [camera_transform @ c @ invert(board_pose) for c in camera_from_board]


def jitter_pose(t: np.ndarray, translation_m: float, rotation_deg: float, rng: np.random.Generator) -> np.ndarray:
    """`t` moved by Gaussian noise of the given sigmas (an arm's repeatability, encoder error)."""
    from scipy.spatial.transform import Rotation

    out = t.copy()
    out[:3, :3] = Rotation.from_rotvec(np.radians(rotation_deg) * rng.normal(size=3)).as_matrix() @ t[:3, :3]
    out[:3, 3] += rng.normal(0.0, translation_m, 3)
    return out
