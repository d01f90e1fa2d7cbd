"""Evaluation suites: seeded variants of the sim arm's task families (what `roboalign eval sim` runs).

A suite names a task family and what it varies away from the training distribution. Every
episode's variant is drawn from the episode seed alone (`draw_variant(suite, seed)`), so any
worker reproduces it; the layout underneath is the sim's own (`sim.tasks.sample_task(seed)`),
so the same seed puts the blocks in the same place in every suite except `positions_ood`,
which moves the target block, and `push`, whose layouts have a pad.

  nominal          touch, the training distribution (episode i = `roboalign sim run` seed i)
  positions_ood    touch, the target block moved outside BLOCK_X x BLOCK_Y but within reach
  distractors      touch, 1-3 extra objects (box, cylinder, ball; colours no block has)
  colour_lighting  touch, block tints, table colour, key light and headlight changed
  camera_pose      touch, the front camera moved up to 4 cm and turned up to 4 degrees
  push             push, the training distribution of the push family
  multistep        touch one block, then a second one ("touch the red block then the blue block")

Plain numpy, no MuJoCo: roboalign.eval.scene.EvalArm applies a variant to the sim.
"""
from __future__ import annotations

import dataclasses
import zlib
from typing import Any

import numpy as np

from roboalign.sim import tasks

# Out-of-distribution target positions (m): the region sampled, the margin by which a position
# must leave the training box BLOCK_X x BLOCK_Y, and the reach annulus around the base axis.
OOD_X = (0.20, 0.54)
OOD_Y = (-0.32, 0.32)
OOD_MARGIN = 0.02
OOD_REACH = (0.22, 0.50)

# Distractors: the shapes scene.py builds into the model (name, half height in m), the region
# they are placed in and their clearance from the blocks, the pad and each other.
DISTRACTOR_SHAPES = (("distractor_box", 0.02), ("distractor_cylinder", 0.03), ("distractor_ball", 0.022))
DISTRACTOR_X = (0.22, 0.52)
DISTRACTOR_Y = (-0.26, 0.26)
DISTRACTOR_SPACING = 0.09
DISTRACTOR_COLOURS = {  # none is red, green, blue or the pad's yellow
    "orange": (0.95, 0.5, 0.08), "purple": (0.55, 0.2, 0.7), "white": (0.92, 0.92, 0.9),
    "grey": (0.45, 0.45, 0.48), "pink": (0.95, 0.55, 0.7), "cyan": (0.1, 0.75, 0.8),
}

# Appearance: tint and light ranges (multipliers of the model's values unless stated).
TABLE_COLOURS = {"wood": (0.62, 0.5, 0.38), "light_grey": (0.75, 0.75, 0.75), "dark": (0.25, 0.22, 0.2),
                 "green_felt": (0.2, 0.45, 0.25), "white": (0.9, 0.9, 0.88)}
BLOCK_GAIN = (0.6, 1.25)       # brightness of each block
BLOCK_SHIFT = 0.12             # +- per channel, added after the gain
LIGHT_GAIN = (0.3, 1.4)        # key light diffuse
HEADLIGHT_GAIN = (0.5, 1.3)    # headlight ambient and diffuse
LIGHT_TINT = 0.25              # +- per channel of the light colour (warm/cool light)
LIGHT_TILT = 0.35              # rad: the key light's direction is turned up to this much

# Camera pose: front camera shift (m, per axis), rotation (rad, about its own axes), fovy (deg).
CAMERA_SHIFT = 0.04
CAMERA_TURN = np.deg2rad(4.0)
CAMERA_FOVY = 4.0

SEQUENCE_TEMPLATES = (
    "touch the {a} block then the {b} block",
    "first touch the {a} block, then the {b} block",
    "tap the {a} cube and then the {b} cube",
)


@dataclasses.dataclass(frozen=True)
class Suite:
    """What a suite varies. family: "touch", "push" or "multistep" (a sequence of touches)."""

    name: str
    family: str
    description: str
    ood_positions: bool = False
    distractors: tuple[int, int] = (0, 0)     # (min, max) extra objects per episode
    appearance: bool = False
    camera: bool = False

    @property
    def sim_family(self) -> str:
        """The sim family that lays the scene out (multistep is laid out as touch)."""
        return "touch" if self.family == "multistep" else self.family


SUITES: dict[str, Suite] = {s.name: s for s in (
    Suite("nominal", "touch", "touch, training distribution"),
    Suite("positions_ood", "touch", "touch, target block outside the training positions (reachable)",
          ood_positions=True),
    Suite("distractors", "touch", "touch, 1-3 extra objects on the table", distractors=(1, 3)),
    Suite("colour_lighting", "touch", "touch, block tints, table colour and lights changed", appearance=True),
    Suite("camera_pose", "touch", "touch, front camera moved <= 4 cm and turned <= 4 deg", camera=True),
    Suite("push", "push", "push, training distribution"),
    Suite("multistep", "multistep", "touch one block, then another"),
)}


@dataclasses.dataclass(frozen=True)
class Distractor:
    name: str                        # body in the model (DISTRACTOR_SHAPES)
    xy: tuple[float, float]          # m, on the table
    yaw: float                       # rad
    colour: str                      # DISTRACTOR_COLOURS key
    rgb: tuple[float, float, float]


@dataclasses.dataclass(frozen=True)
class Appearance:
    block_gain: dict[str, float]                        # colour ("red") -> brightness multiplier
    block_shift: dict[str, tuple[float, float, float]]  # colour -> added per channel after the gain
    table: str                                          # TABLE_COLOURS key
    table_rgb: tuple[float, float, float]
    light_gain: float                                   # key light diffuse multiplier
    light_tint: tuple[float, float, float]              # per-channel multiplier of the light colour
    light_dir: tuple[float, float, float]               # unit direction of the key light
    headlight_gain: float


@dataclasses.dataclass(frozen=True)
class CameraPose:
    shift: tuple[float, float, float]    # m, world frame, added to the front camera position
    turn: tuple[float, float, float]     # rad about the camera's own x, y, z axes (pitch, yaw, roll)
    fovy_delta: float                    # deg


@dataclasses.dataclass(frozen=True)
class EpisodeVariant:
    """One episode of one suite: the task, and what differs from the training scene."""

    suite: str
    seed: int
    family: str                                  # touch | push | multistep
    instruction: str
    targets: tuple[str, ...]                     # block names in the order to reach them
    condition: str                               # coarse label of what varies (per-condition table)
    target_xy: tuple[float, float] | None = None  # positions_ood: where the target block goes
    distractors: tuple[Distractor, ...] = ()
    appearance: Appearance | None = None
    camera: CameraPose | None = None

    @property
    def colour(self) -> str:
        return "+".join(t.split("_")[0] for t in self.targets)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(dataclasses.asdict(self))


def json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return round(float(value), 5)
    if isinstance(value, np.integer):
        return int(value)
    return value


def suite_names(text: str) -> tuple[str, ...]:
    """"all" or a comma-separated list of suite names -> names, in SUITES order; ValueError otherwise."""
    if text.strip() == "all":
        return tuple(SUITES)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SUITES]
    if unknown or not names:
        raise ValueError(f"unknown suite(s) {unknown or [text]}: choose from {', '.join(SUITES)} or all")
    return tuple(n for n in SUITES if n in names)


def variant_rng(suite: str, seed: int) -> np.random.Generator:
    """The variant's own generator: independent of the layout's (which is seeded by `seed` alone)."""
    return np.random.default_rng([int(seed), zlib.crc32(suite.encode())])


def draw_variant(suite: Suite | str, seed: int) -> EpisodeVariant:
    """The variant of episode `seed` of `suite` (deterministic in both)."""
    s = SUITES[suite] if isinstance(suite, str) else suite
    info, layout = tasks.sample_task(int(seed), s.sim_family)
    rng = variant_rng(s.name, seed)
    kw: dict[str, Any] = {}
    condition = "training distribution" if s.family != "multistep" else "two touches in order"
    targets: tuple[str, ...] = (info.target,)
    instruction = info.instruction
    if s.family == "multistep":
        second = [c for c in tasks.COLOURS if c != info.colour][int(rng.integers(len(tasks.COLOURS) - 1))]
        targets = (info.target, f"{second}_block")
        template = SEQUENCE_TEMPLATES[int(rng.integers(len(SEQUENCE_TEMPLATES)))]
        instruction = template.format(a=info.colour, b=second)
    if s.ood_positions:
        others = [xy for n, xy in layout.block_xy.items() if n != info.target]
        xy = _ood_position(rng, others)
        kw["target_xy"] = (float(xy[0]), float(xy[1]))
        condition = _ood_side(xy)
    if s.distractors[1] > 0:
        occupied = list(layout.block_xy.values())
        if kw.get("target_xy"):
            occupied.append(np.asarray(kw["target_xy"]))
        kw["distractors"] = _distractors(rng, s.distractors, occupied)
        condition = f"{len(kw['distractors'])} distractor" + ("s" if len(kw["distractors"]) > 1 else "")
    if s.appearance:
        kw["appearance"] = _appearance(rng)
        a = kw["appearance"]
        condition = "dim light" if a.light_gain < 0.6 else "bright light" if a.light_gain > 1.2 else "normal light"
    if s.camera:
        kw["camera"] = _camera(rng)
        turn = float(np.rad2deg(np.linalg.norm(kw["camera"].turn)))
        condition = "turned < 3 deg" if turn < 3 else "turned 3-5 deg" if turn < 5 else "turned > 5 deg"
    return EpisodeVariant(suite=s.name, seed=int(seed), family=s.family, instruction=instruction,
                          targets=targets, condition=condition, **kw)


def in_training_box(xy: np.ndarray, margin: float = 0.0) -> bool:
    return (tasks.BLOCK_X[0] - margin <= xy[0] <= tasks.BLOCK_X[1] + margin
            and tasks.BLOCK_Y[0] - margin <= xy[1] <= tasks.BLOCK_Y[1] + margin)


def _ood_position(rng: np.random.Generator, others: list[np.ndarray]) -> np.ndarray:
    for _ in range(2000):
        xy = np.array([rng.uniform(*OOD_X), rng.uniform(*OOD_Y)])
        if in_training_box(xy, OOD_MARGIN) or not OOD_REACH[0] <= np.linalg.norm(xy) <= OOD_REACH[1]:
            continue
        if all(np.linalg.norm(xy - o) >= tasks.MIN_BLOCK_SPACING for o in others):
            return xy
    raise RuntimeError("could not place an out-of-distribution target (region too small)")


def _ood_side(xy: np.ndarray) -> str:
    """Which edge of the training box the target left by most: near/far (x), left/right (y)."""
    out = {"near": tasks.BLOCK_X[0] - xy[0], "far": xy[0] - tasks.BLOCK_X[1],
           "left": xy[1] - tasks.BLOCK_Y[1], "right": tasks.BLOCK_Y[0] - xy[1]}
    return max(out, key=out.get)


def _distractors(rng: np.random.Generator, count: tuple[int, int], occupied: list[np.ndarray]) -> tuple[Distractor, ...]:
    n = int(rng.integers(count[0], count[1] + 1))
    shapes = rng.permutation(len(DISTRACTOR_SHAPES))[:n]
    colours = list(DISTRACTOR_COLOURS)
    placed: list[Distractor] = []
    taken = [np.asarray(p) for p in occupied]
    for i in shapes:
        for _ in range(500):
            xy = np.array([rng.uniform(*DISTRACTOR_X), rng.uniform(*DISTRACTOR_Y)])
            if np.linalg.norm(xy) <= tasks.MAX_REACH_XY and all(np.linalg.norm(xy - p) >= DISTRACTOR_SPACING for p in taken):
                break
        else:
            continue  # no room left: fewer distractors this episode (the count is recorded)
        colour = colours[int(rng.integers(len(colours)))]
        taken.append(xy)
        placed.append(Distractor(DISTRACTOR_SHAPES[int(i)][0], (float(xy[0]), float(xy[1])),
                                 float(rng.uniform(-np.pi, np.pi)), colour, DISTRACTOR_COLOURS[colour]))
    return tuple(placed)


def _appearance(rng: np.random.Generator) -> Appearance:
    gain = {c: float(rng.uniform(*BLOCK_GAIN)) for c in tasks.COLOURS}
    shift = {c: tuple(float(v) for v in rng.uniform(-BLOCK_SHIFT, BLOCK_SHIFT, 3)) for c in tasks.COLOURS}
    table = list(TABLE_COLOURS)[int(rng.integers(len(TABLE_COLOURS)))]
    d = np.array([-0.3, 0.4, -1.0]) + rng.uniform(-LIGHT_TILT, LIGHT_TILT, 3) * np.array([1.0, 1.0, 0.0])
    return Appearance(
        block_gain=gain, block_shift=shift, table=table, table_rgb=TABLE_COLOURS[table],
        light_gain=float(rng.uniform(*LIGHT_GAIN)),
        light_tint=tuple(float(v) for v in 1.0 + rng.uniform(-LIGHT_TINT, LIGHT_TINT, 3)),
        light_dir=tuple(float(v) for v in d / np.linalg.norm(d)),
        headlight_gain=float(rng.uniform(*HEADLIGHT_GAIN)),
    )


def _camera(rng: np.random.Generator) -> CameraPose:
    return CameraPose(shift=tuple(float(v) for v in rng.uniform(-CAMERA_SHIFT, CAMERA_SHIFT, 3)),
                      turn=tuple(float(v) for v in rng.uniform(-CAMERA_TURN, CAMERA_TURN, 3)),
                      fovy_delta=float(rng.uniform(-CAMERA_FOVY, CAMERA_FOVY)))
