"""`roboalign export ...` answers a newcomer's mistake in one line, non-zero, without a traceback."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_helpers import cli_mistake


def damaged(tiny_vla_folder: Path, tmp_path: Path, name: str) -> Path:
    """A copy of the checkpoint with `name` cut to half its size (an interrupted copy)."""
    folder = Path(shutil.copytree(tiny_vla_folder, tmp_path / "damaged"))
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: len(data) // 2])
    return folder


@pytest.mark.parametrize("command", ["onnx", "parity"])
def test_a_folder_that_is_not_a_vla_checkpoint_is_named(command, tmp_path, capsys):
    code, line = cli_mistake(capsys, ["export", command, "--policy", str(tmp_path)])
    assert code == 2 and f"roboalign export {command}: {tmp_path / 'vla.json'}: missing" in line
    code, line = cli_mistake(capsys, ["export", command, "--policy", str(tmp_path / "nope")])
    assert code == 2 and "no such checkpoint folder" in line


@pytest.mark.parametrize("argv, flag", [
    (["parity", "--samples", "0"], "--samples"),
    (["parity", "--threshold", "0"], "--threshold"),
    (["parity", "--threshold", "1.5"], "--threshold"),
    (["onnx", "--num-steps", "0"], "--num-steps"),
    (["onnx", "--opset", "5"], "--opset"),
    (["onnx", "--kind", "sampler,decoder"], "--kind"),
    (["tensorrt", "--max-batch", "0"], "--max-batch"),
    (["tensorrt", "--max-tokens", "4"], "--max-tokens"),
    (["tensorrt", "--workspace-mb", "-1"], "--workspace-mb"),
])
def test_numeric_and_listed_flags_are_range_checked(argv, flag, tmp_path, capsys):
    code, line = cli_mistake(capsys, ["export", argv[0], "--policy", str(tmp_path), *argv[1:]])
    assert code == 2 and f"argument {flag}:" in line


@pytest.mark.parametrize("name", ["head/model.safetensors", "backbone/model.safetensors"])
def test_parity_names_a_truncated_weights_file(name, tiny_vla_folder, tmp_path, capsys):
    folder = damaged(tiny_vla_folder, tmp_path, name)
    code, line = cli_mistake(capsys, ["export", "parity", "--policy", str(folder), "--random", "--samples", "1"])
    assert code == 2 and f"{folder / name}: truncated" in line


def test_parity_names_a_corrupt_onnx_graph(tiny_vla_folder, tmp_path, capsys):
    folder = damaged(tiny_vla_folder, tmp_path, "onnx/head_sampler.onnx")
    code, line = cli_mistake(capsys, ["export", "parity", "--policy", str(folder), "--random", "--samples", "1"])
    assert code == 2 and f"{folder / 'onnx' / 'head_sampler.onnx'}: not a readable ONNX graph" in line
