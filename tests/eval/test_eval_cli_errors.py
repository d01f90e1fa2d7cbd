"""`roboalign eval ...` answers a newcomer's mistake in one line, non-zero, without a traceback."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_helpers import cli_mistake

pytest.importorskip("transformers")


def test_tokens_names_a_truncated_weights_file(tiny_ckpt, tmp_path, capsys):
    folder = Path(shutil.copytree(tiny_ckpt / "ckpt", tmp_path / "damaged"))
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    code, line = cli_mistake(capsys, ["eval", "tokens", "--ckpt", str(folder), "--data", str(tiny_ckpt / "eps")])
    assert code == 2 and f"roboalign eval tokens: {weights}: truncated" in line


def test_tokens_names_a_damaged_json_file(tiny_ckpt, tmp_path, capsys):
    folder = Path(shutil.copytree(tiny_ckpt / "ckpt", tmp_path / "damaged"))
    info = folder / "roboalign.json"
    info.write_text(info.read_text()[:20])
    code, line = cli_mistake(capsys, ["eval", "tokens", "--ckpt", str(folder), "--data", str(tiny_ckpt / "eps")])
    assert code == 2 and f"{info}: not valid JSON" in line


@pytest.mark.parametrize("command", ["tokens", "probe"])
def test_missing_checkpoint_or_data_is_named(command, tiny_ckpt, tmp_path, capsys):
    code, line = cli_mistake(capsys, ["eval", command, "--ckpt", str(tmp_path / "nope"), "--data", str(tiny_ckpt / "eps")])
    assert code == 2 and f"{tmp_path / 'nope'}: no such checkpoint folder" in line
    code, line = cli_mistake(capsys, ["eval", command, "--ckpt", str(tiny_ckpt / "ckpt"), "--data", str(tmp_path / "no")])
    assert code == 2 and "no such episode folder" in line


def test_probe_offers_only_labels_it_can_compute(capsys):
    code, line = cli_mistake(capsys, ["eval", "probe", "--ckpt", "x", "--data", "y", "--label", "phase"])
    assert code == 2 and "argument --label: invalid choice: 'phase'" in line and "progress" in line


def test_compare_needs_two_checkpoints(tiny_ckpt, capsys):
    ckpt, data = str(tiny_ckpt / "ckpt"), str(tiny_ckpt / "eps")
    code, line = cli_mistake(capsys, ["eval", "compare", "--ckpt", ckpt, "--data", data])
    assert code == 2 and "at least two checkpoints" in line
    code, line = cli_mistake(capsys, ["eval", "compare", "--ckpt", ckpt, "--ckpt", ckpt, "--name", "a", "--data", data])
    assert code == 2 and "1 --name for 2 --ckpt" in line
    code, line = cli_mistake(capsys, ["eval", "compare", "--ckpt", ckpt, "--ckpt", ckpt, "--name", "a", "--name", "b",
                                      "--baseline", "c", "--data", data])
    assert code == 2 and "--baseline 'c' is not a column" in line


@pytest.mark.parametrize("argv, flag", [
    (["tokens", "--batch-size", "0"], "--batch-size"),
    (["tokens", "--stride", "0"], "--stride"),
    (["tokens", "--max-frames", "-1"], "--max-frames"),
    (["tokens", "--seed", "-3"], "--seed"),
    (["probe", "--bins", "1"], "--bins"),
    (["probe", "--k", "0"], "--k"),
    (["probe", "--test-fraction", "1"], "--test-fraction"),
    (["probe", "--probe-frames", "0"], "--probe-frames"),
    (["probe", "--dims", "0,x"], "--dims"),
    (["probe", "--threads", "0"], "--threads"),
    (["compare", "--max-frames", "0"], "--max-frames"),
    (["compare", "--sections", "tokens,speed"], "--sections"),
])
def test_numeric_and_listed_flags_are_range_checked(argv, flag, capsys):
    code, line = cli_mistake(capsys, ["eval", argv[0], "--ckpt", "x", "--data", "y", *argv[1:]])
    assert code == 2 and f"argument {flag}:" in line


def test_tokens_names_a_truncated_mean_chunk(tiny_ckpt, tmp_path, capsys):
    folder = Path(shutil.copytree(tiny_ckpt / "ckpt", tmp_path / "damaged"))
    mean = folder / "action_chunk_mean.npy"
    mean.write_bytes(mean.read_bytes()[:100])
    code, line = cli_mistake(capsys, ["eval", "tokens", "--ckpt", str(folder), "--data", str(tiny_ckpt / "eps"),
                                      "--max-frames", "1", "--free-only", "--quiet"])
    assert code == 2 and f"{mean}: not a readable .npy array" in line
