"""Damage checks for checkpoint files, so a broken download or an interrupted copy names the file.

    verify_files(folder)               # every *.safetensors and *.json below folder
    data = read_json(folder / "vla.json")
    mean = read_npy(folder / "action_chunk_mean.npy")

Without these, a truncated weights file surfaces as a library error that names no file
("Error while deserializing header: MetadataIncompleteBuffer"). Each check reads little:
a safetensors file's header (8-byte length + JSON) and its size, which must equal header +
the end of the last tensor (the format stores tensors back to back); JSON files are parsed.
ONNX graphs are checked where they are opened (policy/backends), since only a full parse tells.
Every problem is a roboalign.errors.CheckpointError(path, problem): one line, exit 2.
"""
from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path
from typing import Any

from roboalign.errors import CheckpointError

_MAX_HEADER = 100 * 1024 * 1024  # bytes; the safetensors library refuses larger headers too
_REPAIR = "copy or download the checkpoint again"


def verify_safetensors(path: str | Path) -> None:
    """CheckpointError unless `path` is a complete safetensors file."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(path, f"truncated: {size} bytes, not even a safetensors header; {_REPAIR}")
        (n,) = struct.unpack("<Q", head)
        if n > _MAX_HEADER or 8 + n > size:
            raise CheckpointError(path, f"truncated or not a safetensors file: its header claims {n} bytes, "
                                        f"the file has {size}; {_REPAIR}")
        try:
            header = json.loads(f.read(n))
            end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            raise CheckpointError(path, f"damaged: its safetensors header is not valid; {_REPAIR}") from None
    expected = 8 + n + end
    if size < expected:
        raise CheckpointError(path, f"truncated: {size} bytes, its header describes {expected}; {_REPAIR}")
    if size > expected:
        raise CheckpointError(path, f"damaged: {size} bytes, its header describes {expected}; {_REPAIR}")


def read_json(path: str | Path) -> Any:
    """The parsed JSON file, or CheckpointError naming it (missing, unreadable, truncated)."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(path, "missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(path, f"not valid JSON, damaged or truncated ({exc}); {_REPAIR}") from None


def read_npy(path: str | Path):
    """The array in a .npy file, or CheckpointError naming it (missing, truncated, not an array)."""
    import numpy as np

    path = Path(path)
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CheckpointError(path, "missing") from None
    except (OSError, ValueError, EOFError) as exc:
        raise CheckpointError(path, f"not a readable .npy array, damaged or truncated ({exc}); {_REPAIR}") from None


def verify_files(folder: str | Path) -> None:
    """verify_safetensors / read_json on every *.safetensors and *.json in `folder` and below."""
    folder = Path(folder)
    for path in sorted(folder.glob("**/*.safetensors")):
        verify_safetensors(path)
    for path in sorted(folder.glob("**/*.json")):
        read_json(path)


def record_fields(cls: type, data: dict[str, Any], fmt: str, version: int, what: str, *,
                  strict: bool = False) -> dict[str, Any]:
    """The dataclass fields of a versioned JSON record a checkpoint carries (`{"format": fmt,
    "version": N, ...fields}`), after checking it is that format and not newer than this code.
    Keys the dataclass does not know are refused when `strict`, else dropped (kept for records
    whose readers have always tolerated extra keys)."""
    data = dict(data)
    if data.pop("format", fmt) != fmt:
        raise ValueError(f"{what} is not a {fmt} record")
    found = data.pop("version", version)
    if found > version:
        raise ValueError(f"{what} version {found} is newer than this code ({version}): update roboalign")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown and strict:
        raise ValueError(f"{what}: unknown fields {unknown}")
    return {k: v for k, v in data.items() if k in known}
