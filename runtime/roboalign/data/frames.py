"""Robot frames: a RobotSample view over recorded episodes, whatever format they came from.

`EpisodeData` is what a frame source needs from one episode; the readers (roboalign.data.sources
for project episodes, roboalign.data.lerobot for LeRobotDataset-style folders) produce it, and
`RobotFrames` serves frames (episode, t) as RobotSamples with the chunk of the next `horizon`
actions (padded with the last one); `stride` keeps every k-th frame.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from roboalign.data.samples import RobotSample


@dataclasses.dataclass
class EpisodeData:
    """What a robot source needs from one episode (the Episode record has these fields)."""

    instruction: str
    images: dict[str, np.ndarray]  # camera -> uint8 [T, H, W, 3]
    joint_positions: np.ndarray  # [T, D]
    actions: np.ndarray  # [T, D] absolute targets
    dt: float
    name: str
    robot: dict | None = None  # RobotSpec dict of the arm that recorded it, when known

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    def chunk(self, t: int, horizon: int) -> np.ndarray:
        c = self.actions[t : t + horizon]
        if c.shape[0] < horizon:
            c = np.concatenate([c, np.repeat(self.actions[-1:], horizon - c.shape[0], axis=0)])
        return c


class RobotFrames(Sequence):
    """RobotSample view over a list of episodes: frames (episode, t) with t % stride == 0."""

    def __init__(self, episodes: list[EpisodeData], horizon: int, cameras: Sequence[str] | None = None,
                 stride: int = 1):
        if not episodes:
            raise ValueError("no episodes to read robot frames from")
        if horizon < 1 or stride < 1:
            raise ValueError("horizon and stride must be >= 1")
        self.episodes = episodes
        self.horizon = int(horizon)
        self.cameras = tuple(cameras) if cameras else tuple(episodes[0].images)
        for ep in episodes:
            missing = [c for c in self.cameras if c not in ep.images]
            if missing:
                raise ValueError(f"episode {ep.name} lacks camera(s) {missing} (has {list(ep.images)})")
        self.index = [(e, t) for e, ep in enumerate(episodes) for t in range(0, len(ep), stride)]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> RobotSample:
        e, t = self.index[i]
        ep = self.episodes[e]
        return RobotSample(
            images=[ep.images[c][t] for c in self.cameras],
            cameras=self.cameras,
            instruction=ep.instruction,
            state=ep.joint_positions[t],
            chunk=ep.chunk(t, self.horizon),
            dt=ep.dt,
            source=f"{ep.name}#{t}",
        )

    def chunks(self) -> np.ndarray:
        """Absolute chunks of every frame [N, H, D] (no images touched)."""
        return np.stack([self.episodes[e].chunk(t, self.horizon) for e, t in self.index])

    def states(self) -> np.ndarray:
        return np.stack([self.episodes[e].joint_positions[t] for e, t in self.index])
