"""The report image: every view as a thumbnail with its detected corners (green) and, once
calibrated, where the calibration reprojects them (red), labelled with the view's error or the
reason it was rejected. One look tells whether the board was found, the views cover the image,
and which views were bad."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from roboalign.calib.board import BoardDetection, CharucoBoardSpec, cv2_module
from roboalign.core.camera import Intrinsics


def _reproject(spec: CharucoBoardSpec, d: BoardDetection, k: Intrinsics) -> np.ndarray | None:
    cv2 = cv2_module()
    obj, img = d.object_points(spec), d.corners_px
    dist = np.asarray(k.distortion or (0.0,) * 5, dtype=np.float64)
    ok, rvec, tvec = cv2.solvePnP(obj, img, k.matrix(), dist)
    if not ok:
        return None
    return cv2.projectPoints(obj, rvec, tvec, k.matrix(), dist)[0].reshape(-1, 2)


def corner_report(views: Sequence[tuple[str, np.ndarray, BoardDetection | None]], spec: CharucoBoardSpec,
                  intrinsics: Intrinsics | None = None, labels: Mapping[str, str] | None = None,
                  columns: int = 4, thumb_width: int = 320) -> np.ndarray:
    """RGB contact sheet of (name, image, detection) views; labels: name -> caption."""
    cv2 = cv2_module()
    labels = labels or {}
    thumbs = []
    for name, image, det in views:
        rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image.copy()
        scale = thumb_width / rgb.shape[1]
        if det is not None:
            for x, y in det.corners_px:
                cv2.circle(rgb, (int(round(x)), int(round(y))), max(2, int(3 / scale)), (0, 200, 0), -1)
            if intrinsics is not None:
                reprojected = _reproject(spec, det, intrinsics)
                for x, y in ([] if reprojected is None else reprojected):
                    cv2.drawMarker(rgb, (int(round(x)), int(round(y))), (230, 0, 0), cv2.MARKER_CROSS,
                                   max(6, int(8 / scale)), max(1, int(1.5 / scale)))
        thumb = cv2.resize(rgb, (thumb_width, int(round(rgb.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        caption = f"{name}: {labels.get(name, 'no board' if det is None else f'{len(det)} corners')}"
        cv2.rectangle(thumb, (0, 0), (thumb_width, 18), (0, 0, 0), -1)
        cv2.putText(thumb, caption[:48], (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        thumbs.append(thumb)
    if not thumbs:
        return np.zeros((18, thumb_width, 3), np.uint8)
    height = max(t.shape[0] for t in thumbs)
    thumbs = [np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0))) for t in thumbs]
    thumbs += [np.zeros_like(thumbs[0])] * (-len(thumbs) % columns)
    rows = [np.concatenate(thumbs[i:i + columns], axis=1) for i in range(0, len(thumbs), columns)]
    return np.concatenate(rows, axis=0)
