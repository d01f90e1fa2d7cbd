"""On a machine with an NVIDIA GPU: build TensorRT engines of the whole VLA, check parity, time it.

    python benchmarks/gpu/run_gpu_checks.py --json gpu-checks.json            # ~8 min budget
    python benchmarks/gpu/run_gpu_checks.py --skip-full-size --precisions fp16 # the bundled model only
    python benchmarks/gpu/run_gpu_checks.py --smoke                            # CPU, onnxruntime, tiny stand-ins

Two models:
  bundled    models/roboalign-sim-touch-tiny (real weights, rendered sim frames when MuJoCo
             renders here, else random images)
  full-size  Qwen2.5-VL-3B's configuration with random weights built on the GPU (bf16), cut
             after block 23 of 36, the stand-in tokenizer and the real image processor
             (roboalign.policy.meta), and a GR00T-sized flow-matching head (d 1024, 16 blocks)

For each model and precision (fp16, bf16): export the backbone's feature graph and the head's
sampler and one-step graphs to ONNX, build TensorRT engines (TensorRT 10 Python API,
roboalign.export.tensorrt), check each against torch fp32 (cosine >= 0.999, the same gate as
`roboalign export parity`), then time, per component: backbone (incl. the Python index feeds),
head per step, head chunk (all Euler steps), whole chunk (preprocess + backbone + head), torch
(fp32 and bf16) beside TensorRT, batch 1, CUDA-synchronised, p50/p99 ms.

Exit codes: 0 every gate passed; 1 a parity gate failed; 3 no NVIDIA GPU visible to torch;
4 a GPU but no TensorRT (torch timings still written); 5 the time budget ran out (what finished
is written). The JSON (stdout, and --json) always says which.
"""
# ruff: noqa: B023  (the timed closures run inside the loop iteration that defines them)
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "runtime"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from report import emit, machine  # noqa: E402  (benchmarks/ holds scripts, not a package)

EXIT_OK, EXIT_PARITY, EXIT_NO_GPU, EXIT_NO_TENSORRT, EXIT_BUDGET = 0, 1, 3, 4, 5
BUNDLED = ROOT / "models" / "roboalign-sim-touch-tiny"
FULL_HEAD = dict(d_model=1024, num_layers=16, num_heads=16)  # GR00T N1.5's DiT width and depth


class OutOfBudget(Exception):
    pass


class Clock:
    def __init__(self, budget_s: float):
        self.t0, self.budget = time.perf_counter(), budget_s

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.t0)

    def need(self, seconds: float, what: str) -> None:
        if self.left() < seconds:
            raise OutOfBudget(f"{what}: needs ~{seconds:.0f} s, {self.left():.0f} s of the budget left")


def timings(fn, iters: int, sync) -> dict[str, float]:
    import numpy as np

    for _ in range(3):
        fn()
    sync()
    out = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync()
        out.append((time.perf_counter() - t0) * 1e3)
    x = np.asarray(out)
    return {"p50": round(float(np.percentile(x, 50)), 3), "p99": round(float(np.percentile(x, 99)), 3), "n": iters}


class Side:
    """How engines are built and run: TensorRT on a GPU, onnxruntime on the CPU (--smoke)."""

    def __init__(self, smoke: bool):
        self.smoke = smoke
        self.name = "onnxruntime" if smoke else "tensorrt"

    def engine(self, onnx_path: Path, out: Path, precision: str, shapes) -> object:
        if self.smoke:
            from roboalign.policy.backends.runners import onnx_session

            sess = onnx_session(onnx_path, ["CPUExecutionProvider"])
            names = [o.name for o in sess.get_outputs()]
            return lambda feeds: dict(zip(names, sess.run(None, {i.name: feeds[i.name] for i in sess.get_inputs()})))
        from roboalign.export.tensorrt import build_engine
        from roboalign.policy.backends.tensorrt import TensorRTEngine

        path = build_engine(onnx_path, out, precision=precision, shapes=shapes, workspace_mb=8192)
        return TensorRTEngine(path).run


def model_inputs(policy, count: int):
    """Rendered sim frames (real inputs) when MuJoCo renders here, else random images."""
    try:
        from roboalign.export.cli import sim_observations

        return sim_observations(policy, count, per_episode=2), "sim"
    except Exception as exc:  # no EGL/OSMesa on the GPU host: random images of the trained size
        import numpy as np

        from roboalign.core import Observation

        rng = np.random.default_rng(0)
        h, w = policy.info.image_size
        obs = [Observation(images={c: rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for c in policy.info.cameras},
                           joint_positions=rng.uniform(-1, 1, policy.info.action_dim), instruction=t)
               for t in ("touch the red block", "touch the blue cube", "tap the green block")[:count]]
        return obs, f"random images ({type(exc).__name__}: {str(exc)[:120]})"


def check_model(label: str, policy, observations, precisions, side: Side, clock: Clock, iters: int, device: str,
                tmp: Path) -> dict:
    """Export, build, gate and time one VLA (policy: torch fp32 on `device`)."""
    import numpy as np
    import torch

    from roboalign.export import onnx as onnx_export
    from roboalign.export import parity
    from roboalign.export.backbone import export_backbone
    from roboalign.export.tensorrt import ShapeRange, backbone_shapes, head_shapes
    from roboalign.policy.backends import TorchHeadRunner
    from roboalign.policy.backends.backbone_graph import backbone_feeds

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    layer, steps = policy.info.feature_layer, policy.num_steps
    out: dict = {"model": label, "feature_layer": layer, "num_steps": steps,
                 "backbone_params_b": round(sum(p.numel() for p in policy.backbone.model.parameters()) / 1e9, 3),
                 "head_params_m": round(policy.head.num_parameters() / 1e6, 2), "parity": {}, "ms": {}}
    enc1 = policy.encode(observations[:1])
    feeds1 = backbone_feeds(policy.backbone, enc1)
    tokens = int(feeds1["input_ids"].shape[1])
    out["prompt_tokens"] = tokens

    # torch fp32 references on identical inputs, per observation (before the export, which may
    # convert a full-size model to fp16 in place)
    encs = [policy.encode([o]) for o in observations]
    rng = np.random.default_rng(0)
    with torch.no_grad():
        ref_hidden = [policy.backbone.features_from_inputs(e, layer).hidden.float().cpu().numpy() for e in encs]
    states = [policy.normalized_state([o]) for o in observations]
    noises = [rng.standard_normal((1, policy.info.horizon, policy.info.action_dim)).astype(np.float32)
              for _ in observations]
    masks = [e["attention_mask"].float().cpu().numpy() for e in encs]
    images = [policy.head_images([o]) for o in observations]  # None unless the head has its own encoder
    ref_head = TorchHeadRunner(policy.head, steps)
    ref_actions = [ref_head.run(h, m, s, n, im) for h, m, s, n, im in zip(ref_hidden, masks, states, noises, images)]

    def head_feeds(features, mask, state, noise, image, **more):
        feeds = {"features": np.asarray(features, np.float32), "feature_mask": mask, "state": state, **more}
        if noise is not None:
            feeds["noise"] = noise
        if image is not None:
            feeds["images"] = image
        return feeds

    folder = tmp / label
    t0 = time.perf_counter()
    sampler_onnx = onnx_export.export_head(policy.head, folder, "sampler", num_steps=steps)  # moves it to the CPU
    step_onnx = onnx_export.export_head(policy.head, folder, "step")
    policy.head.to(device)
    big = out["backbone_params_b"] > 0.5
    backbone_onnx = export_backbone(policy.backbone, layer, folder, enc1, check=False,
                                    dtype=torch.float16 if big and device == "cuda" else torch.float32,
                                    device=device, in_place=big, fingerprint=not big)
    if big:  # the in-place export switched attention to eager; torch timings below use sdpa again
        cfg = policy.backbone.model.config
        for c in (cfg, cfg.get_text_config(), cfg.vision_config):
            c._attn_implementation = "sdpa"
    out["export_s"] = round(time.perf_counter() - t0, 1)

    for precision in precisions:
        clock.need(60 if not big else 150, f"{label} {precision} engines")
        t0 = time.perf_counter()
        hs = head_shapes(policy.head.config, max_batch=4, tokens=(8, tokens, max(1024, tokens)))
        step_shapes = {**hs, "noisy_actions": hs["noise"], "t": ShapeRange((1,), (1,), (4,))}
        step_shapes.pop("noise")
        run_backbone = side.engine(backbone_onnx, folder / f"backbone.{precision}.engine", precision,
                                   backbone_shapes(feeds1, max_batch=4, max_tokens=max(1024, tokens)))
        run_sampler = side.engine(sampler_onnx, folder / f"sampler.{precision}.engine", precision, hs)
        run_step = side.engine(step_onnx, folder / f"step.{precision}.engine", precision, step_shapes)
        out[f"build_s_{precision}"] = round(time.perf_counter() - t0, 1)

        got_hidden = [run_backbone(backbone_feeds(policy.backbone, e))["hidden"] for e in encs]
        got_actions = [run_sampler(head_feeds(*x))["actions"] for x in zip(ref_hidden, masks, states, noises, images)]
        chain = [run_sampler(head_feeds(*x))["actions"] for x in zip(got_hidden, masks, states, noises, images)]
        keep = [m.astype(bool) for m in masks]
        rb = parity.compare(np.concatenate([r[k] for r, k in zip(ref_hidden, keep)]),
                            np.concatenate([np.asarray(g, np.float64)[k] for g, k in zip(got_hidden, keep)]),
                            side.name, "backbone_features")
        out["parity"][precision] = {
            "backbone": rb.to_dict(),
            "head": parity.compare(np.concatenate(ref_actions), np.concatenate(got_actions), side.name).to_dict(),
            "vla": parity.compare(np.concatenate(ref_actions), np.concatenate(chain), side.name, "vla").to_dict(),
        }

        f0, m0, s0, n0, im0 = ref_hidden[0].astype(np.float32), masks[0], states[0], noises[0], images[0]
        tt = np.array([0.5], np.float32)
        ms = out["ms"].setdefault(side.name + "_" + precision, {})
        ms["backbone"] = timings(lambda: run_backbone(backbone_feeds(policy.backbone, enc1)), iters, sync)
        ms["head_step"] = timings(lambda: run_step(head_feeds(f0, m0, s0, None, im0, noisy_actions=n0, t=tt)),
                                  iters, sync)
        ms["head_chunk"] = timings(lambda: run_sampler(head_feeds(f0, m0, s0, n0, im0)), iters, sync)

        def whole():
            e = policy.encode(observations[:1])
            h = run_backbone(backbone_feeds(policy.backbone, e))["hidden"]
            return run_sampler(head_feeds(h, m0, s0, n0, policy.head_images(observations[:1])))

        ms["whole_chunk"] = timings(whole, iters, sync)

    # torch on the same device: fp32 (the parity reference) and bf16 (what a GPU deployment runs)
    for dtype_name in (("fp32", "bf16") if device == "cuda" else ("fp32",)):
        clock.need(20, f"{label} torch {dtype_name} timings")
        dt = torch.float32 if dtype_name == "fp32" else torch.bfloat16
        policy.backbone.model.to(dt)
        policy.head.to(dt)
        e = {k: v.to(device) for k, v in enc1.items()}
        ft, mt = torch.from_numpy(ref_hidden[0]).to(device, dt), torch.from_numpy(masks[0]).to(device, dt)
        st, nt = torch.from_numpy(states[0]).to(device, dt), torch.from_numpy(noises[0]).to(device, dt)
        tt = torch.tensor([0.5], device=device, dtype=dt)
        imt = None if images[0] is None else torch.from_numpy(images[0]).to(device, dt)
        ms = out["ms"].setdefault(f"torch_{dtype_name}", {})
        with torch.no_grad():
            ms["backbone"] = timings(lambda: policy.backbone.features_from_inputs(e, layer), iters, sync)
            ms["head_step"] = timings(lambda: policy.head(nt, tt, ft, mt, st, imt), iters, sync)
            ms["head_chunk"] = timings(lambda: policy.head.sample(ft, mt, st, nt, steps, imt), iters, sync)

            def whole_torch():
                en = policy.encode(observations[:1])
                h = policy.backbone.features_from_inputs(en, layer).hidden
                im = policy.head_images(observations[:1])
                im = None if im is None else torch.from_numpy(im).to(device, dt)
                return policy.head.sample(h, en["attention_mask"].to(dt), st, nt, steps, im)

            ms["whole_chunk"] = timings(whole_torch, iters, sync)
    return out


def bundled_policy(device: str):
    from roboalign.policy.vla import VLAPolicy

    return VLAPolicy.from_pretrained(BUNDLED, device=device)


def full_size_policy(name: str, device: str, smoke: bool, layer_cap: int | None):
    """A VLA over a full-size backbone with random weights built on `device` (bf16 on a GPU)."""
    import numpy as np
    import torch

    from roboalign.core import NormStats
    from roboalign.policy.action_head import FlowMatchingHead
    from roboalign.policy.action_head_config import HeadConfig
    from roboalign.policy.meta import FULL_SIZE, build_meta_backbone
    from roboalign.policy.vla import VLAInfo, VLAPolicy, truncate_backbone

    spec = FULL_SIZE[name]
    torch.manual_seed(0)
    if smoke:  # the same code path on a CPU with the 3B's shapes scaled down (layers, widths)
        from roboalign.policy.tiny import build_tiny_qwen2_5_vl

        backbone = build_tiny_qwen2_5_vl(corpus=["touch the red block"])
        layer, head_kw = backbone.num_layers, dict(d_model=32, num_layers=2, num_heads=4)
    else:
        backbone = build_meta_backbone(spec["family"], name, device=device, dtype=torch.bfloat16)
        layer, head_kw = min(spec["feature_layer"], layer_cap or 10**6), FULL_HEAD
        truncate_backbone(backbone, layer)
        backbone.model.eval()
    head = FlowMatchingHead(HeadConfig(action_dim=7, horizon=16, state_dim=7, feature_dim=backbone.hidden_size,
                                       num_steps=4, **head_kw)).to(device).eval()
    with torch.no_grad():  # non-zero output layers, so the outputs depend on the inputs
        for n, p in head.named_parameters():
            if "modulation" in n or "action_out" in n:
                p.normal_(0.0, 0.02)
    rng = np.random.default_rng(0)
    info = VLAInfo(cameras=("front",), horizon=16, action_dim=7, dt=0.1, feature_layer=layer,
                   image_size=(224, 224), model_id=f"{name}-random")
    chunks = np.cumsum(rng.normal(0, 0.05, (64, 16, 7)), axis=1)
    return VLAPolicy(backbone, head, info, NormStats.fit(chunks), NormStats.fit(rng.uniform(-1, 1, (64, 7))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None, help="also write the report here")
    ap.add_argument("--budget-s", type=float, default=450.0, help="stop starting new stages after this (default 450)")
    ap.add_argument("--precisions", default="fp16,bf16", help="comma-separated: fp16, bf16, fp32")
    ap.add_argument("--iters", type=int, default=50, help="timed calls per component (after 3 warm-up calls)")
    ap.add_argument("--full-size", default="qwen2_5_vl_3b", help="roboalign.policy.meta.FULL_SIZE entry")
    ap.add_argument("--full-size-precisions", default="fp16", help="precisions for the full-size model (default fp16)")
    ap.add_argument("--full-size-layers", type=int, default=None, help="cut the full-size backbone lower (faster)")
    ap.add_argument("--skip-full-size", action="store_true")
    ap.add_argument("--smoke", action="store_true",
                    help="CPU dry run of the whole script: onnxruntime instead of TensorRT, tiny stand-ins")
    args = ap.parse_args()
    clock = Clock(args.budget_s)
    report: dict = {"what": "TensorRT engines of the VLA: parity and per-component latency", "models": []}

    import torch

    report["machine"] = {**machine(), "torch": torch.__version__}
    if not args.smoke and not torch.cuda.is_available():
        report.update(status="no_gpu", exit_code=EXIT_NO_GPU)
        print("run_gpu_checks: no NVIDIA GPU is visible to torch (torch.cuda.is_available() is False); nothing was "
              "built. Run it on a machine with an NVIDIA GPU, CUDA torch and TensorRT 10 "
              "(pip install 'roboalign[gpu]'), or pass --smoke for a CPU dry run.", file=sys.stderr)
        emit(report, args.json)
        return EXIT_NO_GPU
    device = "cpu" if args.smoke else "cuda"
    if not args.smoke:
        report["machine"]["gpu"] = torch.cuda.get_device_name(0)
    os.environ.setdefault("MUJOCO_GL", "egl")
    trt_missing = None
    if not args.smoke:
        from roboalign.policy.backends.tensorrt import TensorRTUnavailable, require_tensorrt

        try:
            trt = require_tensorrt()
            report["machine"]["tensorrt"] = getattr(trt, "__version__", "?")
        except TensorRTUnavailable as exc:
            trt_missing = str(exc)
    side = Side(args.smoke)
    precisions = [p for p in args.precisions.split(",") if p]
    status, code = "ok", EXIT_OK
    with tempfile.TemporaryDirectory(prefix="gpu_checks_") as tmp:
        stages = [("bundled", precisions)] + ([] if args.skip_full_size else [(args.full_size, [
            p for p in args.full_size_precisions.split(",") if p])])
        for label, precs in stages:
            try:
                clock.need(30, label)
                t0 = time.perf_counter()
                if label == "bundled":
                    pol = bundled_policy(device)
                    obs, source = model_inputs(pol, 4)
                else:
                    pol = full_size_policy(label, device, args.smoke, args.full_size_layers)
                    pol.backbone.model.float()  # the fp32 parity reference; exported in fp16, in place, after
                    obs, source = model_inputs(pol, 2)
                load_s = round(time.perf_counter() - t0, 1)
                if trt_missing:
                    precs = []  # torch timings only
                result = check_model(label, pol, obs, precs, side, clock, args.iters, device, Path(tmp))
                result.update(inputs=source, load_s=load_s)
                report["models"].append(result)
                for prec, gates in result["parity"].items():
                    for comp, r in gates.items():
                        print(f"{label} {prec} {comp}: cosine {r['min_cosine']:.6f}, max |diff| "
                              f"{r['max_abs_diff']:.2e} -> {'PASS' if r['passed'] else 'FAIL'}", file=sys.stderr)
                        if not r["passed"]:
                            status, code = "parity_failed", EXIT_PARITY
                del pol
                if device == "cuda":
                    torch.cuda.empty_cache()
            except OutOfBudget as exc:
                report["models"].append({"model": label, "skipped": str(exc)})
                status, code = "budget", EXIT_BUDGET if code == EXIT_OK else code
            except Exception as exc:
                report["models"].append({"model": label, "error": f"{type(exc).__name__}: {exc}",
                                         "traceback": traceback.format_exc()[-3000:]})
                status, code = "error", EXIT_PARITY
    if trt_missing and code == EXIT_OK:
        status, code = "no_tensorrt", EXIT_NO_TENSORRT
        print(f"run_gpu_checks: {trt_missing}; torch timings only", file=sys.stderr)
    report.update(status=status, exit_code=code, seconds=round(time.perf_counter() - clock.t0, 1))
    for m in report["models"]:  # one line per model and side: p50 ms of each component
        for side_name, comps in m.get("ms", {}).items():
            print(f"{m['model']:<16} {side_name:<18} " + "  ".join(f"{c} {v['p50']:.2f}" for c, v in comps.items()),
                  file=sys.stderr)
    emit(report, args.json)
    return code


if __name__ == "__main__":
    sys.exit(main())
