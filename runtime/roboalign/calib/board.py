"""The ChArUco calibration board: its description, a printable image of it, and its detection.

A ChArUco board is a chessboard whose white squares hold ArUco markers: every detected corner
is identified, so a board seen partly, tilted or at the image edge still gives usable corners
(a plain chessboard needs all of them). Board frame: origin at the board's top-left outer
corner, x along its width (squares_x), y down its height, z into the board; metres.

The board description is saved beside every result (board.yaml), because detection needs
exactly the numbers the board was printed with, the *measured* square size above all: print
at 100 % scale, measure a row of squares with a caliper, and put the measured size in.
"""
from __future__ import annotations

import dataclasses
import struct
import zlib
from pathlib import Path

import numpy as np

from roboalign.errors import UsageError

MM_PER_INCH = 25.4


def cv2_module():
    """OpenCV with its aruco module (the `realsense` extra: opencv-python-headless)."""
    try:
        import cv2
    except ImportError:
        raise UsageError('calibration needs OpenCV: pip install -e ".[realsense]" (opencv-python-headless)') from None
    return cv2


@dataclasses.dataclass(frozen=True)
class CharucoBoardSpec:
    """squares_x, squares_y: squares along the board's width and height.
    square_m, marker_m: side of a chessboard square and of an ArUco marker (m, as measured).
    dictionary: the ArUco dictionary (cv2.aruco.DICT_*), e.g. DICT_5X5_100.
    legacy: boards printed by OpenCV before 4.6 with an even squares_y place their markers
        differently; set it for those."""

    squares_x: int = 7
    squares_y: int = 5
    square_m: float = 0.030
    marker_m: float = 0.022
    dictionary: str = "DICT_5X5_100"
    legacy: bool = False

    def __post_init__(self) -> None:
        if self.squares_x < 3 or self.squares_y < 3:
            raise ValueError(f"a ChArUco board needs at least 3x3 squares, got {self.squares_x}x{self.squares_y}")
        if not (0 < self.marker_m < self.square_m):
            raise ValueError(f"marker_m ({self.marker_m}) must be positive and smaller than square_m ({self.square_m})")
        cv2 = cv2_module()
        if not hasattr(cv2.aruco, self.dictionary) or not self.dictionary.startswith("DICT_"):
            raise ValueError(f"unknown ArUco dictionary {self.dictionary!r} (e.g. DICT_4X4_50, DICT_5X5_100)")
        markers = self.squares_x * self.squares_y // 2
        size = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary)).bytesList.shape[0]
        if markers > size:
            raise ValueError(f"a {self.squares_x}x{self.squares_y} board needs {markers} markers; {self.dictionary} "
                             f"has {size}: pick a larger dictionary")

    @property
    def size_m(self) -> tuple[float, float]:
        """(width, height) of the squares area, metres."""
        return self.squares_x * self.square_m, self.squares_y * self.square_m

    @property
    def corner_count(self) -> int:
        return (self.squares_x - 1) * (self.squares_y - 1)

    def cv_board(self):
        cv2 = cv2_module()
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        board = cv2.aruco.CharucoBoard((self.squares_x, self.squares_y), self.square_m, self.marker_m, dictionary)
        board.setLegacyPattern(self.legacy)
        return board

    def corners_m(self) -> np.ndarray:
        """[corner_count, 3] board-frame position of every inner corner, indexed by corner id."""
        return np.asarray(self.cv_board().getChessboardCorners(), dtype=np.float64).reshape(-1, 3)

    def image(self, px_per_square: int, margin_px: int = 0) -> np.ndarray:
        """The board as a uint8 grey image, `px_per_square` pixels per square, white margin.

        Drawn square by square from the board's own marker layout (OpenCV's generateImage
        asserts for some sizes, e.g. 148 px squares with 72 % markers): a square holding a
        marker is white with the marker centred in it, the others black."""
        cv2 = cv2_module()
        board = self.cv_board()
        dictionary = board.getDictionary()
        w, h = self.squares_x * px_per_square, self.squares_y * px_per_square
        image = np.full((h + 2 * margin_px, w + 2 * margin_px), 255, np.uint8)
        scale = px_per_square / self.square_m
        white = set()
        marker_px = int(round(self.marker_m * scale))
        for marker_id, corners in zip(board.getIds().reshape(-1), board.getObjPoints()):
            centre = np.asarray(corners, dtype=np.float64).reshape(-1, 3)[:, :2].mean(axis=0)
            col, row = (centre // self.square_m).astype(int)
            white.add((row, col))
            x0 = margin_px + int(round(centre[0] * scale)) - marker_px // 2
            y0 = margin_px + int(round(centre[1] * scale)) - marker_px // 2
            image[y0:y0 + marker_px, x0:x0 + marker_px] = cv2.aruco.generateImageMarker(
                dictionary, int(marker_id), marker_px, borderBits=1)
        for row in range(self.squares_y):
            for col in range(self.squares_x):
                if (row, col) not in white:
                    y0, x0 = margin_px + row * px_per_square, margin_px + col * px_per_square
                    image[y0:y0 + px_per_square, x0:x0 + px_per_square] = 0
        return image


def printable(spec: CharucoBoardSpec, dpi: int, margin_mm: float = 10.0) -> np.ndarray:
    """The board at true size for a printer at `dpi` (print at 100 %, no "fit to page")."""
    px_per_square = round(spec.square_m * 1000.0 / MM_PER_INCH * dpi)
    margin = round(margin_mm / MM_PER_INCH * dpi)
    if px_per_square < 20:
        raise UsageError(f"at {dpi} dpi a {spec.square_m * 1000:g} mm square is only {px_per_square} px: "
                         "raise --dpi or the square size")
    return spec.image(px_per_square, margin)


def write_png(path: str | Path, image: np.ndarray, dpi: float | None = None) -> Path:
    """PNG (grey or RGB uint8), with its print resolution recorded (pHYs) when `dpi` is given,
    so image viewers and PDF tools lay it out at true size."""
    cv2 = cv2_module()
    bgr = image if image.ndim == 2 else np.ascontiguousarray(image[:, :, ::-1])
    ok, data = cv2.imencode(".png", bgr)
    if not ok:
        raise ValueError(f"cannot encode {path} as PNG")
    png = data.tobytes()
    if dpi is not None:
        per_metre = int(round(dpi * 1000.0 / MM_PER_INCH))
        body = struct.pack(">IIB", per_metre, per_metre, 1)
        chunk = struct.pack(">I", len(body)) + b"pHYs" + body + struct.pack(">I", zlib.crc32(b"pHYs" + body))
        end_of_ihdr = 8 + 4 + 4 + 13 + 4  # signature, then IHDR: length, type, 13 bytes, CRC
        png = png[:end_of_ihdr] + chunk + png[end_of_ihdr:]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path


@dataclasses.dataclass(frozen=True)
class BoardDetection:
    """The board corners found in one image: ids index spec.corners_m()."""

    source: str                    # file name or "frame <n>"
    image_size: tuple[int, int]    # (width, height), px
    ids: np.ndarray                # [N] int
    corners_px: np.ndarray         # [N, 2] float, sub-pixel
    markers: int                   # ArUco markers found

    def object_points(self, spec: CharucoBoardSpec) -> np.ndarray:
        return spec.corners_m()[self.ids]

    def __len__(self) -> int:
        return int(self.ids.shape[0])


class BoardDetector:
    """Finds a ChArUco board's corners in an image (grey, RGB; any size)."""

    def __init__(self, spec: CharucoBoardSpec) -> None:
        cv2 = cv2_module()
        self.spec = spec
        self._detector = cv2.aruco.CharucoDetector(spec.cv_board())

    def detect(self, image: np.ndarray, source: str = "") -> BoardDetection | None:
        """The corners found, or None when fewer than 4 were (not usable for anything)."""
        cv2 = cv2_module()
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        corners, ids, markers, _ = self._detector.detectBoard(grey)
        if ids is None or len(ids) < 4:
            return None
        return BoardDetection(source=source, image_size=(grey.shape[1], grey.shape[0]), ids=ids.reshape(-1),
                              corners_px=corners.reshape(-1, 2).astype(np.float64),
                              markers=0 if markers is None else len(markers))
