"""Language-conditioned task families of the sim arm: layouts, instructions, success tests.

Families:
  touch  "touch the <colour> block": success when the tool centre point (between the
         fingertips) stays within TOUCH_RADIUS of the top centre of the target block, or the
         hand is in contact with it, for SUCCESS_HOLD_S seconds.
  push   "push the <colour> block onto the target": success when the block's centre rests on
         the yellow pad (within PAD_TOLERANCE of its centre in x and y, on the table) for
         SUCCESS_HOLD_S seconds.
Success is latched: once reached, an episode stays successful.

Everything here is plain numpy (no MuJoCo), seeded by a numpy Generator, so layouts are
reproducible from the episode seed alone.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np

COLOURS = ("red", "green", "blue")
OBJECT_NAMES = tuple(f"{c}_block" for c in COLOURS)
FAMILIES = ("touch", "push")
CAMERAS = ("front", "wrist")  # the cameras of sim/assets/arm.xml (tests/sim pins this)

BLOCK_HALF = 0.0225  # m, half edge of the cubes (must match sim/assets/arm.xml)
TOUCH_RADIUS = 0.03  # m
PAD_TOLERANCE = 0.04  # m, |block centre - pad centre| per axis (block fully over the pad)
SUCCESS_HOLD_S = 0.2  # s the condition must hold before success latches

# Workspace on the table where blocks are placed (m, arm base at the origin facing +x).
BLOCK_X = (0.28, 0.48)
BLOCK_Y = (-0.2, 0.2)
MIN_BLOCK_SPACING = 0.09  # m between block centres
# Push: pad distance from the target block, clearance of the push lane from other blocks.
PUSH_DISTANCE = (0.10, 0.18)
PUSH_LANE_CLEARANCE = 0.085
MAX_REACH_XY = 0.52  # m from the base axis: stay clear of the stretched-arm singularity

# Arm home pose (rad): tool pointing down about 0.3 m above the table, elbow up.
HOME_Q = np.array([0.0, 0.24, 1.25, 0.0, 1.65, 0.0])
HOME_NOISE = np.array([0.3, 0.12, 0.12, 0.15, 0.12, 0.3])  # uniform +- per joint at reset

TEMPLATES = {
    "touch": (
        "touch the {c} block",
        "tap the {c} block",
        "touch the {c} cube",
        "reach out and touch the {c} block",
        "put your fingertips on the {c} block",
    ),
    "push": (
        "push the {c} block onto the target",
        "push the {c} cube onto the yellow pad",
        "slide the {c} block onto the target",
        "move the {c} block onto the yellow square",
    ),
}


@dataclasses.dataclass(frozen=True)
class TaskInfo:
    """One episode's task: what to say to the policy and what counts as success.

    target: object name (e.g. "red_block"). pad_position: xyz of the target pad (push only).
    """

    instruction: str
    family: str
    target: str
    seed: int
    pad_position: tuple[float, float, float] | None = None

    @property
    def colour(self) -> str:
        return self.target.split("_")[0]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Layout:
    """Initial state of an episode: block poses (xy, yaw), pad xy (push), arm joints, gripper."""

    block_xy: dict[str, np.ndarray]
    block_yaw: dict[str, float]
    pad_xy: np.ndarray | None
    arm_q: np.ndarray
    gripper: float


def parse_task(text: str) -> tuple[str, str]:
    """(family, colour) named by a family name or an instruction; raises ValueError otherwise.

    "touch" -> ("touch", ""), "push the red block onto the target" -> ("push", "red").
    """
    t = text.strip().lower()
    if t in FAMILIES:
        return t, ""
    family = "push" if re.search(r"\b(push|slide|move)\b", t) else "touch" if re.search(r"\b(touch|tap|fingertips)\b", t) else ""
    colours = [c for c in COLOURS if re.search(rf"\b{c}\b", t)]
    if not family or len(colours) != 1:
        raise ValueError(
            f"cannot read a task from {text!r}: give a family ({', '.join(FAMILIES)}) or an "
            f"instruction such as 'touch the red block' / 'push the blue block onto the target'"
        )
    return family, colours[0]


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ab = b - a
    s = float(np.clip(np.dot(p - a, ab) / max(np.dot(ab, ab), 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + s * ab)))


def _sample_blocks(rng: np.random.Generator) -> dict[str, np.ndarray]:
    for _ in range(1000):
        xy = {n: np.array([rng.uniform(*BLOCK_X), rng.uniform(*BLOCK_Y)]) for n in OBJECT_NAMES}
        pts = list(xy.values())
        if all(np.linalg.norm(pts[i] - pts[j]) >= MIN_BLOCK_SPACING for i in range(3) for j in range(i + 1, 3)):
            if all(np.linalg.norm(p) <= MAX_REACH_XY for p in pts):
                return xy
    raise RuntimeError("could not place the blocks (workspace too small for the spacing)")


def _sample_pad(rng: np.random.Generator, xy: dict[str, np.ndarray], target: str) -> np.ndarray | None:
    """A pad position reachable by a straight push whose lane is clear of the other blocks."""
    b = xy[target]
    others = [p for n, p in xy.items() if n != target]
    for _ in range(200):
        ang = rng.uniform(-np.pi, np.pi)
        u = np.array([np.cos(ang), np.sin(ang)])
        pad = b + rng.uniform(*PUSH_DISTANCE) * u
        behind = b - 0.09 * u  # where the hand lines up before pushing
        if not (0.22 <= pad[0] <= 0.5 and abs(pad[1]) <= 0.24 and np.linalg.norm(pad) <= MAX_REACH_XY):
            continue
        if not (behind[0] >= 0.2 and np.linalg.norm(behind) <= MAX_REACH_XY):
            continue
        if all(_segment_distance(o, behind, pad) >= PUSH_LANE_CLEARANCE for o in others):
            return pad
    return None


def sample_layout(rng: np.random.Generator, family: str, target: str) -> Layout:
    """Random block positions/yaws, pad (push), and an arm pose near home; deterministic in rng."""
    if family not in FAMILIES:
        raise ValueError(f"unknown task family {family!r}: choose one of {FAMILIES}")
    for _ in range(100):
        xy = _sample_blocks(rng)
        pad = _sample_pad(rng, xy, target) if family == "push" else None
        if family != "push" or pad is not None:
            break
    else:
        raise RuntimeError("could not find a push layout with a clear lane")
    yaw = {n: float(rng.uniform(-np.pi / 4, np.pi / 4)) for n in OBJECT_NAMES}
    arm_q = HOME_Q + rng.uniform(-1.0, 1.0, size=6) * HOME_NOISE
    gripper = float(rng.uniform(0.0, 0.3))
    return Layout(block_xy=xy, block_yaw=yaw, pad_xy=pad, arm_q=arm_q, gripper=gripper)


def sample_task(
    seed: int, family: str, colour: str = "", instruction: str = ""
) -> tuple[TaskInfo, Layout]:
    """The task and initial layout of episode `seed`. An empty colour/instruction is drawn."""
    rng = np.random.default_rng(seed)
    colour = colour or COLOURS[int(rng.integers(len(COLOURS)))]
    target = f"{colour}_block"
    template = TEMPLATES[family][int(rng.integers(len(TEMPLATES[family])))]
    layout = sample_layout(rng, family, target)
    pad = None if layout.pad_xy is None else (float(layout.pad_xy[0]), float(layout.pad_xy[1]), 0.0)
    info = TaskInfo(
        instruction=instruction or template.format(c=colour),
        family=family,
        target=target,
        seed=int(seed),
        pad_position=pad,
    )
    return info, layout


def touch_condition(tcp: np.ndarray, block_centre: np.ndarray, in_contact: bool) -> bool:
    top = np.asarray(block_centre, dtype=np.float64) + np.array([0.0, 0.0, BLOCK_HALF])
    return bool(in_contact or np.linalg.norm(np.asarray(tcp) - top) < TOUCH_RADIUS)


def push_condition(block_centre: np.ndarray, pad_position: np.ndarray) -> bool:
    c = np.asarray(block_centre, dtype=np.float64)
    on_pad = np.all(np.abs(c[:2] - np.asarray(pad_position, dtype=np.float64)[:2]) < PAD_TOLERANCE)
    resting = abs(c[2] - BLOCK_HALF) < 0.01
    return bool(on_pad and resting)


class SuccessLatch:
    """Latches True once a condition has held for `hold_s` seconds of sim time."""

    def __init__(self, hold_s: float = SUCCESS_HOLD_S) -> None:
        self.hold_s = hold_s
        self.reset()

    def reset(self) -> None:
        self.held_s = 0.0
        self.succeeded = False

    def update(self, condition: bool, elapsed_s: float) -> bool:
        self.held_s = self.held_s + elapsed_s if condition else 0.0
        if self.held_s >= self.hold_s - 1e-9:
            self.succeeded = True
        return self.succeeded
