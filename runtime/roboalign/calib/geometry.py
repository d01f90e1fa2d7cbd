"""Rigid transforms as 4x4 matrices (metres), named T_a_b = pose of frame b in frame a, so
T_a_b @ T_b_c = T_a_c and T_a_b maps points from b into a. Rotations via scipy."""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def pose(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = np.asarray(rotation, dtype=np.float64).reshape(3, 3)
    out[:3, 3] = np.asarray(translation, dtype=np.float64).reshape(3)
    return out


def invert(t: np.ndarray) -> np.ndarray:
    r, p = t[:3, :3], t[:3, 3]
    return pose(r.T, -r.T @ p)


def transform(t: np.ndarray, points: np.ndarray) -> np.ndarray:
    """[N, 3] points of frame b -> frame a, given T_a_b."""
    return np.asarray(points) @ t[:3, :3].T + t[:3, 3]


def rotation_about(axis: str, degrees: float) -> np.ndarray:
    return Rotation.from_euler(axis, degrees, degrees=True).as_matrix()


def from_rvec(rvec: np.ndarray, tvec: np.ndarray) -> np.ndarray:
    """OpenCV's (Rodrigues vector, translation) -> 4x4."""
    return pose(Rotation.from_rotvec(np.asarray(rvec, dtype=np.float64).reshape(3)).as_matrix(), tvec)


def from_quaternion(xyzw, translation) -> np.ndarray:
    q = np.asarray(xyzw, dtype=np.float64).reshape(4)
    if not np.isfinite(q).all() or np.linalg.norm(q) < 1e-6:
        raise ValueError(f"quaternion {list(q)} is not a rotation")
    return pose(Rotation.from_quat(q / np.linalg.norm(q)).as_matrix(), translation)


def quaternion_xyzw(t: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w) with w >= 0 of a pose's rotation."""
    q = Rotation.from_matrix(t[:3, :3]).as_quat()
    return -q if q[3] < 0 else q


def rotation_error_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle of the rotation taking pose a's orientation to pose b's (degrees)."""
    return float(np.degrees(Rotation.from_matrix(a[:3, :3].T @ b[:3, :3]).magnitude()))


def translation_error_mm(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a[:3, 3] - b[:3, 3]) * 1000.0)


def mean_pose(poses: list[np.ndarray]) -> np.ndarray:
    """Rotation mean (chordal L2, scipy) and translation mean of nearby poses."""
    rotations = Rotation.from_matrix(np.stack([p[:3, :3] for p in poses]))
    return pose(rotations.mean().as_matrix(), np.mean([p[:3, 3] for p in poses], axis=0))
