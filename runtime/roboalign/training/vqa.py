"""Embodied VQA as JSONL: one question per line, images referenced by path.

    {"images": ["images/000012_front.png"], "cameras": ["front"],
     "question": "Which block is closest to the gripper?", "answer": "the red block",
     "type": "closest_block", "source": "seed 12, t=0.8 s"}

images:  paths relative to the JSONL file's folder (absolute paths also work).
cameras: optional, one name per image (default "image0", "image1", ...); used as the image labels
         in the prompt, so use the robot's camera names when the images come from its cameras.
type, source: optional, free text (kept for per-type evaluation and debugging).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from roboalign.data.samples import VQASample


class VQASource(Sequence):
    """VQASample view over one JSONL file (images loaded lazily by the collator)."""

    def __init__(self, path: str | Path, limit: int | None = None):
        self.path = Path(path)
        if self.path.is_dir():
            files = sorted(self.path.glob("*.jsonl"))
            if len(files) != 1:
                raise FileNotFoundError(f"{self.path}: expected exactly one *.jsonl file, found {len(files)}")
            self.path = files[0]
        if not self.path.is_file():
            raise FileNotFoundError(f"VQA file {self.path} not found")
        self.rows = read_jsonl(self.path)[:limit] if limit else read_jsonl(self.path)
        if not self.rows:
            raise ValueError(f"{self.path} holds no questions")

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> VQASample:
        r = self.rows[i]
        root = self.path.parent
        paths = [p if Path(p).is_absolute() else str(root / p) for p in r["images"]]
        cams = tuple(r.get("cameras") or [f"image{k}" for k in range(len(paths))])
        return VQASample(images=paths, cameras=cams, question=r["question"], answer=r["answer"],
                         source=r.get("source", f"{self.path.name}:{i}"))


def read_jsonl(path: str | Path) -> list[dict]:
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from None
        missing = [k for k in ("images", "question", "answer") if k not in row]
        if missing:
            raise ValueError(f"{path}:{n}: missing field(s) {missing}; each line needs images, question, answer")
        if isinstance(row["images"], str):
            row["images"] = [row["images"]]
        rows.append(row)
    return rows


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> int:
    n = 0
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
            n += 1
    return n
