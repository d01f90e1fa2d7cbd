"""Small synthetic Episodes for the dataset tests: smooth joint paths and camera frames with a
moving coloured block on a gradient (like the sim's renders, cheap to make)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from roboalign.data.episode import Episode

JOINTS = ["joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "gripper"]


def synthetic_episode(seed: int, length: int = 12, cameras=("front", "wrist"), size=(48, 64), dt: float = 0.1,
                      instruction: str | None = None, success: bool = True, partial: bool = False,
                      joints: int = 7) -> Episode:
    rng = np.random.default_rng(seed)
    t = np.arange(length) * dt
    phase = rng.uniform(0, np.pi, joints)
    q = 0.5 * np.sin(t[:, None] * 1.3 + phase) + rng.normal(0, 1e-3, (length, joints))
    actions = q + 0.05 * np.cos(t[:, None] + phase)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    images = {}
    for k, cam in enumerate(cameras):
        frames = np.empty((length, h, w, 3), np.uint8)
        for i in range(length):
            img = np.stack([(xx * 200 // w + 20), (yy * 150 // h + 40 + 30 * k), np.full_like(xx, 90 + 20 * seed % 100)],
                           axis=-1).astype(np.uint8)
            x0, y0 = (4 + 3 * i + 5 * seed) % (w - 12), (6 + 2 * i) % (h - 12)
            img[y0:y0 + 12, x0:x0 + 12] = (200, 30, 30) if seed % 2 else (30, 60, 210)
            frames[i] = img
        images[cam] = frames
    names = JOINTS if joints == 7 else [f"j{i}" for i in range(joints)]
    return Episode(
        instruction=instruction or ("touch the red block" if seed % 2 else "touch the blue block"),
        images=images, joint_positions=q, actions=actions, timestamps=t, success=success, dt=dt,
        metadata={"robot": {"name": "synthetic_arm", "joint_names": names}, "seed": seed,
                  **({"partial": True} if partial else {})})


def write_episodes(root: Path, episodes: list[Episode]) -> Path:
    for i, ep in enumerate(episodes):
        ep.save(root / f"episode_{i:06d}")
    return root
