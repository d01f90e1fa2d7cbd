"""LeRobot v3.0 export: the layout lerobot 0.4.4 writes, and our reader giving the values back."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lerobot_fixtures import synthetic_episode, write_episodes

from roboalign.data.lerobot import iter_lerobot_episodes
from roboalign.data.lerobot_v3 import ExportOptions, export_lerobot_v3
from roboalign.data.sources import iter_episodes, open_robot_source
from roboalign.data.video import CODECS, VideoCursor, decode

STATS = ["min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """3 episodes (12, 9, 15 steps), two cameras, one failed."""
    eps = [synthetic_episode(0, 12), synthetic_episode(1, 9, success=False), synthetic_episode(2, 15)]
    return write_episodes(tmp_path_factory.mktemp("src"), eps)


@pytest.fixture(scope="module")
def export(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "v3"
    report = export_lerobot_v3(iter_episodes(source), out, ExportOptions(repo_id="lab/test"))
    return out, report


def test_export_writes_the_v3_layout(export):
    root, report = export
    assert report.episodes == 3 and report.frames == 36 and report.fps == 10
    info = json.loads((root / "meta/info.json").read_text())
    assert set(info) == {"codebase_version", "robot_type", "total_episodes", "total_frames", "total_tasks",
                         "chunks_size", "data_files_size_in_mb", "video_files_size_in_mb", "fps", "splits",
                         "data_path", "video_path", "features"}
    assert (info["codebase_version"], info["total_episodes"], info["total_frames"], info["total_tasks"]) == ("v3.0", 3, 36, 2)
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    assert info["robot_type"] == "synthetic_arm" and info["splits"] == {"train": "0:3"}
    f = info["features"]
    assert list(f) == ["observation.state", "action", "observation.images.front", "observation.images.wrist",
                       "timestamp", "frame_index", "episode_index", "index", "task_index"]
    assert f["observation.state"] == {"dtype": "float32", "shape": [7], "names": f["action"]["names"]}
    assert f["observation.images.front"]["shape"] == [48, 64, 3]
    assert f["observation.images.front"]["info"]["video.codec"] == "av1"
    assert f["timestamp"] == {"dtype": "float32", "shape": [1], "names": None}

    data = pq.read_table(root / "data/chunk-000/file-000.parquet")
    assert data.schema.field("observation.state").type == pa.list_(pa.float32(), 7)
    assert {n: str(data.schema.field(n).type) for n in data.column_names[2:]} == {
        "timestamp": "float", "frame_index": "int64", "episode_index": "int64", "index": "int64", "task_index": "int64"}
    assert b"huggingface" in data.schema.metadata
    np.testing.assert_array_equal(data.column("index").to_numpy(), np.arange(36))

    eps = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [e["length"] for e in eps] == [12, 9, 15] and [e["dataset_from_index"] for e in eps] == [0, 12, 21]
    assert eps[1]["tasks"] == ["touch the red block"] and eps[1]["success"] is False
    for cam in ("front", "wrist"):
        key = f"observation.images.{cam}"
        times, frames = decode(root / f"videos/{key}/chunk-000/file-000.mp4")
        assert len(frames) == 36  # every frame of every episode
        assert [round((e[f"videos/{key}/to_timestamp"] - e[f"videos/{key}/from_timestamp"]) * 10) for e in eps] == [12, 9, 15]
        assert eps[2][f"videos/{key}/from_timestamp"] == pytest.approx(2.1)
    assert all(f"stats/observation.state/{s}" in eps[0] for s in STATS)

    tasks = pd_tasks(root)
    assert tasks == {"touch the blue block": 0, "touch the red block": 1}


def pd_tasks(root):
    import pandas as pd

    df = pd.read_parquet(root / "meta/tasks.parquet")
    return {str(t): int(i) for t, i in zip(df.index, df["task_index"])}


def test_stats_are_lerobots_per_feature_and_pooled_over_episodes(export, source):
    root, _ = export
    stats = json.loads((root / "meta/stats.json").read_text())
    assert set(stats) == {"observation.state", "action", "observation.images.front", "observation.images.wrist",
                          "timestamp", "frame_index", "episode_index", "index", "task_index"}
    assert all(list(s) == STATS for s in stats.values())
    state = np.concatenate([e.joint_positions for _n, e in iter_episodes(source)]).astype(np.float32)
    s = stats["observation.state"]
    np.testing.assert_allclose(s["mean"], state.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s["std"], state.std(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(np.float32(s["min"]), state.min(0))
    assert s["count"] == [36] and stats["index"]["max"] == [35]
    assert np.all(np.array(s["q01"]) <= np.array(s["q50"])) and np.all(np.array(s["q50"]) <= np.array(s["q99"]))
    img = stats["observation.images.front"]
    assert np.array(img["mean"]).shape == (3, 1, 1) and 0 < np.min(img["mean"]) < np.max(img["max"]) <= 1.0
    assert img["count"] == [36]


def test_our_reader_gives_back_exact_state_action_and_close_images(export, source):
    root, _ = export
    src = dict(iter_episodes(source))
    back = dict(iter_lerobot_episodes(root))
    assert list(back) == list(src)  # names travel in the metadata column
    worst = 0.0
    for name, ep in src.items():
        got = back[name]
        np.testing.assert_array_equal(got.joint_positions, ep.joint_positions.astype(np.float32))
        np.testing.assert_array_equal(got.actions, ep.actions.astype(np.float32))
        np.testing.assert_allclose(got.timestamps, np.arange(len(ep)) * 0.1, atol=1e-7)
        assert (got.instruction, got.success, got.dt) == (ep.instruction, ep.success, pytest.approx(0.1))
        assert got.metadata["robot"]["name"] == "synthetic_arm"
        for cam, frames in ep.images.items():
            assert got.images[cam].shape == frames.shape
            worst = max(worst, float(np.abs(got.images[cam].astype(int) - frames).mean()))
    assert worst < 3.0  # AV1 4:2:0: mean error of a few grey levels


def test_h264_444_export_is_lossless_but_for_rgb_yuv_rounding(source, tmp_path):
    out = tmp_path / "h264"
    export_lerobot_v3(iter_episodes(source), out, ExportOptions(codec=CODECS["h264"]))
    src = dict(iter_episodes(source))
    for name, got in iter_lerobot_episodes(out):
        for cam, frames in src[name].images.items():
            assert np.abs(got.images[cam].astype(int) - frames).max() <= 3


def test_stage1_loader_reads_the_export_as_it_reads_the_source(export, source):
    root, _ = export
    a, b = open_robot_source(source, horizon=4), open_robot_source(root, horizon=4)
    assert len(a) == len(b) == 36 and a.cameras == b.cameras == ("front", "wrist")
    np.testing.assert_array_equal(b.states(), a.states().astype(np.float32))
    np.testing.assert_array_equal(b.chunks(), a.chunks().astype(np.float32))
    sa, sb = a[20], b[20]
    assert (sa.instruction, sa.dt, sa.source.split("#")[1]) == (sb.instruction, sb.dt, sb.source.split("#")[1])
    assert np.abs(sa.images[0].astype(int) - sb.images[0]).mean() < 3.0
    ok_only = open_robot_source(root, horizon=4, only_successful=True)
    assert len(ok_only) == 27  # the failed 9-step episode left out


def test_stage3_head_loader_reads_the_export(export, source):
    from roboalign.training.head_config import HeadDataConfig
    from roboalign.training.head_features import open_frames

    root, _ = export
    cfg = SimpleNamespace(data=HeadDataConfig(train=(str(root),), horizon=4, only_successful=False))
    frames = open_frames((str(root),), cfg)
    ref = open_robot_source(source, horizon=4)
    np.testing.assert_array_equal(frames.chunks(), ref.chunks().astype(np.float32))


def test_partial_episodes_are_left_out_unless_asked(tmp_path):
    src = write_episodes(tmp_path / "src", [synthetic_episode(0, 6), synthetic_episode(1, 5, partial=True)])
    report = export_lerobot_v3(iter_episodes(src, include_partial=True), tmp_path / "a")
    assert report.episodes == 1 and report.skipped_partial == ["episode_000001"]
    report = export_lerobot_v3(iter_episodes(src, include_partial=True), tmp_path / "b",
                               ExportOptions(include_partial=True))
    assert report.episodes == 2
    partial = [ep for _n, ep in iter_lerobot_episodes(tmp_path / "b")][1]
    assert partial.metadata["partial"] is True


@pytest.mark.parametrize("odd, message", [
    (synthetic_episode(5, 6, dt=0.05), "frames/s"),
    (synthetic_episode(5, 6, joints=6), "joints"),
    (synthetic_episode(5, 6, size=(32, 32)), "cameras"),
])
def test_an_episode_that_does_not_fit_the_dataset_is_refused_and_nothing_is_left(tmp_path, odd, message):
    eps = [("first", synthetic_episode(0, 6)), ("odd_one", odd)]
    with pytest.raises(ValueError, match=f"odd_one.*{message}"):
        export_lerobot_v3(eps, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # no half-written folder, under any name


def test_an_episode_with_a_gap_in_time_is_refused(tmp_path):
    ep = synthetic_episode(0, 6)
    ep.timestamps[3:] += 0.1  # a dropped step
    with pytest.raises(ValueError, match="not fixed-rate"):
        export_lerobot_v3([("gappy", ep)], tmp_path / "out")


def test_files_roll_over_at_their_size_limit_and_read_back(source, tmp_path):
    out = tmp_path / "rolled"
    export_lerobot_v3(iter_episodes(source), out, ExportOptions(data_files_size_in_mb=1e-4, video_files_size_in_mb=1e-4))
    assert len(list((out / "data").rglob("*.parquet"))) == 3
    assert len(list((out / "videos/observation.images.front").rglob("*.mp4"))) == 3
    eps = pq.read_table(out / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [e["videos/observation.images.front/file_index"] for e in eps] == [0, 1, 2]
    assert [e["videos/observation.images.front/from_timestamp"] for e in eps] == [0.0, 0.0, 0.0]
    a = dict(iter_lerobot_episodes(out))
    b = dict(iter_episodes(source))
    for name in b:
        np.testing.assert_array_equal(a[name].actions, b[name].actions.astype(np.float32))
        assert np.abs(a[name].images["wrist"].astype(int) - b[name].images["wrist"]).mean() < 3.0


def test_video_cursor_jumps_back_and_refuses_a_time_between_frames(export):
    root, _ = export
    cursor = VideoCursor(root / "videos/observation.images.front/chunk-000/file-000.mp4")
    try:
        late = cursor.frames_at(np.array([3.0, 3.1]))
        early = cursor.frames_at(np.array([0.0, 0.0, 0.1]))  # back to the start; one frame twice
        assert late.shape == (2, 48, 64, 3) and early.shape == (3, 48, 64, 3)
        np.testing.assert_array_equal(early[0], early[1])
        with pytest.raises(ValueError, match="no frame within"):
            cursor.frames_at(np.array([0.55]))
    finally:
        cursor.close()


def test_recording_style_metadata_names_the_robot_and_joints(tmp_path):
    ep = synthetic_episode(0, 5, cameras=())
    ep.metadata = {"robot": "fr3_lab2", "joint_names": [f"fr3_joint{i}" for i in range(1, 8)], "partial": False}
    export_lerobot_v3([("episode_000000", ep)], tmp_path / "out")
    info = json.loads((tmp_path / "out/meta/info.json").read_text())
    assert info["robot_type"] == "fr3_lab2" and info["video_path"] is None
    assert info["features"]["action"]["names"][0] == "fr3_joint1"
    (name, back), = iter_lerobot_episodes(tmp_path / "out")
    assert back.images == {} and back.metadata["robot"] == "fr3_lab2"
