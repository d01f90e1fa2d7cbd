"""`roboalign eval libero`: the LIBERO benchmark against a served policy.

    roboalign eval libero --server tcp://127.0.0.1:5555 --suite libero_spatial --tasks 0 1 \\
        --episodes-per-task 5 --out outputs/libero
    roboalign eval libero --policy libero_adapter --suite all --episodes-per-task 1 --out outputs/libero

LIBERO's simulator stack (robosuite 1.4, mujoco 2.3.7, numpy 1.26) cannot share the project's
venv, so the client (roboalign.eval.libero_client) runs under .venv-libero's python (`make
libero-env`) and talks to the inference server over the protocol. --policy starts a server
for the run (`roboalign serve` in its own process; it dies with this command). Results:
OUT/<suite>.json per suite (success per task, steps, seconds per episode, sim vs policy time).
"""
from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

from roboalign.arguments import float_range, int_range
from roboalign.errors import RoboAlignError, UsageError
from roboalign.policy import libero_spec as spec

PYTHON_ENV = "ROBOALIGN_LIBERO_PYTHON"


def default_python() -> Path:
    """$ROBOALIGN_LIBERO_PYTHON, else .venv-libero/bin/python of the checkout this code is in."""
    if os.environ.get(PYTHON_ENV):
        return Path(os.environ[PYTHON_ENV])
    import roboalign

    return Path(roboalign.__file__).resolve().parents[2] / ".venv-libero" / "bin" / "python"


def client_command(python: Path, server: str, args: argparse.Namespace) -> list[str]:
    suites = list(spec.SUITES) if "all" in args.suite else list(dict.fromkeys(args.suite))
    cmd = [str(python), "-m", "roboalign.eval.libero_client", "--server", server, "--out", str(args.out),
           "--episodes-per-task", str(args.episodes_per_task), "--replan-steps", str(args.replan_steps),
           "--seed", str(args.seed), "--timeout-s", str(args.timeout_s), "--tasks", *map(str, args.tasks)]
    for suite in suites:
        cmd += ["--suite", suite]
    if args.max_steps is not None:
        cmd += ["--max-steps", str(args.max_steps)]
    return cmd


def run_libero(args: argparse.Namespace) -> int:
    python = args.python or default_python()
    if not python.exists():
        raise UsageError(f"no LIBERO environment at {python}: run `make libero-env` (a separate venv, "
                         f"~2 GB), or point --python / ${PYTHON_ENV} at one")
    if (args.server is None) == (args.policy is None):
        raise UsageError("give exactly one of --server tcp://127.0.0.1:PORT (a running `roboalign serve`) "
                         "or --policy KIND|FOLDER (served for this run)")
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    if args.server is not None:
        return _run_client(client_command(python, args.server, args), env)
    from roboalign.serving.process import ServerProcess, ServerProcessError

    server = ServerProcess(policy=args.policy, extra_args=[f"--policy-arg={a}" for a in args.policy_arg])
    try:
        server.start()
    except ServerProcessError:
        lines = [line for line in server.log_tail().splitlines() if line.strip()]
        raise RoboAlignError(f"the inference server for {args.policy!r} did not start: "
                             f"{lines[-1] if lines else 'no output'} (log {server.log_path})") from None
    with server:
        print(f"inference server: pid {server.pid} at {server.endpoint} (policy {args.policy})", flush=True)
        return _run_client(client_command(python, server.endpoint, args), env)


def _run_client(cmd: list[str], env: dict[str, str]) -> int:
    rc = subprocess.call(cmd, env=env)
    if rc != 0:
        raise RoboAlignError(f"the LIBERO client exited with status {rc} (its messages are above)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("libero", help="LIBERO benchmark episodes against a served policy (needs `make libero-env`)",
                       description=__doc__.splitlines()[0])
    p.add_argument("--server", default=None, help="a running inference server, tcp://127.0.0.1:PORT or ipc://PATH")
    p.add_argument("--policy", default=None,
                   help="serve this for the run instead: a kind (libero_adapter) or a checkpoint folder")
    p.add_argument("--policy-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="with --policy: keyword argument for its factory (repeatable), e.g. policy=CKPT")
    p.add_argument("--suite", action="append", required=True, choices=[*spec.SUITES, "all"],
                   help="suite (repeatable), or all four")
    p.add_argument("--tasks", type=int_range(0, spec.TASKS_PER_SUITE - 1), nargs="+",
                   default=list(range(spec.TASKS_PER_SUITE)), help="task ids (default all 10)")
    p.add_argument("--episodes-per-task", type=int_range(1, spec.INIT_STATES_PER_TASK),
                   default=spec.INIT_STATES_PER_TASK, help="init states 0..N-1 per task (default 50: the standard protocol)")
    p.add_argument("--replan-steps", type=int_range(1), default=spec.DEFAULT_REPLAN_STEPS,
                   help=f"actions run from each chunk before asking again (default {spec.DEFAULT_REPLAN_STEPS})")
    p.add_argument("--seed", type=int_range(0), default=spec.DEFAULT_SEED, help=f"env seed (default {spec.DEFAULT_SEED})")
    p.add_argument("--max-steps", type=int_range(1), default=None,
                   help="cut episodes short (smoke runs; default the suite's protocol limit)")
    p.add_argument("--timeout-s", type=float_range(0.0, 600.0, low_open=True), default=30.0,
                   help="deadline of one server call (s, default 30)")
    p.add_argument("--out", type=Path, required=True, help="folder for <suite>.json")
    p.add_argument("--python", type=Path, default=None,
                   help=f"the LIBERO venv's python (default ${PYTHON_ENV} or .venv-libero/bin/python)")
    p.set_defaults(func=run_libero)


