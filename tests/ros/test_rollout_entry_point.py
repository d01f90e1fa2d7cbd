"""`roboalign rollout` comes from the ROS package through an entry point; runtime/ imports no ROS."""
from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path

from roboalign.cli import ENTRY_POINT_GROUP, build_parser, main

REPO = Path(__file__).resolve().parents[2]


def test_rollout_is_found_through_the_ros_packages_entry_point():
    points = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert points.get("rollout") == "roboalign_ros.rollout_cli", (
        "reinstall the ROS package: pip install --no-build-isolation -e ros2_ws/src/roboalign_ros")
    rollout = build_parser()._subparsers._group_actions[0].choices["rollout"]
    assert "--min-success-rate" in rollout.format_help()


def test_without_the_ros_package_rollout_says_what_to_install(monkeypatch, capsys):
    # What an environment without the ROS package sees: no entry point in the group.
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kwargs: [])
    assert main(["rollout", "--sim", "--episodes", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert 'pip install -e ".[ros]"' in err and "ros2_ws/src/roboalign_ros" in err


def test_nothing_in_runtime_imports_ros():
    offenders = []
    for path in sorted((REPO / "runtime").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(REPO)}: {n}" for n in names
                          if n.split(".")[0] in ("roboalign_ros", "rclpy", "launch", "launch_ros")]
    assert offenders == []
