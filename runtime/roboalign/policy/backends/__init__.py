"""Serve-time runners of the VLA's action head and backbone: torch, onnxruntime, TensorRT.

    runner = make_head_runner("onnxruntime", head, checkpoint_folder, num_steps=4)
    actions = runner.run(features, feature_mask, state, noise, images)

runners.py: the runners and make_head_runner; graph.py: graph names, fingerprint and where
built graphs/engines are found; backbone_graph.py: the same for the backbone's feature graph
(its inputs, runners, make_backbone_runner); tensorrt.py: the TensorRT engine wrapper. Building graphs and
engines is roboalign.export's job (build time), which imports this package, never the reverse.
"""
from roboalign.policy.backends.runners import (
                                               BACKENDS,
                                               OnnxHeadRunner,
                                               TensorRTHeadRunner,
                                               TorchHeadRunner,
                                               check_backend,
                                               make_head_runner,
)

__all__ = ["BACKENDS", "OnnxHeadRunner", "TensorRTHeadRunner", "TorchHeadRunner", "check_backend",
           "make_head_runner"]
