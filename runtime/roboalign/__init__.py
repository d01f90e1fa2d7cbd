"""RoboAlign Runtime: train, export and safely deploy RoboAlign VLA policies on robot arms."""
from __future__ import annotations

try:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    __version__ = _version("roboalign")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"
