"""The `roboalign` command: one entry point, subcommands registered by each concept.

Each module listed below exposes `register(subparsers)`, adding its parsers with
`set_defaults(func=callable(args) -> int)`. Modules must not import heavy dependencies
(torch, transformers, rclpy) at import time, so `roboalign --help` stays instant.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import typing

from roboalign import __version__
from roboalign.errors import RoboAlignError

# argparse `dest`s of the command levels, joined into the name printed before an error line.
_COMMAND_KEYS = ("command", "train_command", "sim_command", "eval_command", "export_command",
                 "tokenizer_command", "keys_command")

COMMAND_MODULES = (
    "roboalign.rollout",          # rollout --sim: the whole ROS 2 graph against the MuJoCo arm
    "roboalign.serving.cli",      # serve, keys
    "roboalign.sim.cli",          # sim demos / sim show
    "roboalign.tokenizer.cli",    # tokenizer fit / stats
    "roboalign.training.cli",     # train sft / align
    "roboalign.eval.cli",         # eval tokens / probe / compare
    "roboalign.export.cli",       # export onnx / tensorrt / parity
)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (`roboalign serve: error: argument --bind: ...`),
    exit 2, and names `--help` instead of printing the whole usage block."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="roboalign", description=__doc__.splitlines()[0])
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
