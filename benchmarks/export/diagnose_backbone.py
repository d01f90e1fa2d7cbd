"""Layer-by-layer comparison of the backbone's feature path: the policy's torch call, the call the
old export traced (no mm_token_type_ids), the export module in torch, and the ONNX graph.

    .venv/bin/python benchmarks/export/diagnose_backbone.py [--policy models/roboalign-sim-touch-tiny]

Prints, per stage (image features, input embeddings, position ids, each decoder block), the
cosine and max |diff| against the policy's own call on one rendered sim frame; docs/export.md
has the reading (the old call diverges from block 1 on, where rotary positions first act).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "runtime"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from report import emit, machine  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", default=str(ROOT / "models" / "roboalign-sim-touch-tiny"))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    import numpy as np
    import torch

    from roboalign.export.backbone import export_backbone, graph_module
    from roboalign.export.cli import sim_observations
    from roboalign.export.parity import cosine
    from roboalign.policy.backends.backbone_graph import OnnxBackboneRunner, backbone_feeds
    from roboalign.policy.vla import VLAPolicy

    torch.set_num_threads(1)
    policy = VLAPolicy.from_pretrained(args.policy)
    bb, layer = policy.backbone, policy.info.feature_layer
    enc = policy.encode(sim_observations(policy, 1))
    model = bb.model.model

    def blocks(call) -> list[np.ndarray]:
        """Input embeddings + every block's output of one forward."""
        outs: list = []
        hooks = [model.language_model.layers[0].register_forward_pre_hook(
            lambda _m, a, kw: outs.append((kw.get("hidden_states", a[0] if a else None)).detach().clone()),
            with_kwargs=True)]
        hooks += [blk.register_forward_hook(lambda _m, _a, o: outs.append((o[0] if isinstance(o, tuple) else o)
                                                                          .detach().clone()))
                  for blk in model.language_model.layers[:layer]]
        try:
            with torch.no_grad():
                call()
        finally:
            for h in hooks:
                h.remove()
        return [o.float().numpy() for o in outs]

    model.rope_deltas = None
    policy_side = blocks(lambda: bb.model(**enc, use_cache=False))
    model.rope_deltas = None
    old = {k: v for k, v in enc.items() if k != "mm_token_type_ids"}
    old_side = blocks(lambda: bb.model(**old, use_cache=False))
    feeds = backbone_feeds(bb, enc)
    graph = graph_module(bb, layer)
    # graph_module works on a copy of the model: hook the copy's blocks
    outs: list = []
    hooks = [graph.layers[0].register_forward_pre_hook(lambda _m, a: outs.append(a[0].detach().clone()))]
    hooks += [b.register_forward_hook(lambda _m, _a, o: outs.append((o[0] if isinstance(o, tuple) else o)
                                                                    .detach().clone())) for b in graph.layers]
    with torch.no_grad():
        graph(*[torch.from_numpy(feeds[k]) for k in feeds])
    for h in hooks:
        h.remove()
    graph_side = [o.float().numpy() for o in outs]
    with tempfile.TemporaryDirectory() as tmp:
        onnx_out = OnnxBackboneRunner(export_backbone(bb, layer, tmp, enc, check=False)).run(feeds)

    names = ["input_embeddings"] + [f"block_{i + 1}" for i in range(layer)]
    rows = []
    for i, name in enumerate(names):
        ref = policy_side[i][0]
        row = {"stage": name}
        for label, side in (("old_call", old_side), ("graph_torch", graph_side)):
            row[label] = {"cosine": round(cosine(ref, side[i][0]), 6), "max_abs": float(np.abs(ref - side[i][0]).max())}
        rows.append(row)
    ref = policy_side[-1][0]
    rows.append({"stage": f"block_{layer} (ONNX graph)", "onnx": {"cosine": round(cosine(ref, onnx_out[0]), 6),
                                                                "max_abs": float(np.abs(ref - onnx_out[0]).max())}})
    pos = feeds["position_ids"][:, 0]
    image = (enc["input_ids"][0] == bb.model.config.image_token_id).numpy()
    for r in rows:
        print(r, file=sys.stderr)
    emit({"what": "backbone feature path, layer by layer, vs the policy's torch call", "rows": rows,
          "mrope_image_hw": {"h": sorted(set(pos[1][image].tolist())), "w": sorted(set(pos[2][image].tolist()))},
          "old_call_positions": "0..T-1 (1-D)", "machine": machine()}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
