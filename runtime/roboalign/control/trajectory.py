"""Joint trajectories the chunk executor plays: velocity-continuous cubic plans and the blends
that join one onto the next (real-time chunking); and the linear ones of the executor before.

HermitePlan: knots (time t_i in s, position p_i, velocity m_i per joint); between two knots the
one cubic with those end positions and velocities (a cubic Hermite segment), so position and
velocity are continuous (acceleration may jump at a knot: C1, not C2). It holds p_0 before its
first knot and p_{K-1} after its last.

chunk_plan: a HermitePlan through a chunk's points with monotone tangents: Catmull-Rom (the
three-point derivative), limited per joint as Fritsch & Carlson do (0 where the two neighbouring
secants differ in sign, at most 3x the smaller secant otherwise), the first secant at the first
point, 0 at the last (the plan comes to rest there). Overshoot: none. With these tangents each
segment is monotone between its two points, so per joint the plan stays between the two points
it interpolates (the price: where a joint turns back its velocity passes through 0). Segments
that would exceed the velocity or acceleration limits are stretched in time (later, never
earlier), which changes neither that bound nor the points.

Blend: one plan taken over into another with a quintic weight, continuous in position, velocity
and acceleration at both ends, and per joint never outside the range of the two plans.

Units: s, rad (gripper in its RobotSpec unit), rad/s, rad/s^2.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def monotone_tangents(times: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Velocities [H, D] at points [H, D] of times [H] (see the module docstring): no overshoot,
    the first secant at the first point, 0 at the last."""
    tangents = np.zeros_like(points)
    if points.shape[0] < 2:
        return tangents
    h = np.diff(times)[:, None]
    secant = np.diff(points, axis=0) / h
    tangents[0] = secant[0]
    before, after = secant[:-1], secant[1:]
    # Catmull-Rom for uneven spacing: the secants weighted by the other side's length.
    central = (before * h[1:] + after * h[:-1]) / (h[:-1] + h[1:])
    cap = 3.0 * np.minimum(np.abs(before), np.abs(after))
    tangents[1:-1] = np.where(before * after > 0.0, np.clip(central, -cap, cap), 0.0)
    return tangents


def segment_peaks(times: np.ndarray, positions: np.ndarray, velocities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest |velocity| and |acceleration| [K-1, D] on each cubic Hermite segment between knots.
    The acceleration is linear along a segment (largest at an end); the velocity is quadratic
    (largest at an end or at its vertex)."""
    h = np.diff(times)[:, None]
    m0, m1 = velocities[:-1], velocities[1:]
    slope = np.diff(positions, axis=0) / h
    c2 = (3.0 * slope - 2.0 * m0 - m1) / h
    c3 = (m0 + m1 - 2.0 * slope) / (h * h)
    acc = np.maximum(np.abs(2.0 * c2), np.abs(2.0 * c2 + 6.0 * c3 * h))
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(c3 != 0.0, -c2 / (3.0 * c3), -1.0)
    inside = (vertex > 0.0) & (vertex < h)
    at_vertex = np.where(inside, np.abs(m0 + vertex * (2.0 * c2 + 3.0 * c3 * vertex)), 0.0)
    return np.maximum(np.maximum(np.abs(m0), np.abs(m1)), at_vertex), acc


def chunk_plan(times: np.ndarray, points: np.ndarray, max_velocity: np.ndarray, max_acceleration: np.ndarray,
               passes: int | None = None) -> HermitePlan:
    """The monotone cubic through a chunk's points, its segments slowed down where they would ask
    for more than max_velocity or max_acceleration (per joint): a segment is stretched in time
    by the largest of velocity / limit and sqrt(acceleration / limit) (the factors a stretch
    divides them by), then the tangents are recomputed, `passes` times at most (default: one
    more than the segments, as a stretch can move the excess one segment on per pass). The first
    point keeps its time; later points may come later than the chunk said (never earlier)."""
    times = np.asarray(times, dtype=np.float64).copy()
    tangents = monotone_tangents(times, points)
    for _ in range(len(times) + 1 if passes is None else passes):
        vel, acc = segment_peaks(times, points, tangents)
        stretch = np.max(np.maximum(vel / max_velocity, np.sqrt(acc / max_acceleration)), axis=1)
        if np.all(stretch <= 1.0 + 1e-9):
            break
        h = np.diff(times) * np.maximum(stretch, 1.0)
        times = times[0] + np.concatenate([[0.0], np.cumsum(h)])
        tangents = monotone_tangents(times, points)
    return HermitePlan(times, points, tangents)


class HermitePlan:
    """Knots (times [K] strictly increasing, positions [K, D], velocities [K, D]); see the module
    docstring. Immutable."""

    def __init__(self, times: np.ndarray, positions: np.ndarray, velocities: np.ndarray) -> None:
        self.times = np.asarray(times, dtype=np.float64)
        self.positions = np.asarray(positions, dtype=np.float64)
        self.velocities = np.asarray(velocities, dtype=np.float64)
        self.end = float(self.times[-1])
        h = np.diff(self.times)[:, None]
        slope = np.diff(self.positions, axis=0) / h
        m0, m1 = self.velocities[:-1], self.velocities[1:]
        # segment k: p(τ) = p_k + m_k τ + c2 τ² + c3 τ³ for τ = t - t_k in [0, t_{k+1} - t_k]
        c2 = (3.0 * slope - 2.0 * m0 - m1) / h
        c3 = (m0 + m1 - 2.0 * slope) / (h * h)
        # Every piece as p_i + m_i τ + c2_i τ² + c3_i τ³ from its start, with the holds before the
        # first knot and after the last as pieces too (index = searchsorted(times, t, "right")).
        zero = np.zeros((1, self.positions.shape[1]))
        self._start = np.concatenate([self.times[:1], self.times])
        self._p = np.vstack([self.positions[:1], self.positions])
        self._m = np.vstack([zero, m0, zero])
        self._c2 = np.vstack([zero, c2, zero])
        self._c3 = np.vstack([zero, c3, zero])

    @classmethod
    def at_rest(cls, t: float, position: np.ndarray) -> HermitePlan:
        """Standing still at `position` (before and after t)."""
        return cls(np.array([t]), position[None].copy(), np.zeros((1, position.shape[0])))

    @classmethod
    def resampled(cls, plan: Any, t0: float, t1: float, step: float, through: float) -> HermitePlan:
        """`plan` (anything with evaluate()) from t0 to t1 as knots at t0 and every `step` s
        through `through`, each with the plan's own position and velocity: a bounded copy, equal
        to it in position and velocity at t0 (where it takes over) and at `through` (error
        between knots O(step^2 x its acceleration changes)), so blends never nest."""
        before = int(np.floor(max(through - t0, 0.0) / step))
        after = int(np.ceil(max(t1 - through, 0.0) / step))
        grid = through + step * np.arange(-before, after + 1)
        times = np.concatenate([[t0], grid[grid > t0 + 1e-6]]) if t0 < through else grid
        positions, velocities, _ = plan.evaluate(times)
        return cls(times, positions, velocities)

    def knots(self) -> np.ndarray:
        """Times (s) where the acceleration may jump."""
        return self.times

    def sample(self, t: float) -> np.ndarray:
        """Position at time t (s)."""
        k = int(np.searchsorted(self.times, t, side="right"))
        tau = t - self._start[k]
        return self._p[k] + tau * (self._m[k] + tau * (self._c2[k] + tau * self._c3[k]))

    def evaluate(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions, velocities and accelerations [n, D] at the times ts [n] (s)."""
        k = np.searchsorted(self.times, ts, side="right")
        tau = (ts - self._start[k])[:, None]
        m, c2, c3 = self._m[k], self._c2[k], self._c3[k]
        return (self._p[k] + tau * (m + tau * (c2 + tau * c3)), m + tau * (2.0 * c2 + 3.0 * tau * c3),
                2.0 * c2 + 6.0 * tau * c3)


def blend_weights(s: np.ndarray, window: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """w = 10 s^3 - 15 s^4 + 6 s^5 at s = (t - t0) / window in [0, 1], and its first and second
    time derivatives (1/s, 1/s^2): w, w', w'' are 0 at s = 0; w = 1 and w' = w'' = 0 at s = 1."""
    return (s**3 * (10.0 + s * (-15.0 + 6.0 * s)),
            30.0 * s**2 * (1.0 - s) ** 2 / window,
            60.0 * s * (1.0 - s) * (1.0 - 2.0 * s) / (window * window))


class Blend:
    """`old` until t0, then a smooth blend into `new`, which it equals from t1 on; t1 per joint
    (an array [D]: each joint joins over its own window) or one time for all.

    p = (1 - w) p_old + w p_new with w = 10 s^3 - 15 s^4 + 6 s^5, s = (t - t0) / (t1 - t0): w, w'
    and w'' are 0 at t0 and w = 1, w' = w'' = 0 at t1, so position, velocity and acceleration
    are those of `old` at t0 and of `new` at t1 (continuous where the two plans are). Per joint the
    blend lies between the two plans (a convex combination): it never leaves their range.
    """

    def __init__(self, old: Any, new: Any, t0: float, t1: np.ndarray | float) -> None:
        self.old, self.new, self.t0 = old, new, float(t0)
        self.window = np.asarray(t1, dtype=np.float64) - self.t0   # s, > 0
        self.t1 = self.t0 + float(np.max(self.window))             # the whole blend is over by then
        self.end = max(new.end, self.t1)

    def knots(self) -> np.ndarray:
        """Times (s) where the acceleration may jump: the two plans' knots (the blend itself is
        smooth at its ends)."""
        return np.union1d(self.old.knots(), self.new.knots())

    def sample(self, t: float) -> np.ndarray:
        if t <= self.t0:
            return self.old.sample(t)
        if t >= self.t1:
            return self.new.sample(t)
        s = np.minimum((t - self.t0) / self.window, 1.0)
        w = s * s * s * (10.0 + s * (-15.0 + 6.0 * s))
        old = self.old.sample(t)
        return old + w * (self.new.sample(t) - old)

    def evaluate(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = np.clip((ts[:, None] - self.t0) / self.window, 0.0, 1.0)
        return blend(self.old.evaluate(ts), self.new.evaluate(ts), *blend_weights(s, self.window))


def blend(old: tuple[np.ndarray, ...], new: tuple[np.ndarray, ...], w: np.ndarray, w1: np.ndarray,
          w2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Position, velocity, acceleration of (1 - w) old + w new, given each plan's (p, v, a) and
    the weight's value and time derivatives (blend_weights)."""
    (po, vo, ao), (pn, vn, an) = old, new
    dp, dv = pn - po, vn - vo
    return po + w * dp, vo + w * dv + w1 * dp, ao + w * (an - ao) + 2.0 * w1 * dv + w2 * dp


class Polyline:
    """Piecewise-linear trajectory through (times[k], points[k]); constant outside (the linear
    interpolation: a command always lies on a segment between two points the policy produced)."""

    def __init__(self, times: np.ndarray, points: np.ndarray) -> None:
        self.times = times
        self.points = points
        self.end = float(times[-1])

    def sample(self, t: float) -> np.ndarray:
        times = self.times
        if t <= times[0]:
            return self.points[0].copy()
        if t >= times[-1]:
            return self.points[-1].copy()
        k = int(np.searchsorted(times, t, side="right")) - 1
        alpha = (t - times[k]) / (times[k + 1] - times[k])
        return (1.0 - alpha) * self.points[k] + alpha * self.points[k + 1]


class Crossfade:
    """`old` until t0, then a linear blend into `new` reaching it at t1."""

    def __init__(self, old: Any, new: Polyline, t0: float, t1: float) -> None:
        self.old, self.new, self.t0, self.t1 = old, new, t0, t1
        self.end = new.end

    def knots(self) -> np.ndarray:
        """Times (s) where the acceleration may jump: the two plans' knots (the blend itself is
        smooth at its ends)."""
        return np.union1d(self.old.knots(), self.new.knots())

    def sample(self, t: float) -> np.ndarray:
        if t <= self.t0:
            return self.old.sample(t)
        if t >= self.t1:
            return self.new.sample(t)
        alpha = (t - self.t0) / (self.t1 - self.t0)
        return (1.0 - alpha) * self.old.sample(t) + alpha * self.new.sample(t)


def collapse(trajectory: Any, now: float) -> Any:
    """Drop blends (Crossfade, Blend) that have finished by `now`, so a chain of them stays short."""
    if isinstance(trajectory, (Crossfade, Blend)):
        if now >= trajectory.t1:
            return trajectory.new
        node = trajectory
        while isinstance(node.old, (Crossfade, Blend)):
            if now >= node.old.t1:
                node.old = node.old.new
                break
            node = node.old
    return trajectory
