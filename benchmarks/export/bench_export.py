"""Per-component timings of the stage-3 VLA: torch vs onnxruntime (CPU), side by side, plus parity.

    .venv/bin/python benchmarks/export/bench_export.py --policy models/roboalign-sim-touch-tiny \
        --iters 200 --threads 1 --json benchmarks/export/results-dev-2core.json

Components (ms per call, batch 1, real inputs: backbone features of rendered sim frames):
  preprocess      processor: prompt text + image -> token ids, pixel patches (torch side only)
  backbone        Qwen-VL forward up to the feature layer: torch vs the feature graph, the
                  onnx side including its Python index feeds (mRoPE ids, vision windows)
  backbone_feeds  those feeds alone (onnx side's share of `backbone`)
  head_step       one denoiser call (the `step` graph: context encode + DiT)
  head_chunk      the whole sampler (num_steps Euler steps, the `sampler` graph)
  policy          the whole chunk: VLAPolicy.predict end to end (torch vs onnxruntime for
                  backbone and head)
Rounds interleave the sides (torch, ort, torch, ort, ...) so background load hits both alike;
the JSON holds p50/p90/p99/mean per side and component, ratios torch/onnxruntime (>1: ONNX
faster), parity (cosine, max |diff|) of both graphs, and the machine's load.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "runtime"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from report import emit, machine  # noqa: E402  (benchmarks/ holds scripts, not a package)


def stats(samples: list[float]) -> dict[str, float]:
    x = np.asarray(samples) * 1e3
    return {"p50": round(float(np.percentile(x, 50)), 4), "p90": round(float(np.percentile(x, 90)), 4),
            "p99": round(float(np.percentile(x, 99)), 4), "mean": round(float(x.mean()), 4), "n": int(x.size)}


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", default=str(ROOT / "models" / "roboalign-sim-touch-tiny"))
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--observations", type=int, default=8, help="distinct sim frames cycled through")
    ap.add_argument("--threads", type=int, default=1, help="torch and onnxruntime intra-op threads")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import os

    os.environ.setdefault("MUJOCO_GL", "egl")
    import torch

    from roboalign.export import onnx as onnx_export
    from roboalign.export import parity
    from roboalign.export.backbone import backbone_parity, example_encoding, export_backbone
    from roboalign.export.cli import sim_observations
    from roboalign.policy.backends import OnnxHeadRunner
    from roboalign.policy.backends.backbone_graph import OnnxBackboneRunner, backbone_feeds
    from roboalign.policy.vla import VLAPolicy

    torch.set_num_threads(args.threads)
    policy = VLAPolicy.from_pretrained(args.policy)
    head, steps = policy.head, policy.num_steps
    tmp = Path(tempfile.mkdtemp(prefix="bench_export_"))
    t0 = time.perf_counter()
    sampler_path = onnx_export.export_head(head, tmp, "sampler", num_steps=steps)
    step_path = onnx_export.export_head(head, tmp, "step")
    export_s = time.perf_counter() - t0
    layer = policy.info.feature_layer
    t0 = time.perf_counter()
    backbone_path = export_backbone(policy.backbone, layer, tmp,
                                    example_encoding(policy.backbone, size=int(policy.info.image_size[0])))
    export_backbone_s = time.perf_counter() - t0
    sampler = OnnxHeadRunner(sampler_path, threads=args.threads)
    step = OnnxHeadRunner(step_path, threads=args.threads)
    bb_runner = OnnxBackboneRunner(backbone_path, threads=args.threads)
    ort_policy = VLAPolicy(policy.backbone, head, policy.info, policy.action_stats, policy.state_stats,
                           backend="onnxruntime", runner=sampler, num_steps=steps, backbone_runner=bb_runner)

    observations = sim_observations(policy, args.observations, per_episode=2)
    inputs = parity.policy_head_inputs(policy, observations)
    parity_sampler = parity.head_parity(head, sampler, inputs, steps).to_dict()
    parity_step = parity.step_parity(head, step_path).to_dict()
    parity_backbone = backbone_parity(policy.backbone, layer, bb_runner, [policy.encode([o]) for o in observations])
    parity_vla = parity.chain_parity(policy, sampler, bb_runner, observations)

    t: dict[str, dict[str, list[float]]] = {c: {"torch": [], "onnxruntime": []} for c in
                                            ("preprocess", "backbone", "backbone_feeds", "head_step", "head_chunk",
                                             "policy")}
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for i in range(args.iters + 5):  # 5 warm-up rounds
            obs = observations[i % len(observations)]
            x = inputs[i % len(inputs)]
            f, m, s, n = x[:4]
            im = x[4] if len(x) > 4 else None  # the head's own images, when it has an image encoder
            ft, mt, st, nt = (torch.from_numpy(v) for v in (f, m, s, n))
            imt = None if im is None else torch.from_numpy(im)
            tt = torch.tensor([float(rng.uniform())], dtype=torch.float32)
            step_feeds = dict(zip(onnx_export.graph_names("step", head)[0], (n, tt.numpy(), f, m, s, im)))
            rec = {
                ("preprocess", "torch"): timed(lambda: (policy.encode([obs]), policy.head_images([obs]))),
                ("head_step", "torch"): timed(lambda: head(nt, tt, ft, mt, st, imt)),
                ("head_step", "onnxruntime"): timed(lambda: step.session.run(None, step_feeds)),
                ("head_chunk", "torch"): timed(lambda: head.sample(ft, mt, st, nt, steps, imt)),
                ("head_chunk", "onnxruntime"): timed(lambda: sampler.run(f, m, s, n, im)),
                ("policy", "torch"): timed(lambda: policy.predict([obs], n)),
                ("policy", "onnxruntime"): timed(lambda: ort_policy.predict([obs], n)),
            }
            enc = policy.encode([obs])
            rec[("backbone", "torch")] = timed(lambda: policy.backbone.features_from_inputs(enc, layer))
            rec[("backbone", "onnxruntime")] = timed(lambda: bb_runner.run(backbone_feeds(policy.backbone, enc)))
            rec[("backbone_feeds", "onnxruntime")] = timed(lambda: backbone_feeds(policy.backbone, enc))
            if i >= 5:
                for (comp, side), v in rec.items():
                    t[comp][side].append(v)

    result = {"components_ms": {}, "ratios_torch_over_onnxruntime": {}}
    for comp, sides in t.items():
        result["components_ms"][comp] = {side: stats(v) for side, v in sides.items() if v}
        if sides["torch"] and sides["onnxruntime"]:
            result["ratios_torch_over_onnxruntime"][comp] = round(
                float(np.median(sides["torch"]) / np.median(sides["onnxruntime"])), 3)
    result.update({
        "policy": str(args.policy), "num_steps": steps, "head_parameters": head.num_parameters(),
        "feature_tokens": int(inputs[0][0].shape[1]), "iters": args.iters, "threads": args.threads,
        "export_seconds_torchscript": round(export_s, 2), "export_seconds_backbone": round(export_backbone_s, 2),
        "backbone_graph_mb": round(backbone_path.stat().st_size / 1e6, 2),
        "parity": {"sampler": parity_sampler, "step": parity_step, "backbone": parity_backbone.to_dict(),
                   "vla": parity_vla.to_dict()},
        "machine": {**machine(), "torch": torch.__version__, "onnxruntime": __import__("onnxruntime").__version__},
    })
    print(json.dumps({k: result[k] for k in ("components_ms", "ratios_torch_over_onnxruntime")}, indent=1),
          file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
