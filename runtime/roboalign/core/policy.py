"""The Policy interface every served model (scripted expert, VLA, no-op) implements."""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from roboalign.core.action import ActionChunk
from roboalign.core.observation import Observation


@runtime_checkable
class Policy(Protocol):
    """A policy knows nothing of the network: the server only transports.

    infer: one Observation -> one ActionChunk (absolute joint targets, RobotSpec order).
    metadata: JSON-able description (robot spec dict, cameras, image size, chunk length,
        control period, model id, normalisation-stats hash, and "policy": its kind).
    reset: forget any per-episode state.
    """

    def infer(self, observation: Observation) -> ActionChunk: ...

    def metadata(self) -> dict[str, Any]: ...

    def reset(self) -> None: ...
