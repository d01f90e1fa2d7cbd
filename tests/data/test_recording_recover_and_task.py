"""Torn recordings seen by `roboalign dataset info|export|recover`, and the sim task in recordings
(what `train.aux_target: sim` trains on), refused in one line where a recording has none."""
from __future__ import annotations

import os

import pytest
from cli_helpers import cli_mistake
from test_recording_files import record

from roboalign import config
from roboalign.cli import main
from roboalign.data.recording import RecordingMetadata, active_file
from roboalign.data.recording_reader import find_active, find_recordings, load_recording
from roboalign.data.session import RecordingSession
from roboalign.training.head_config import HeadRunConfig


def torn(folder, index):
    """What SIGKILL mid-write leaves: the writer's `.active` file, its last record cut."""
    writer, _ = record(folder, index, steps=60, seal=False, flush_period_s=0.0)
    writer.abandon()  # this process lets go of the file, as a killed one would
    os.truncate(writer.path, writer.path.stat().st_size - 100)
    return writer.path


def test_info_warns_export_refuses_and_recover_runs_the_recorders_recovery(tmp_path, capsys):
    record(tmp_path, 0)
    cut = torn(tmp_path, 1)
    empty = active_file(tmp_path, 2)
    empty.write_bytes(b"\x89MCAP0\r\n\x01\x10")  # the magic, then a header record cut short

    assert main(["dataset", "info", str(tmp_path)]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and all(f"run `roboalign dataset recover {tmp_path}`" in w for w in warnings)
    assert warnings[0].startswith("warning: episode_000001.mcap.active (") and " KB, last written " in warnings[0]

    code, line = cli_mistake(capsys, ["dataset", "export", str(tmp_path), "--to", "lerobot",
                                      "--out", str(tmp_path / "v3")])
    assert code == 2 and "2 unrecovered episode file(s)" in line and f"roboalign dataset recover {tmp_path}" in line
    assert not (tmp_path / "v3").exists()

    assert main(["dataset", "recover", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("partial      episode_000001.mcap.active: recording was cut off; kept ")
    assert out[1].startswith("quarantined  episode_000002.mcap.active quarantined: no episode metadata in it")
    assert out[2] == "2 file(s): 1 partial, 1 quarantined"
    assert not cut.exists() and find_active(tmp_path) == []
    assert [p.name for p in find_recordings(tmp_path, include_partial=True)] == [
        "episode_000000.mcap", "episode_000001.partial.mcap"]
    assert main(["dataset", "info", str(tmp_path)]) == 0
    assert "warning:" not in capsys.readouterr().out
    assert main(["dataset", "recover", str(tmp_path)]) == 0
    assert "nothing to recover" in capsys.readouterr().out


def test_recover_leaves_alone_a_file_a_recorder_is_writing(tmp_path, capsys):
    writer, _ = record(tmp_path, 0, seal=False)  # open in this process: a live recording
    assert main(["dataset", "info", str(tmp_path / "none")]) == 2  # (a missing folder: usage error)
    capsys.readouterr()
    assert main(["dataset", "recover", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"open in pid {os.getpid()}" in out and "left alone" in out and writer.path.exists()
    session = RecordingSession(tmp_path, RecordingMetadata())  # a second recorder on the folder: the same guard
    assert session.recovered == [f"episode_000000.mcap.active: open in pid {os.getpid()}; left alone"]
    assert session.next_index == 1 and writer.path.exists()
    writer.seal("success")


def _head_config(train, tmp_path, backbone="no-such-backbone"):
    return config.from_mapping(HeadRunConfig, {
        "backbone": backbone, "data": {"train": [str(train)], "val": [], "horizon": 2, "only_successful": False,
                                       "cache_dir": str(tmp_path / "cache")},
        "train": {"output_dir": str(tmp_path / "ckpt"), "aux_target": "sim"}})


def test_sim_recordings_carry_the_task_in_the_episode_folder_shape_and_give_aux_labels(tmp_path):
    from roboalign.sim import tasks
    from roboalign.training.head_features import sim_target_labels

    for i, seed in enumerate((5, 6)):
        info, _ = tasks.sample_task(seed, "touch")
        record(tmp_path, i, steps=40, seed=seed, sim_task=info.to_dict())
    episode = load_recording(tmp_path / "episode_000000.mcap")
    task = episode.metadata["task"]
    assert task == tasks.sample_task(5, "touch")[0].to_dict()  # touch: no pad, so JSON gives it back as is
    assert (task["seed"], task["family"]) == (5, "touch") and episode.metadata["task_declared"] == "touch"
    labels = sim_target_labels((str(tmp_path),), _head_config(tmp_path, tmp_path))
    assert labels.shape[0] == 2 * len(episode)  # one row per frame, as RobotFrames reads them
    assert labels[0, -1] == tasks.OBJECT_NAMES.index(task["target"])


def test_aux_training_on_real_robot_recordings_is_refused_in_one_line_before_the_backbone_loads(tmp_path):
    from roboalign.errors import UsageError
    from roboalign.training.head import run_head_training

    record(tmp_path, 0, robot="fr3")  # no sim_task: a real robot's recording
    assert load_recording(tmp_path / "episode_000000.mcap").metadata["task"] == "touch"
    with pytest.raises(UsageError) as refused:  # the backbone path does not exist: refused before it is read
        run_head_training(_head_config(tmp_path, tmp_path), log=lambda _m: None)
    message = str(refused.value)
    assert "\n" not in message and "no simulator task" in message and "--set train.aux_target=none" in message
