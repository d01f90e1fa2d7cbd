"""`roboalign dataset info | export | view` as a user runs them, and the one-line refusals."""
from __future__ import annotations

import importlib.util
import json

import pytest
from cli_helpers import cli_mistake
from lerobot_fixtures import synthetic_episode, write_episodes
from PIL import Image

from roboalign.cli import main


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    root = tmp_path_factory.mktemp("demos")
    return write_episodes(root, [synthetic_episode(0, 8), synthetic_episode(1, 6, success=False),
                                 synthetic_episode(2, 10, partial=True)])


@pytest.fixture(scope="module")
def exported(demos, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "v3"
    assert main(["dataset", "export", str(demos), "--to", "lerobot", "--out", str(out), "--repo-id", "lab/demos",
                 "--json", str(out.parent / "report.json")]) == 0
    return out


def test_info_summarises_episode_folders(demos, tmp_path, capsys):
    assert main(["dataset", "info", str(demos), "--json", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "episodes   3 (1 partial)" in out and "frames     24 at 10 fps" in out and "2/3 (67%)" in out
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["durations_s"] == pytest.approx({"min": 0.6, "mean": 0.8, "max": 1.0, "total": 2.4})
    assert s["features"]["images.front"] == {"dtype": "uint8", "shape": [48, 64, 3]}
    assert s["tasks"] == {"touch the blue block": 2, "touch the red block": 1}


def test_export_leaves_partial_episodes_out_and_info_reads_the_export(exported, tmp_path, capsys):
    report = json.loads((exported.parent / "report.json").read_text())
    assert report["episodes"] == 2 and report["skipped_partial"] == ["episode_000002"]
    assert report["codec"]["name"] == "libsvtav1"
    assert main(["dataset", "info", str(exported), "--json", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "(lerobot v3.0)" in out and "observation.images.wrist" in out and "1/2 (50%)" in out
    s = json.loads((tmp_path / "s.json").read_text())
    assert (s["episodes"], s["frames"], s["fps"], s["success_rate"]) == (2, 14, 10.0, 0.5)


def test_view_writes_joint_plots_and_contact_sheets(exported, tmp_path, capsys):
    assert main(["dataset", "view", str(exported), "--episode", "1", "--out", str(tmp_path), "--frames", "4"]) == 0
    assert "episode 1 (episode_000001): 6 steps" in capsys.readouterr().out
    with Image.open(tmp_path / "joints.png") as im:
        assert im.size[0] > 400 and im.size[1] > 300
    with Image.open(tmp_path / "frames_front.png") as im:  # 4 frames of 64x48 in a row, labelled
        assert im.size == (4 * 64, 48 + 14)
    assert (tmp_path / "frames_wrist.png").is_file()


def test_view_reads_episode_folders_too(demos, tmp_path):
    assert main(["dataset", "view", str(demos), "--episode", "2", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "joints.png").is_file()


@pytest.mark.parametrize("argv, words", [
    (["dataset", "info", "{tmp}/nowhere"], "does not exist"),
    (["dataset", "view", "{demos}", "--episode", "9", "--out", "{tmp}/v"], "holds only 3 episodes"),
    (["dataset", "view", "{exported}", "--episode", "7", "--out", "{tmp}/v"], "no episode_index 7"),
    (["dataset", "export", "{demos}", "--to", "lerobot", "--out", "{exported}"], "--overwrite"),
    (["dataset", "export", "{demos}", "--to", "lerobot", "--out", "{demos}"], "not the source"),
    (["dataset", "export", "{tmp}", "--to", "lerobot", "--out", "{tmp}/x"], "no episodes under"),
])
def test_mistakes_are_one_line_and_exit_2(capsys, tmp_path, demos, exported, argv, words):
    argv = [a.format(tmp=tmp_path, demos=demos, exported=exported) for a in argv]
    code, line = cli_mistake(capsys, argv)
    assert code == 2 and words in line


@pytest.mark.skipif(importlib.util.find_spec("rerun") is not None, reason="rerun-sdk is installed here")
def test_rerun_without_rerun_sdk_says_what_to_install(capsys, demos, tmp_path):
    code, line = cli_mistake(capsys, ["dataset", "view", str(demos), "--out", str(tmp_path), "--rerun", "x.rrd"])
    assert code == 2 and "pip install rerun-sdk" in line
