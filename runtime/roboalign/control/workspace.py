"""Cartesian workspace of the tool point: an axis-aligned box and a table plane, through FK.

Used by the SafetyFilter (roboalign.control.safety): a joint command whose tool point would
leave the box or go below the table is cut back along its joint-space segment to the last point
that does not (bisection), so the output's tool point never leaves the workspace.

Units: metres in the arm's base frame (the frame its Kinematics reports), radians for joints.
"""
from __future__ import annotations

from collections.abc import Sequence

from roboalign.core.kinematics import Kinematics

BISECTION_TOLERANCE = 1e-4  # rad: joint-space width at which the bisection stops (<= 0.1 mm at 1 m reach)
MAX_BISECTION_STEPS = 40


class Workspace:
    """Where the tool point may be: inside [box_min, box_max] (optional) and z >= table_height
    (optional). violation() says how far outside a joint vector puts it (0 inside).

    kinematics: FK of the tool point; joint_index: where its joints sit in the filter's command
    vector (the command may hold more, e.g. a gripper).
    """

    def __init__(self, kinematics: Kinematics, joint_index: Sequence[int],
                 box_min: Sequence[float] | None, box_max: Sequence[float] | None,
                 table_height: float | None) -> None:
        self.kinematics = kinematics
        self.joint_index = tuple(int(i) for i in joint_index)
        self.box = None if box_min is None or box_max is None else (tuple(box_min), tuple(box_max))
        self.table_height = None if table_height is None else float(table_height)
        self.last_position = (0.0, 0.0, 0.0)  # tool point of the last violation() call, m

    def violation(self, q: Sequence[float]) -> float:
        """Metres the tool point of joints `q` (the full command vector) lies outside; 0 inside."""
        x, y, z = self.kinematics.tool_position([q[i] for i in self.joint_index])
        self.last_position = (x, y, z)
        worst = 0.0
        if self.box is not None:
            (x0, y0, z0), (x1, y1, z1) = self.box
            worst = max(worst, x0 - x, x - x1, y0 - y, y - y1, z0 - z, z - z1)
        if self.table_height is not None:
            worst = max(worst, self.table_height - z)
        return worst

    def last_safe(self, start: list[float], end: list[float], allowed: float) -> tuple[list[float], float]:
        """The point of the joint segment start -> end furthest along it (by bisection) whose
        violation stays <= allowed, and that violation. `start` itself must satisfy it; the
        result is `start` exactly when no step along the segment does.
        The tool point of the returned joints is left in `last_position`."""
        delta = [b - a for a, b in zip(start, end)]
        span = max(abs(d) for d in delta)
        low, high, low_violation, low_position = 0.0, 1.0, None, None
        for _ in range(MAX_BISECTION_STEPS):
            if (high - low) * span <= BISECTION_TOLERANCE:
                break
            mid = 0.5 * (low + high)
            violation = self.violation([a + mid * d for a, d in zip(start, delta)])
            if violation <= allowed:
                low, low_violation, low_position = mid, violation, self.last_position
            else:
                high = mid
        if low_violation is None:  # no safe step along the segment: stay where we are
            self.violation(start)
            return list(start), allowed
        self.last_position = low_position
        return [a + low * d for a, d in zip(start, delta)], low_violation

    def describe(self) -> str:
        parts = []
        if self.box is not None:
            parts.append(f"box {list(self.box[0])}..{list(self.box[1])} m")
        if self.table_height is not None:
            parts.append(f"table z >= {self.table_height} m")
        return " and ".join(parts)
