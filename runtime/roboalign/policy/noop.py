"""NoopPolicy: answers every observation with a chunk that holds the current joint positions.

Useful as a safe stand-in (the arm stays where it is), for wiring tests, and for measuring the
transport alone (benchmarks/transport). It supports batched inference, so the server's
dynamic batching can be exercised without a model.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from roboalign.core.action import ActionChunk
from roboalign.core.observation import Observation
from roboalign.core.policy import PolicyMetadata
from roboalign.core.robot import RobotSpec


class NoopPolicy:
    """Hold position: actions[k] = observation.joint_positions for k = 0..horizon-1.

    horizon: chunk length H (steps); dim: expected joint count D (None: accept any, and
    advertise `robot.dof` or 7); dt: step period in seconds; cameras / image_size: what the
    metadata advertises (and what the server's warm-up feeds), image_size as (height, width).
    """

    def __init__(self, horizon: int = 16, dim: int | None = None, dt: float = 0.05,
                 cameras: Sequence[str] = ("front",), image_size: Sequence[int] = (224, 224),
                 robot: RobotSpec | None = None, model_id: str = "noop") -> None:
        if int(horizon) < 1:
            raise ValueError(f"NoopPolicy: horizon must be >= 1, got {horizon}")
        if not dt > 0:
            raise ValueError(f"NoopPolicy: dt must be a positive number of seconds, got {dt}")
        if dim is not None and int(dim) < 1:
            raise ValueError(f"NoopPolicy: dim must be >= 1, got {dim}")
        if robot is not None and dim is not None and robot.dof != int(dim):
            raise ValueError(f"NoopPolicy: dim {dim} differs from the robot's {robot.dof} joints")
        self.horizon = int(horizon)
        self.dim = int(dim) if dim is not None else (robot.dof if robot is not None else None)
        self.dt = float(dt)
        self.cameras = tuple(cameras)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.robot = robot
        self.model_id = model_id
        self.resets = 0

    def _check(self, observation: Observation) -> np.ndarray:
        q = observation.joint_positions
        if self.dim is not None and q.shape[0] != self.dim:
            raise ValueError(f"NoopPolicy expects {self.dim} joint positions, got {q.shape[0]}")
        return q

    def infer(self, observation: Observation) -> ActionChunk:
        q = self._check(observation)
        return ActionChunk(
            actions=np.repeat(q[None, :], self.horizon, axis=0),
            start_time=observation.timestamp, dt=self.dt, provenance=self.model_id,
            observation_time=observation.timestamp,
        )

    def infer_batch(self, observations: Sequence[Observation]) -> list[ActionChunk]:
        """Batched form of infer (the server's dynamic batching calls this)."""
        return [self.infer(o) for o in observations]

    def example_observation(self) -> Observation:
        """An input of the advertised shapes, for the server's warm-up."""
        h, w = self.image_size
        return Observation(
            images={cam: np.zeros((h, w, 3), np.uint8) for cam in self.cameras},
            joint_positions=np.zeros(self.dim or 7), instruction="warm-up",
        )

    def metadata(self) -> PolicyMetadata:
        return PolicyMetadata(policy="noop", model_id=self.model_id, robot=self.robot, cameras=self.cameras,
                              image_size=self.image_size, chunk_length=self.horizon, action_dim=self.dim,
                              control_period=self.dt)

    def reset(self) -> None:
        self.resets += 1
