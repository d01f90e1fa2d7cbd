"""Camera intrinsics from ChArUco board views, with quality gates.

    detections = [detector.detect(img, name) for name, img in views]
    result = calibrate_intrinsics(spec, detections, IntrinsicsGates())
    result.intrinsics      # core.Intrinsics (plumb_bob: k1 k2 p1 p2 k3)

cv2.calibrateCamera on every usable view (at least `min_corners` corners), then views whose
own reprojection error exceeds `max_view_rms_px` (a blurred or misdetected image) are dropped
and the calibration runs again on the rest. The result must pass the gates, or
CalibrationError says which and what to do:

- at least `min_views` views survive (10: fewer cannot pin down 9 parameters reliably);
- overall RMS reprojection error at most `max_rms_px` (0.5 px: a good lens and sharp images
  reach 0.1 to 0.3);
- the corners cover at least `min_coverage` of the image (a 4x4 grid of cells, each touched
  by a corner): distortion fitted in the centre only is extrapolated at the edges.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from roboalign.calib.board import BoardDetection, CharucoBoardSpec, cv2_module
from roboalign.core.camera import Intrinsics
from roboalign.errors import RoboAlignError

COVERAGE_GRID = 4


class CalibrationError(RoboAlignError):
    """A calibration ran but its result fails a quality gate (or there is too little data)."""


@dataclasses.dataclass(frozen=True)
class IntrinsicsGates:
    min_views: int = 10
    min_corners: int = 8          # per view; views with fewer are skipped
    max_view_rms_px: float = 1.0  # per view, after the first fit; worse views are dropped
    max_rms_px: float = 0.5       # the final fit
    min_coverage: float = 0.5     # fraction of the 4x4 image grid the corners touch


@dataclasses.dataclass(frozen=True)
class IntrinsicsResult:
    intrinsics: Intrinsics
    rms_px: float                          # over every corner of the views used
    view_rms_px: dict[str, float]          # per view used
    rejected: dict[str, str]               # view -> why it was not used
    std_px: tuple[float, float, float, float]  # 1-sigma of fx, fy, cx, cy from the fit
    coverage: float
    corners: int

    def summary(self) -> str:
        k = self.intrinsics
        return (f"fx {k.fx:.2f} fy {k.fy:.2f} cx {k.cx:.2f} cy {k.cy:.2f} px (+-{self.std_px[0]:.2f}), RMS "
                f"{self.rms_px:.3f} px over {len(self.view_rms_px)} views / {self.corners} corners, coverage "
                f"{self.coverage:.0%}, {len(self.rejected)} views rejected")


def coverage(detections: Sequence[BoardDetection], size: tuple[int, int]) -> float:
    w, h = size
    cells = set()
    for d in detections:
        cols = np.clip((d.corners_px[:, 0] / w * COVERAGE_GRID).astype(int), 0, COVERAGE_GRID - 1)
        rows = np.clip((d.corners_px[:, 1] / h * COVERAGE_GRID).astype(int), 0, COVERAGE_GRID - 1)
        cells.update(zip(rows.tolist(), cols.tolist()))
    return len(cells) / COVERAGE_GRID**2


def _fit(spec: CharucoBoardSpec, views: Sequence[BoardDetection], size: tuple[int, int]):
    cv2 = cv2_module()
    objects = [v.object_points(spec).astype(np.float32) for v in views]
    images = [v.corners_px.astype(np.float32) for v in views]
    rms, k, dist, _, _, std, _, per_view = cv2.calibrateCameraExtended(objects, images, size, None, None)
    return float(rms), k, dist.reshape(-1), std.reshape(-1), per_view.reshape(-1)


def calibrate_intrinsics(spec: CharucoBoardSpec, detections: Sequence[BoardDetection | None],
                         gates: IntrinsicsGates = IntrinsicsGates(), names: Sequence[str] | None = None
                         ) -> IntrinsicsResult:
    """Fit K and plumb_bob distortion to the views; CalibrationError when a gate fails.
    A None detection (no board found) is a rejected view; `names` label them (default: index)."""
    names = list(names) if names is not None else [d.source if d is not None else str(i)
                                                   for i, d in enumerate(detections)]
    rejected: dict[str, str] = {}
    usable: list[tuple[str, BoardDetection]] = []
    sizes = {d.image_size for d in detections if d is not None}
    if len(sizes) > 1:
        raise CalibrationError(f"the views have different image sizes {sorted(sizes)}: calibrate one camera mode "
                               "at a time")
    for name, d in zip(names, detections):
        if d is None:
            rejected[name] = "no board found"
        elif len(d) < gates.min_corners:
            rejected[name] = f"only {len(d)} corners (min {gates.min_corners})"
        else:
            usable.append((name, d))
    if len(usable) < max(gates.min_views, 3):
        no_board = sum(d is None for d in detections)
        why = f" (no board found in {no_board}: sharper, brighter images, or a bigger board)" if no_board else ""
        raise CalibrationError(f"only {len(usable)} usable views of {len(names)}{why} (need {gates.min_views}): show the "
                               "whole board, tilted different ways, near every part of the image")
    size = usable[0][1].image_size
    rms, k, dist, std, per_view = _fit(spec, [d for _, d in usable], size)
    kept = [(n, d) for (n, d), e in zip(usable, per_view) if e <= gates.max_view_rms_px]
    for (name, _), e in zip(usable, per_view):
        if e > gates.max_view_rms_px:
            rejected[name] = f"reprojection error {e:.2f} px (max {gates.max_view_rms_px} px): blurred or misdetected"
    if len(kept) != len(usable):
        if len(kept) < max(gates.min_views, 3):
            raise CalibrationError(f"only {len(kept)} views are consistent enough (need {gates.min_views}); rejected: "
                                   + "; ".join(f"{n}: {why}" for n, why in rejected.items()))
        rms, k, dist, std, per_view = _fit(spec, [d for _, d in kept], size)
    cover = coverage([d for _, d in kept], size)
    if rms > gates.max_rms_px:
        raise CalibrationError(f"RMS reprojection error {rms:.3f} px is above {gates.max_rms_px} px: use sharper "
                               "images (more light, shorter exposure) and check the board's measured square size")
    if cover < gates.min_coverage:
        raise CalibrationError(f"the board corners cover only {cover:.0%} of the image (min {gates.min_coverage:.0%}): "
                               "add views with the board near the corners and edges")
    intrinsics = Intrinsics(width=size[0], height=size[1], fx=float(k[0, 0]), fy=float(k[1, 1]), cx=float(k[0, 2]),
                            cy=float(k[1, 2]), distortion_model="plumb_bob", distortion=tuple(float(x) for x in dist[:5]))
    return IntrinsicsResult(intrinsics=intrinsics, rms_px=rms,
                            view_rms_px={n: float(e) for (n, _), e in zip(kept, per_view)}, rejected=rejected,
                            std_px=tuple(float(s) for s in std[:4]), coverage=cover,
                            corners=int(sum(len(d) for _, d in kept)))
