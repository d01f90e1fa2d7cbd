"""`roboalign tokenizer fit | stats` and the chunk sources they read."""
from __future__ import annotations

import json

import numpy as np
import pytest

from roboalign.cli import main
from roboalign.tokenizer import FastTokenizer
from roboalign.tokenizer.sources import load_chunks, windows
from roboalign.tokenizer.synthetic import smooth_trajectories


def test_windows_pad_past_the_end_with_the_last_action():
    a = np.arange(10.0).reshape(5, 2)
    w = windows(a, horizon=3, stride=2)
    assert w.shape == (3, 3, 2)
    np.testing.assert_array_equal(w[2], [[8, 9], [8, 9], [8, 9]])


def test_sources_read_chunks_trajectories_and_npz(tmp_path):
    traj = smooth_trajectories(3, 40, 4, seed=1)
    np.save(tmp_path / "traj.npy", traj)
    np.save(tmp_path / "one.npy", traj[0])
    np.savez(tmp_path / "c.npz", chunks=traj[:, :16])
    np.savez(tmp_path / "a.npz", actions=traj)
    assert load_chunks(tmp_path / "traj.npy").shape == (3, 40, 4)          # chunks as they are
    assert load_chunks(tmp_path / "traj.npy", horizon=8).shape == (120, 8, 4)  # trajectories
    assert load_chunks(tmp_path / "one.npy", horizon=8, stride=4).shape == (10, 8, 4)
    assert load_chunks(tmp_path / "c.npz").shape == (3, 16, 4)
    assert load_chunks(tmp_path / "a.npz", horizon=16).shape == (120, 16, 4)
    with pytest.raises(FileNotFoundError, match="episode folder"):
        load_chunks(tmp_path / "missing.npy")


def test_fit_then_stats_write_a_tokenizer_and_a_report(tmp_path, capsys):
    np.save(tmp_path / "traj.npy", smooth_trajectories(20, 120, 7, seed=3))
    out = tmp_path / "tok"
    assert main(["tokenizer", "fit", "--data", str(tmp_path / "traj.npy"), "--horizon", "16",
                 "--out", str(out), "--vocab-size", "512"]) == 0
    tok = FastTokenizer.from_pretrained(out)
    assert tok.vocab_size <= 512 and tok.normalizer.dim == 7
    rep_path = tmp_path / "rep.json"
    assert main(["tokenizer", "stats", "--tokenizer", str(out), "--data", str(tmp_path / "traj.npy"),
                 "--horizon", "16", "--random-trials", "200", "--json", str(rep_path)]) == 0
    rep = json.loads(rep_path.read_text())
    assert rep["invalid_decodes_of_real_chunks"] == 0
    assert rep["compression_vs_naive"] > 1.0 and rep["naive_tokens_per_chunk"] == 112
    assert len(rep["roundtrip_error_physical"]["max_abs"]) == 7
    assert max(rep["roundtrip_error_normalized"]["max_abs"]) <= rep["quantization_bound_normalized"] + 1e-9
    assert rep["random_tokens"]["invalid_rate"] > 0.9
    assert "compression" in capsys.readouterr().out


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_a_folder_that_is_not_a_tokenizer_is_a_one_line_usage_error(tmp_path, capsys):
    line = _one_line_error(capsys, ["tokenizer", "stats", "--tokenizer", str(tmp_path), "--data", str(tmp_path / "x.npy")])
    assert line.startswith(f"roboalign tokenizer stats: --tokenizer {tmp_path}: {tmp_path}/") and "save_pretrained" in line


def test_missing_or_damaged_data_is_a_one_line_usage_error(tmp_path, capsys):
    line = _one_line_error(capsys, ["tokenizer", "fit", "--data", str(tmp_path / "x.npy"), "--out", str(tmp_path / "t")])
    assert line == f"roboalign tokenizer fit: --data {tmp_path / 'x.npy'}: {tmp_path / 'x.npy'}: not an .npy/.npz file " \
                   "or an episode folder"
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    assert "--data" in _one_line_error(capsys, ["tokenizer", "fit", "--data", str(tmp_path / "bad.npy"),
                                                "--out", str(tmp_path / "t")])
    (tmp_path / "bad.npz").write_bytes(b"PK not a zip")
    assert "--data" in _one_line_error(capsys, ["tokenizer", "fit", "--data", str(tmp_path / "bad.npz"),
                                                "--out", str(tmp_path / "t")])
    assert not (tmp_path / "t").exists()


def test_fit_settings_the_tokenizer_cannot_use_are_one_line_usage_errors(tmp_path, capsys):
    np.save(tmp_path / "traj.npy", smooth_trajectories(4, 40, 3, seed=1))
    base = ["tokenizer", "fit", "--data", str(tmp_path / "traj.npy"), "--horizon", "16", "--out", str(tmp_path / "t")]
    assert "symbols needed" in _one_line_error(capsys, [*base, "--vocab-size", "10"])
    assert "LOW must be below HIGH" in _one_line_error(capsys, [*base, "--quantiles", "0.9", "0.1"])


@pytest.mark.parametrize("argv,flag", [
    (["fit", "--vocab-size", "0"], "--vocab-size"), (["fit", "--scale", "0"], "--scale"),
    (["fit", "--scale", "nan"], "--scale"), (["fit", "--max-horizon", "0"], "--max-horizon"),
    (["fit", "--quantiles", "-0.1", "0.9"], "--quantiles"), (["fit", "--horizon", "0"], "--horizon"),
    (["fit", "--stride", "0"], "--stride"), (["fit", "--max-chunks", "0"], "--max-chunks"),
    (["stats", "--tokenizer", "t", "--random-trials", "0"], "--random-trials"),
])
def test_numeric_flags_are_range_checked(argv, flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["tokenizer", *argv, "--data", "x.npy", "--out", str(tmp_path / "t")][: None if argv[0] == "fit" else -2])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"error: argument {flag}:" in err


def test_sources_read_a_folder_of_episodes_with_their_chunk_padding(tmp_path):
    episode = pytest.importorskip("roboalign.data.episode")
    traj = smooth_trajectories(3, 30, 7, seed=4)
    eps = []
    for i, a in enumerate(traj):
        ep = episode.Episode(instruction="touch the red block", images={}, joint_positions=a, actions=a,
                             timestamps=np.arange(30) * 0.1, success=True, dt=0.1)
        ep.save(tmp_path / "demos" / f"episode_{i:03d}")
        eps.append(ep)
    chunks = load_chunks(tmp_path / "demos", horizon=16)
    assert chunks.shape == (90, 16, 7)
    np.testing.assert_array_equal(chunks[29], eps[0].action_chunk(29, 16))
    assert load_chunks(tmp_path / "demos" / "episode_001", horizon=16, stride=10).shape == (3, 16, 7)
