"""MP4 camera streams through PyAV: what the LeRobot v3 export writes and its reader decodes.

One stream per camera holds the frames of many episodes back to back, frame k of the file at
k / fps seconds. As LeRobot does, each episode is encoded on its own (so it starts on a
keyframe and decodes alone) and its packets are then appended to the camera's file unchanged. Two codecs, both decoded by LeRobot's backends (torchcodec and
PyAV, i.e. FFmpeg):

    libsvtav1  AV1, yuv420p: LeRobot's own default (its crf is 30; ours 10). Chroma is stored at
               half resolution, so sharp colour edges blur: on 96x128 sim frames the mean
               error is ~2 grey levels, the largest ~115-165 on single edge pixels.
    h264       libx264, yuv444p, crf 0: lossless in YUV, off only by the RGB<->YUV rounding
               (largest error 2 grey levels), ~2x the bytes of AV1; players in browsers (and the
               Hub's viewer) do not show 4:4:4 H.264, FFmpeg-based decoders do.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class VideoCodec:
    """Encoder settings. `gop` = keyframe interval in frames (LeRobot writes g=2: a random
    access decodes at most one extra frame); `preset` is SVT-AV1's speed (0 slow .. 13 fast).
    None leaves a setting at the encoder's default."""

    name: str = "libsvtav1"
    pix_fmt: str = "yuv420p"
    crf: int | None = 10
    gop: int | None = 2
    preset: int | None = 8

    def options(self) -> dict[str, str]:
        opts = {}
        if self.gop is not None:
            opts["g"] = str(self.gop)
        if self.crf is not None:
            opts["crf"] = str(self.crf)
        if self.name == "libsvtav1" and self.preset is not None:
            opts["preset"] = str(self.preset)
        return opts

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


CODECS = {
    "libsvtav1": VideoCodec("libsvtav1", "yuv420p", crf=10, gop=2, preset=8),
    "h264": VideoCodec("libx264", "yuv444p", crf=0, gop=2, preset=None),
}


def codec(name: str, crf: int | None = None) -> VideoCodec:
    """The named codec preset (CODECS), with another crf if given; fails if PyAV cannot encode it."""
    import av

    if name not in CODECS:
        raise ValueError(f"unknown video codec {name!r}: choose one of {sorted(CODECS)}")
    chosen = CODECS[name] if crf is None else dataclasses.replace(CODECS[name], crf=int(crf))
    try:
        av.codec.Codec(chosen.name, "w")
    except Exception as exc:  # PyAV raises UnknownCodecError (a ValueError) or FFmpegError
        raise ValueError(f"this PyAV build ({av.__version__}) cannot encode {chosen.name}: {exc}") from exc
    return chosen


def preview_codec() -> VideoCodec:
    """Settings for an mp4 a browser plays (`eval sim` rollouts): H.264 4:2:0 at the encoder's
    defaults, or MPEG-4 Part 2 where this PyAV build has no libx264."""
    import av

    return VideoCodec("libx264" if "libx264" in av.codecs_available else "mpeg4", "yuv420p",
                      crf=None, gop=None, preset=None)


class VideoWriter:
    """Encodes RGB frames into one new mp4 stream at `fps` (frame k at k / fps seconds)."""

    def __init__(self, path: str | Path, fps: int, height: int, width: int, settings: VideoCodec) -> None:
        import os

        import av

        # SVT-AV1 prints its banner to stderr from C at level 3 (info); 1 keeps the errors.
        os.environ.setdefault("SVT_LOG", "1")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = int(fps)
        self.shape = (int(height), int(width), 3)
        self.frames = 0
        self._container = av.open(str(self.path), "w")
        self._stream = self._container.add_stream(settings.name, self.fps, options=settings.options())
        self._stream.pix_fmt = settings.pix_fmt
        self._stream.width, self._stream.height = int(width), int(height)

    def write(self, image: np.ndarray) -> None:
        import av

        if image.shape != self.shape or image.dtype != np.uint8:
            raise ValueError(f"{self.path}: frame {image.dtype} {image.shape}, stream is uint8 {self.shape}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = self.frames
        frame.time_base = Fraction(1, self.fps)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode():  # flush the frames the encoder still holds
            self._container.mux(packet)
        self._container.close()
        self._container = None


def encode(frames: np.ndarray, path: str | Path, fps: int, settings: VideoCodec) -> Path:
    """One episode's frames [T, H, W, 3] as a standalone mp4 (starts on a keyframe)."""
    writer = VideoWriter(path, fps, frames.shape[1], frames.shape[2], settings)
    try:
        for image in frames:
            writer.write(image)
    finally:
        writer.close()
    return writer.path


class VideoAppender:
    """One mp4 file that episodes' videos are appended to without re-encoding (as LeRobot
    concatenates them): each episode's packets shifted to start where the file ends."""

    def __init__(self, path: str | Path, fps: int) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = int(fps)
        self.frames = 0
        self.bytes = 0
        self._container = None
        self._stream = None

    def append(self, episode_mp4: str | Path, frames: int) -> float:
        """Append an episode's video of `frames` frames; returns its start time (s) in this file."""
        import av

        start = self.frames / self.fps
        with av.open(str(episode_mp4)) as src:
            stream = src.streams.video[0]
            if self._container is None:
                self._container = av.open(str(self.path), "w")
                self._stream = self._container.add_stream_from_template(stream, opaque=True)
                self._stream.time_base = stream.time_base
            shift = round(start / stream.time_base)  # in the episode stream's ticks
            for packet in src.demux(stream):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.pts += shift
                packet.dts += shift
                self.bytes += packet.size
                packet.stream = self._stream
                self._container.mux(packet)
        self.frames += int(frames)
        return start

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


def iter_frames(path: str | Path) -> Iterator[tuple[float, np.ndarray]]:
    """(seconds, RGB uint8 [H, W, 3]) of every frame of the first video stream, in display order."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            yield float(frame.pts * stream.time_base), frame.to_ndarray(format="rgb24")


def decode(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """All frames of a video: (seconds [N], RGB uint8 [N, H, W, 3])."""
    times, images = [], []
    for t, img in iter_frames(path):
        times.append(t)
        images.append(img)
    if not images:
        raise ValueError(f"{path}: no video frames")
    return np.asarray(times), np.stack(images)


def stream_info(path: str | Path) -> dict:
    """The `info` block LeRobot stores under a video feature in meta/info.json (its get_video_info)."""
    import av

    with av.open(str(path)) as container:
        s = container.streams.video[0]
        has_audio = bool(container.streams.audio)
        return {"video.height": s.height, "video.width": s.width, "video.codec": s.codec_context.codec.canonical_name,
                "video.pix_fmt": s.pix_fmt, "video.is_depth_map": False, "video.fps": int(s.base_rate),
                "video.channels": 3, "has_audio": has_audio}


class VideoCursor:
    """Frames of one mp4 at requested times, reading forward: a request later than where it
    stands decodes on (seeking to the keyframe before it when that is far ahead), an earlier one
    reopens the file. Memory: the frames asked for, not the file."""

    SEEK_AHEAD_S = 2.0  # decode through shorter jumps rather than seek

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"video file {self.path} is missing")
        self._container = None
        self._position = -float("inf")  # seconds of the next frame the decoder returns (at least)

    def _open(self, seek_to: float | None = None) -> None:
        import av

        self.close()
        self._container = av.open(str(self.path))
        self._stream = self._container.streams.video[0]
        if seek_to is not None and seek_to > 0:
            self._container.seek(int(seek_to / self._stream.time_base), stream=self._stream, backward=True)
        self._frames = self._container.decode(self._stream)
        self._pending = None
        self._position = -float("inf")

    def _next(self):
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        frame = next(self._frames, None)
        if frame is not None:
            self._position = float(frame.pts * self._stream.time_base)
        return frame

    def frames_at(self, times: np.ndarray, tolerance_s: float = 1e-4) -> np.ndarray:
        """RGB uint8 [N, H, W, 3] of the frames at `times` (seconds in the file, increasing); a
        time with no frame within `tolerance_s` raises ValueError."""
        times = np.asarray(times, dtype=np.float64)
        if times.size == 0:
            raise ValueError("no frame times asked for")
        first = float(times[0])
        if self._container is None or first < self._position - tolerance_s:
            self._open(first)
        elif first > self._position + self.SEEK_AHEAD_S:
            self._open(first)
        out = []
        i = 0
        while i < len(times):
            frame = self._next()
            if frame is None:
                raise ValueError(f"{self.path}: no frame at {times[i]:.4f} s (the video ends at {self._position:.4f} s)")
            t = float(frame.pts * self._stream.time_base)
            if t < times[i] - tolerance_s:
                continue
            if abs(t - times[i]) > tolerance_s:
                raise ValueError(f"{self.path}: no frame within {tolerance_s} s of {times[i]:.4f} s (next one at {t:.4f} s)")
            out.append(frame.to_ndarray(format="rgb24"))
            i += 1
            if i < len(times) and abs(times[i] - t) <= tolerance_s:
                self._pending = frame  # the same frame asked for twice
        return np.stack(out)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
