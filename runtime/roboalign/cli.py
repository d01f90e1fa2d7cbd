"""The `roboalign` command: one entry point, subcommands registered by each concept.

Each module listed below exposes `register(subparsers)`, adding its parsers with
`set_defaults(func=callable(args) -> int)`. Modules must not import heavy dependencies
(torch, transformers, rclpy) at import time, so `roboalign --help` stays instant.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "roboalign.rollout",          # rollout --sim: the whole ROS 2 graph against the MuJoCo arm
    "roboalign.serving.cli",      # serve, keys
    "roboalign.sim.cli",          # sim demos / sim show
    "roboalign.tokenizer.cli",    # tokenizer fit / stats
    "roboalign.training.cli",     # train sft / align
    "roboalign.eval.cli",         # eval tokens / probe / compare
    "roboalign.export.cli",       # export onnx / tensorrt / parity
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roboalign", description=__doc__.splitlines()[0])
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
