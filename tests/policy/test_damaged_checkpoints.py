"""A damaged checkpoint names the damaged file, on every path that loads one (registry, serve)."""
from __future__ import annotations

import importlib.util
import shutil
import struct
from pathlib import Path

import pytest
from cli_helpers import cli_mistake

from roboalign.errors import CheckpointError
from roboalign.policy.integrity import verify_safetensors
from roboalign.policy.registry import load_policy


def cut(tiny_vla_folder: Path, tmp_path: Path, name: str, keep: float = 0.5) -> Path:
    folder = Path(shutil.copytree(tiny_vla_folder, tmp_path / "damaged"))
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: int(len(data) * keep)])
    return folder


@pytest.mark.parametrize("name", ["head/model.safetensors", "backbone/model.safetensors", "head/config.json",
                                  "vla.json", "action_norm_stats.json"])
def test_the_registry_names_the_damaged_file(name, tiny_vla_folder, tmp_path):
    folder = cut(tiny_vla_folder, tmp_path, name)
    with pytest.raises(CheckpointError) as err:
        load_policy(folder)  # what `serve --policy DIR` and the rollout's server call
    assert err.value.path == str(folder / name)


def test_onnxruntime_backend_names_a_corrupt_graph(tiny_vla_folder, tmp_path):
    folder = cut(tiny_vla_folder, tmp_path, "onnx/head_sampler.onnx", keep=0.3)
    with pytest.raises(CheckpointError, match="not a readable ONNX graph") as err:
        load_policy(folder, backend="onnxruntime")
    assert err.value.path == str(folder / "onnx" / "head_sampler.onnx")


def test_the_shipped_graph_serves_with_onnxruntime(tiny_vla_folder):
    assert load_policy(tiny_vla_folder, backend="onnxruntime").metadata().backend == "onnxruntime"


def test_serve_names_a_truncated_checkpoint_in_one_line(tiny_vla_folder, tmp_path, capsys):
    folder = cut(tiny_vla_folder, tmp_path, "head/model.safetensors")
    code, line = cli_mistake(capsys, ["serve", "--policy", str(folder), "--bind", "tcp://127.0.0.1:0"])
    assert code == 2 and line.startswith(f"roboalign serve: {folder / 'head' / 'model.safetensors'}: truncated")


def test_serve_names_a_corrupt_onnx_graph_in_one_line(tiny_vla_folder, tmp_path, capsys):
    folder = cut(tiny_vla_folder, tmp_path, "onnx/head_sampler.onnx")
    code, line = cli_mistake(capsys, ["serve", "--policy", str(folder), "--policy-arg", "backend=onnxruntime",
                                      "--bind", "tcp://127.0.0.1:0"])
    assert code == 2 and f"{folder / 'onnx' / 'head_sampler.onnx'}: not a readable ONNX graph" in line


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_serve_with_tensorrt_missing_says_what_to_install(tiny_vla_folder, capsys):
    code, line = cli_mistake(capsys, ["serve", "--policy", str(tiny_vla_folder), "--policy-arg", "backend=tensorrt",
                                      "--bind", "tcp://127.0.0.1:0"])
    assert code == 2 and "TensorRT is not installed" in line and "pip install 'roboalign[gpu]'" in line


def _safetensors(tmp_path: Path, payload: bytes, header: bytes = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}') -> Path:
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + payload)
    return path


@pytest.mark.parametrize("payload, header, problem", [
    (b"\0" * 8, None, None),
    (b"\0" * 4, None, "truncated: 66 bytes, its header describes 70"),
    (b"\0" * 12, None, "damaged: 74 bytes, its header describes 70"),
    (b"", b"{not json", "header is not valid"),
])
def test_safetensors_check_reads_only_the_header_and_the_size(tmp_path, payload, header, problem):
    path = _safetensors(tmp_path, payload, *(() if header is None else (header,)))
    if problem is None:
        verify_safetensors(path)
    else:
        with pytest.raises(CheckpointError, match=problem):
            verify_safetensors(path)


def test_a_file_shorter_than_a_header_is_truncated(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"\1\2")
    with pytest.raises(CheckpointError, match="truncated: 2 bytes"):
        verify_safetensors(tmp_path / "x.safetensors")
