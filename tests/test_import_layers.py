"""Import direction of runtime/roboalign, read from the source with ast (nothing is imported).

Every import counts, module level or inside a function (a lazy import is still a dependency),
and so does a "module:attribute" plugin string naming a roboalign module (the policy registry's
"roboalign.sim.expert:ScriptedExpert"), since it is imported when used. A module name run in a
subprocess (`python -m roboalign.cli`) is not an import. A node is a first-level package or
module of roboalign (core, policy, cli, ...).
"""
from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "runtime" / "roboalign"
LAYERS = ("core", "config", "errors", "arguments", "tokenizer", "policy", "export", "serving", "control", "sim",
          "sensors", "robots", "data", "eval", "training", "calib", "teleop", "console", "cli")
# (importer, imported): dependencies that must never exist, and why.
FORBIDDEN = {
    ("policy", "export"): "export/ builds graphs and engines at build time and imports policy/; serving-time "
                          "runners live in policy/backends",
    ("policy", "training"): "a served policy must not need the training stack; shared code lives in policy/ or data/",
    ("eval", "training"): "eval measures checkpoints with the code the policy and data readers use "
                          "(policy/, data/), not training internals",
}
ROS_MODULES = ("rclpy", "roboalign_ros")
_PLUGIN = re.compile(r"roboalign(\.\w+)+:\w+")


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module under runtime/roboalign."""
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ("roboalign",) + path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _node(dotted: str) -> str:
    """First-level component of a roboalign module name ("roboalign" for the package itself).
    A package's command module (`sim/cli.py`, `training/head_cli.py`) is wiring for the
    `roboalign` command, the top layer, so it counts as "cli" wherever it sits."""
    parts = dotted.split(".")
    if len(parts) > 2 and (parts[-1] == "cli" or parts[-1].endswith("_cli")):
        return "cli"
    return parts[1] if len(parts) > 1 else "roboalign"


def _imports(name: str, path: Path):
    """(imported module, line) of every import in the module `name`, at any depth."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            yield base, node.lineno
            for alias in node.names:  # `from roboalign import policy` imports the subpackage
                if f"{base}.{alias.name}" in MODULES:
                    yield f"{base}.{alias.name}", node.lineno
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _PLUGIN.fullmatch(node.value):
            target = node.value.partition(":")[0]
            if target in MODULES:
                yield target, node.lineno


def _graph() -> dict[tuple[str, str], list[str]]:
    """(importer node, imported node) -> ["file:line imported.module", ...] across roboalign."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, path in MODULES.items():
        for target, line in _imports(name, path):
            if target == "roboalign" or not target.startswith("roboalign."):
                continue
            a, b = _node(name), _node(target)
            if a != b:
                edges[(a, b)].append(f"{path.relative_to(ROOT.parent)}:{line} {target}")
    return edges


def test_nothing_in_runtime_imports_ros():
    found = [f"{path.relative_to(ROOT.parent)}:{line} imports {target}"
             for name, path in MODULES.items() for target, line in _imports(name, path)
             if target.split(".")[0] in ROS_MODULES]
    assert not found, "runtime/roboalign must run without ROS; move these to ros2_ws:\n" + "\n".join(found)


def test_every_package_is_a_known_layer():
    nodes = {_node(n) for n in MODULES} - {"roboalign"}
    unknown = sorted(nodes - set(LAYERS))
    assert not unknown, f"new top-level package(s) {unknown}: add them to LAYERS and check their imports"


def test_the_package_import_graph_has_no_cycle():
    edges = _graph()
    succ: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        succ[a].add(b)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in sorted(succ[n]):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state and (cycle := visit(m)):
                return cycle
        path.pop()
        state[n] = 2
        return None

    for start in sorted(succ):
        if start not in state and (cycle := visit(start)):
            where = [f"  {a} -> {b}: {edges[(a, b)][0]}" for a, b in zip(cycle, cycle[1:])]
            pytest.fail("import cycle " + " -> ".join(cycle) + "\n" + "\n".join(where))


@pytest.mark.parametrize("importer, imported", sorted(FORBIDDEN))
def test_forbidden_directions_are_absent(importer, imported):
    sites = _graph().get((importer, imported), [])
    assert not sites, f"{importer}/ must not import {imported}/ ({FORBIDDEN[(importer, imported)]}):\n" + "\n".join(sites)


def test_the_checker_sees_lazy_imports_and_plugin_strings():
    """The checks above are only as good as the parser: it must see function-level imports and
    registry strings (the policy registry names the scripted expert by string)."""
    edges = _graph()
    assert any("roboalign.sim.expert" in s for s in edges[("policy", "sim")])  # a plugin string
    lazy = [s for s in edges[("cli", "sim")] if "export/cli.py" in s]  # imported inside sim_observations()
    assert lazy, "function-level imports must count"
