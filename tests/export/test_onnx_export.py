"""ONNX export of the flow-matching head, onnxruntime parity, the export CLI, and the TensorRT guard."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from roboalign.export import onnx as onnx_export
from roboalign.export import parity
from roboalign.export.onnx import ensure_sampler_onnx
from roboalign.policy.action_head import FlowMatchingHead
from roboalign.policy.action_head_config import HeadConfig
from roboalign.policy.backends import OnnxHeadRunner
from roboalign.policy.backends.graph import find_sampler_onnx, read_metadata

CFG = HeadConfig(action_dim=7, horizon=16, state_dim=7, feature_dim=48, d_model=32, num_layers=2, num_heads=4)


@pytest.fixture(scope="module")
def head() -> FlowMatchingHead:
    torch.manual_seed(0)
    h = FlowMatchingHead(CFG)
    with torch.no_grad():  # non-zero output layers, as after training
        for name, p in h.named_parameters():
            if "modulation" in name or "action_out" in name:
                p.normal_(0.0, 0.05)
    return h.eval()


@pytest.fixture(scope="module")
def sampler_path(head, tmp_path_factory) -> Path:
    return onnx_export.export_head(head, tmp_path_factory.mktemp("onnx"), "sampler")


def test_sampler_graph_matches_torch_with_cosine_above_0999(head, sampler_path):
    report = parity.head_parity(head, OnnxHeadRunner(sampler_path), parity.random_head_inputs(CFG, samples=6))
    assert report.passed and report.min_cosine >= 0.999
    assert report.max_abs_diff < 1e-4


def test_sampler_graph_takes_any_batch_and_token_count(head, sampler_path):
    runner = OnnxHeadRunner(sampler_path)
    for batch, tokens in ((1, 7), (3, 130)):
        f, m, s, n = (x.numpy() for x in onnx_export.example_inputs(head, "sampler", batch=batch, tokens=tokens))
        with torch.no_grad():
            ref = head.sample(*(torch.from_numpy(x) for x in (f, m, s, n))).numpy()
        np.testing.assert_allclose(runner.run(f, m, s, n), ref, atol=1e-4)


def test_step_graph_matches_the_denoiser(head, tmp_path):
    path = onnx_export.export_head(head, tmp_path, "step")
    report = parity.step_parity(head, path, samples=4)
    assert report.passed and report.max_abs_diff < 1e-4


@pytest.mark.slow
def test_dynamo_exporter_gives_the_same_graph_semantics(head, tmp_path):
    path = onnx_export.export_head(head, tmp_path, "sampler", dynamo=True)  # ~1 min on the dev machine
    assert parity.head_parity(head, OnnxHeadRunner(path), parity.random_head_inputs(CFG, samples=3)).passed


def test_export_records_steps_and_fingerprint_so_stale_files_are_replaced(head, sampler_path, tmp_path, monkeypatch):
    meta = read_metadata(sampler_path)
    assert meta["roboalign.num_steps"] == "4" and meta["roboalign.head_fingerprint"] == onnx_export.head_fingerprint(head, 4)
    folder = tmp_path / "ckpt"
    (folder / "onnx").mkdir(parents=True)
    (folder / "onnx" / onnx_export.SAMPLER_FILE).write_bytes(sampler_path.read_bytes())
    monkeypatch.setenv("ROBOALIGN_CACHE", str(tmp_path / "cache"))
    assert ensure_sampler_onnx(head, folder, 4) == folder / "onnx" / onnx_export.SAMPLER_FILE  # shipped file reused
    assert find_sampler_onnx(head, folder, 2) is None  # serving never uses a graph of another step count
    other = ensure_sampler_onnx(head, folder, 2)  # exported into the cache instead, where serving finds it
    assert other.parent.parent.parent == tmp_path / "cache" and read_metadata(other)["roboalign.num_steps"] == "2"
    assert find_sampler_onnx(head, folder, 2) == other


def test_parity_report_fails_when_outputs_diverge():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 16, 7))
    assert parity.compare(a, a + 1e-6, "x").passed
    bad = a.copy()
    bad[2] = -bad[2]  # one flipped sample is enough to fail
    report = parity.compare(a, bad, "x")
    assert not report.passed and report.min_cosine < 0 and "FAIL" in report.summary()


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_tensorrt_absent_raises_a_clear_error_naming_the_install():
    from roboalign.export.tensorrt import build_engine
    from roboalign.policy.backends.tensorrt import TensorRTUnavailable, require_tensorrt

    with pytest.raises(TensorRTUnavailable, match="pip install"):
        require_tensorrt()
    with pytest.raises(TensorRTUnavailable):
        build_engine("missing.onnx", "missing.engine")


def test_export_cli_writes_graphs_and_checks_parity(tmp_path, monkeypatch, capsys):
    from roboalign.cli import main
    from roboalign.policy.vla import build_tiny_vla

    monkeypatch.setenv("ROBOALIGN_CACHE", str(tmp_path / "cache"))
    folder = build_tiny_vla().save_pretrained(tmp_path / "vla")
    assert main(["export", "onnx", "--policy", str(folder)]) == 0
    assert (folder / "onnx" / "head_sampler.onnx").is_file() and (folder / "onnx" / "head_step.onnx").is_file()
    assert (folder / "onnx" / "backbone_features.onnx").is_file()
    report = tmp_path / "parity.json"
    assert main(["export", "parity", "--policy", str(folder), "--random", "--samples", "3", "--json", str(report)]) == 0
    assert '"passed": true' in report.read_text()
    if importlib.util.find_spec("tensorrt") is None:
        assert main(["export", "tensorrt", "--policy", str(folder)]) == 2
        assert "TensorRT is not installed" in capsys.readouterr().err


def test_head_with_its_own_image_encoder_exports_an_images_input(tmp_path):
    cfg = HeadConfig(action_dim=7, horizon=8, state_dim=7, feature_dim=16, d_model=32, num_layers=1, num_heads=4,
                     image_size=32)
    torch.manual_seed(1)
    h = FlowMatchingHead(cfg).eval()
    with torch.no_grad():
        for name, p in h.named_parameters():
            if "modulation" in name or "action_out" in name:
                p.normal_(0.0, 0.05)
    path = onnx_export.export_head(h, tmp_path, "sampler")
    runner = OnnxHeadRunner(path)
    assert runner.input_names[-1] == "images"
    report = parity.head_parity(h, runner, parity.random_head_inputs(cfg, samples=3))
    assert report.passed and report.max_abs_diff < 1e-4
