"""The `roboalign` command: one entry point, subcommands registered by each concept.

Each module listed below exposes `register(subparsers)`, adding its parsers with
`set_defaults(func=callable(args) -> int)`. Modules must not import heavy dependencies
(torch, transformers, rclpy) at import time, so `roboalign --help` stays instant.

Other installed packages add commands the same way through the entry-point group
`roboalign.commands` (name = command, value = module with `register`): the ROS 2 package
(ros2_ws/src/roboalign_ros) adds `rollout`, so nothing in runtime/ imports ROS. A known
command whose package is not installed still answers, in one line, what to install.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys

from roboalign import __version__
from roboalign.errors import RoboAlignError, UsageError

# argparse `dest`s of the command levels, joined into the name printed before an error line.
_COMMAND_KEYS = ("command", "train_command", "sim_command", "eval_command", "export_command",
                 "tokenizer_command", "keys_command", "calib_command", "dataset_command")

COMMAND_MODULES = (
    "roboalign.serving.cli",      # serve, keys
    "roboalign.sim.cli",          # sim demos / sim show
    "roboalign.tokenizer.cli",    # tokenizer fit / stats
    "roboalign.training.cli",     # train sft / align
    "roboalign.eval.cli",         # eval tokens / probe / compare
    "roboalign.export.cli",       # export onnx / tensorrt / parity
    "roboalign.calib.cli",        # calib board / intrinsics / handeye
    "roboalign.data.cli",         # dataset info / export / view
)


ENTRY_POINT_GROUP = "roboalign.commands"

# Commands that other packages provide, and what to install when they are missing.
OPTIONAL_COMMANDS = {
    "rollout": ("run the ROS 2 deployment graph against the sim arm (needs the ROS 2 package)",
                'the ROS 2 package: pip install -e ".[ros]" && pip install --no-build-isolation -e '
                "ros2_ws/src/roboalign_ros (or `make venv`; on a ROS 2 workstation: colcon build, then "
                "source install/setup.bash)"),
    "record": ("record demonstrations (sim or real) into MCAP episode files (needs the ROS 2 package)",
               'the ROS 2 package: pip install -e ".[ros,data]" && pip install --no-build-isolation -e '
               "ros2_ws/src/roboalign_ros (or `make venv`)"),
    "console": ("the operator console of a running recording or teleop graph (needs the ROS 2 package)",
                'the ROS 2 package: pip install -e ".[ros,data]" && pip install --no-build-isolation -e '
                "ros2_ws/src/roboalign_ros (or `make venv`)"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake on the command line is one line (no usage block), exit 2.
    Subcommand parsers inherit this class, so every `roboalign ...` level answers the same."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _register_missing(sub: argparse._SubParsersAction, name: str, problem: str | None) -> None:
    """A stand-in for a command whose package is not installed: it says what to install."""
    help_text, install = OPTIONAL_COMMANDS[name]
    p = sub.add_parser(name, help=help_text, add_help=False, prefix_chars="\0")  # every argument is "rest"
    p.add_argument("rest", nargs=argparse.REMAINDER)
    what = f"its package is installed but broken ({problem})" if problem else "this command is not installed"

    def missing(_args: argparse.Namespace) -> int:
        raise UsageError(f"{what}; install {install}")

    p.set_defaults(func=missing)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="roboalign", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"roboalign {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # that capability is not built yet
            raise
        module.register(sub)
    registered = set(sub.choices)
    problems: dict[str, str] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in registered:
            continue  # a built-in wins; a second distribution offering the same name is ignored
        try:
            module = ep.load()
        except ImportError as exc:  # half installed: the stand-in below says so
            problems[ep.name] = f"cannot import {ep.value}: {exc}"
            continue
        module.register(sub)
        registered.add(ep.name)
    for name in OPTIONAL_COMMANDS:
        if name not in registered:
            _register_missing(sub, name, problems.get(name))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command under the error convention of roboalign.errors: a mistake is one line on
    stderr, exit 2 for usage/configuration, 1 for a failed run; a traceback only with --debug."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    prog = " ".join(["roboalign", *(str(getattr(args, k)) for k in _COMMAND_KEYS if getattr(args, k, None))])
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RoboAlignError as exc:
        if args.debug:
            raise
        print(f"{prog}: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # an unexpected failure: one line, the traceback with --debug
        if args.debug:
            raise
        print(f"{prog}: {type(exc).__name__}: {exc} (run `roboalign --debug ...` for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
