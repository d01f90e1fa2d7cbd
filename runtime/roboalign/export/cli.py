"""`roboalign export onnx | tensorrt | parity`: the stage-3 VLA (head and backbone) out of torch,
and proof it still agrees.

    roboalign export onnx --policy models/roboalign-sim-touch-tiny   # -> DIR/onnx/head_sampler, head_step, backbone_features
    roboalign export tensorrt --policy models/roboalign-sim-touch-tiny --precision fp16   (GPU + tensorrt)
    roboalign export parity --policy models/roboalign-sim-touch-tiny --backend onnxruntime --json out.json

`parity` feeds real inputs (rendered sim frames: backbone features for the head, processor
output for the backbone, both chained for `vla`) when the sim is available, else random
tensors, through torch and the chosen backend with identical noise, and fails (exit 1) below
cosine 0.999. `tensorrt` writes the engines where serving looks for them
(roboalign.policy.backends.graph, backbone_graph). Mistakes (a folder that is not a VLA checkpoint, a flag out
of range) are one line and exit 2 (roboalign.errors). No heavy imports here: torch/onnx load
inside the commands.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from roboalign.arguments import float_range, int_range, names_from

GRAPH_KINDS = ("sampler", "step", "backbone")  # export/onnx.py KINDS + the backbone (import-free --help)
COMPONENTS = ("head", "backbone", "vla")
PRECISIONS = ("fp32", "fp16", "bf16")
STEPS = int_range(1, 256)  # Euler steps unrolled into the graph (the head trains with 4)


def register(subparsers) -> None:
    export = subparsers.add_parser("export", help="export the stage-3 head: ONNX, TensorRT, parity check")
    sub = export.add_subparsers(dest="export_command", metavar="TARGET")
    export.set_defaults(func=lambda _a: (export.print_help(), 2)[1])

    ox = sub.add_parser("onnx", help="write the head's sampler and one-step graphs and the backbone's feature graph "
                                     "as ONNX, then check parity")
    ox.add_argument("--policy", required=True, help="VLA checkpoint folder (roboalign train head)")
    ox.add_argument("--out", type=Path, default=None, help="output folder (default: POLICY/onnx)")
    ox.add_argument("--kind", type=names_from(GRAPH_KINDS), default=GRAPH_KINDS,
                    help="comma-separated graphs: sampler, step, backbone (default all)")
    ox.add_argument("--num-steps", type=STEPS, default=None,
                    help="Euler steps unrolled in the sampler (default: the head's)")
    ox.add_argument("--exporter", choices=("torchscript", "dynamo"), default="torchscript",
                    help="torch.onnx exporter (default torchscript: seconds; dynamo: ~1 min here, same graph)")
    ox.add_argument("--opset", type=int_range(13, 23), default=18, help="ONNX opset (13..23, default 18)")
    ox.set_defaults(func=_onnx)

    tr = sub.add_parser("tensorrt", help="build TensorRT engines of the head's sampler and the backbone's feature "
                                         "graph (needs a GPU and tensorrt)")
    tr.add_argument("--policy", required=True, help="VLA checkpoint folder")
    tr.add_argument("--component", type=names_from(("head", "backbone")), default=("head", "backbone"),
                    help="comma-separated: head, backbone (default both)")
    tr.add_argument("--num-steps", type=STEPS, default=None, help="Euler steps (default: the head's)")
    tr.add_argument("--precision", choices=PRECISIONS, default="fp16")
    tr.add_argument("--max-batch", type=int_range(1, 1024), default=8, help="largest batch the engine accepts")
    tr.add_argument("--max-tokens", type=int_range(8, 32768), default=1024,
                    help="largest backbone token count the profile allows")
    tr.add_argument("--workspace-mb", type=int_range(64, 1 << 20), default=1024,
                    help="TensorRT builder workspace (MiB)")
    tr.set_defaults(func=_tensorrt)

    pa = sub.add_parser("parity", help="compare a backend's head, backbone and whole-VLA output with torch "
                                       "(cosine >= 0.999)")
    pa.add_argument("--policy", required=True, help="VLA checkpoint folder")
    pa.add_argument("--backend", choices=("onnxruntime", "tensorrt"), default="onnxruntime")
    pa.add_argument("--component", type=names_from(COMPONENTS), default=COMPONENTS,
                    help="comma-separated: head (sampler graph), backbone (feature graph), vla (both chained, "
                         "normalised chunks); default all")
    pa.add_argument("--samples", type=int_range(1, 10_000), default=16, help="observations compared (default 16)")
    pa.add_argument("--random", action="store_true", help="random head inputs instead of sim frames")
    pa.add_argument("--precision", choices=PRECISIONS, default="fp16", help="TensorRT precision")
    pa.add_argument("--threshold", type=float_range(0.0, 1.0, low_open=True), default=0.999,
                    help="smallest per-sample cosine that passes, in (0, 1] (default 0.999)")
    pa.add_argument("--json", type=Path, default=None, help="write the report here")
    pa.set_defaults(func=_parity)


def _load(path: str, **kwargs):
    """The VLA at `path` (CheckpointError naming the file when the folder is not one or is damaged)."""
    from roboalign.policy.vla import VLAPolicy

    return VLAPolicy.from_pretrained(path, **kwargs)


def _onnx(args: argparse.Namespace) -> int:
    from roboalign.errors import RoboAlignError
    from roboalign.export import onnx as onnx_export
    from roboalign.export import parity

    policy = _load(args.policy)
    out = args.out or Path(args.policy) / "onnx"
    steps = args.num_steps or policy.num_steps
    ok = True
    for kind in [k for k in args.kind if k != "backbone"]:
        try:
            path = onnx_export.export_head(policy.head, out, kind, num_steps=steps, dynamo=args.exporter == "dynamo",
                                           opset=args.opset)
        except onnx_export.ExportError as exc:
            raise RoboAlignError(str(exc)) from None
        if kind == "sampler":
            from roboalign.policy.backends import OnnxHeadRunner

            report = parity.head_parity(policy.head, OnnxHeadRunner(path),
                                        parity.random_head_inputs(policy.head.config), steps)
        else:
            report = parity.step_parity(policy.head, path)
        ok &= report.passed
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB); {report.summary()}")
    from roboalign.policy.backends.backbone_graph import FAMILIES, OnnxBackboneRunner

    if "backbone" in args.kind and policy.backbone.family not in FAMILIES:
        print(f"backbone: not exported ({policy.backbone.family} is not one of {FAMILIES}); it serves with torch "
              "(--policy-arg backbone_backend=torch)", file=sys.stderr)
    elif "backbone" in args.kind:
        from roboalign.export import backbone as backbone_export

        layer = policy.info.feature_layer
        enc = backbone_export.example_encoding(policy.backbone, size=int(policy.info.image_size[0]))
        try:  # refuses (ExportError) a graph below cosine 0.999 on the example batch
            path = backbone_export.export_backbone(policy.backbone, layer, out, enc, opset=args.opset)
        except onnx_export.ExportError as exc:
            raise RoboAlignError(str(exc)) from None
        report = backbone_export.backbone_parity(policy.backbone, layer, OnnxBackboneRunner(path), [enc])
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, dynamic batch/tokens/patches); {report.summary()}")
    return 0 if ok else 1


def _tensorrt(args: argparse.Namespace) -> int:
    from roboalign.export.tensorrt import ensure_backbone_engine, ensure_sampler_engine
    from roboalign.policy.backends.tensorrt import require_cuda, require_tensorrt

    require_tensorrt()  # TensorRTUnavailable (exit 2) before any weights load
    require_cuda()
    policy = _load(args.policy)
    steps = args.num_steps or policy.num_steps
    engines = []
    if "head" in args.component:
        engines.append(ensure_sampler_engine(policy.head, args.policy, steps, args.precision,
                                             max_batch=args.max_batch, max_tokens=args.max_tokens,
                                             workspace_mb=args.workspace_mb, log=print))
    if "backbone" in args.component:
        engines.append(ensure_backbone_engine(policy.backbone, policy.info.feature_layer, args.policy, args.precision,
                                              max_batch=args.max_batch, max_tokens=args.max_tokens,
                                              workspace_mb=args.workspace_mb, log=print,
                                              image_size=int(max(policy.info.image_size))))
    for engine in engines:
        print(f"engine {engine} ({engine.stat().st_size / 1e6:.2f} MB, {args.precision})")
    print(f"`--policy-arg backend=tensorrt` finds them; check them with `roboalign export parity --policy "
          f"{args.policy} --backend tensorrt --precision {args.precision}`")
    return 0


def sim_observations(policy, count: int, seed: int = 20_000, per_episode: int | None = None):
    """Rendered sim frames along expert rollouts (through the one control loop): realistic head
    inputs for parity and benchmarks. One episode per seed, every observation the expert saw
    (or every k-th, k chosen so about `per_episode` come from each episode: more layouts)."""
    from roboalign.sim.arm import SimArm
    from roboalign.sim.episodes import run_sim_episode
    from roboalign.sim.expert import ScriptedExpert

    out: list = []
    seen = [0]
    stride = 1 if not per_episode else max(1, 10 // per_episode)  # ~10 observations per 1-s episode

    def keep(tick) -> None:
        if tick.observation is not None and len(out) < count:
            if seen[0] % stride == 0:
                out.append(tick.observation)
            seen[0] += 1

    with SimArm(render_size=tuple(policy.info.image_size), cameras=policy.info.cameras) as arm:
        while len(out) < count:
            run_sim_episode(arm, ScriptedExpert(), seed + len(out), max_seconds=1.0, stop_on_success=False,
                            on_tick=keep)
    return out


def _parity(args: argparse.Namespace) -> int:
    from roboalign.export import parity
    from roboalign.policy.backends import check_backend

    check_backend(args.backend)  # a missing TensorRT is one line (exit 2) before any weights load
    policy = _load(args.policy)
    head_runner, backbone_runner = _parity_runners(policy, args)
    source, observations = "random", []
    if not args.random:
        try:
            observations = sim_observations(policy, args.samples, per_episode=4)
            source = "sim"
        except Exception as exc:
            print(f"sim frames unavailable ({type(exc).__name__}: {exc}); using random inputs", file=sys.stderr)
    reports = {}
    if head_runner is not None:
        inputs = (parity.policy_head_inputs(policy, observations) if observations
                  else parity.random_head_inputs(policy.head.config, args.samples))
        reports["head"] = parity.head_parity(policy.head, head_runner, inputs, policy.num_steps, args.threshold)
    if backbone_runner is not None:
        from roboalign.export.backbone import backbone_parity, example_encoding

        encs = ([policy.encode([o]) for o in observations] + [policy.encode(observations[:4])] if observations
                else [example_encoding(policy.backbone, size=int(policy.info.image_size[0]))])
        reports["backbone"] = backbone_parity(policy.backbone, policy.info.feature_layer, backbone_runner, encs,
                                              args.threshold)
    if "vla" in args.component and observations:
        reports["vla"] = parity.chain_parity(policy, head_runner or _head_runner(policy, args),
                                             backbone_runner or _backbone_runner(policy, args), observations,
                                             args.threshold)
    for report in reports.values():
        print(report.summary())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"inputs": source, "policy": str(args.policy),
                                         **{k: r.to_dict() for k, r in reports.items()}}, indent=2))
    return 0 if all(r.passed for r in reports.values()) else 1


def _head_runner(policy, args):
    from roboalign.policy.backends import OnnxHeadRunner, TensorRTHeadRunner

    if args.backend == "tensorrt":
        from roboalign.export.tensorrt import ensure_sampler_engine

        return TensorRTHeadRunner(ensure_sampler_engine(policy.head, args.policy, policy.num_steps, args.precision,
                                                        log=print))
    from roboalign.export.onnx import ensure_sampler_onnx

    return OnnxHeadRunner(ensure_sampler_onnx(policy.head, args.policy, policy.num_steps, log=print))


def _backbone_runner(policy, args):
    from roboalign.policy.backends.backbone_graph import OnnxBackboneRunner, TensorRTBackboneRunner

    layer = policy.info.feature_layer
    if args.backend == "tensorrt":
        from roboalign.export.tensorrt import ensure_backbone_engine

        return TensorRTBackboneRunner(ensure_backbone_engine(policy.backbone, layer, args.policy, args.precision,
                                                             log=print, image_size=int(max(policy.info.image_size))))
    from roboalign.export.backbone import ensure_backbone_onnx

    return OnnxBackboneRunner(ensure_backbone_onnx(policy.backbone, layer, args.policy, log=print))


def _parity_runners(policy, args):
    """(head runner or None, backbone runner or None) for the components asked."""
    head = _head_runner(policy, args) if "head" in args.component else None
    backbone = _backbone_runner(policy, args) if "backbone" in args.component else None
    return head, backbone
