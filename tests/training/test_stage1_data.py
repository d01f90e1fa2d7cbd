"""Stage-1 data: simulator generator, episode / LeRobot / VQA loaders, mixing, collation."""
from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest

from roboalign import config
from roboalign.data.frames import EpisodeData, RobotFrames
from roboalign.data.sources import open_robot_source
from roboalign.training.mixture import DataConfig, Mixture
from roboalign.training.vqa import VQASource, read_jsonl


def test_generator_writes_episodes_vqa_pngs_and_a_manifest(stage1_data):
    manifest = json.loads((stage1_data / "manifest.json").read_text())
    assert manifest["splits"]["train"]["episodes"] == 3 and manifest["splits"]["val"]["episodes"] == 1
    assert manifest["splits"]["train"]["successful"] == 3
    rows = read_jsonl(stage1_data / "train" / "vqa" / "vqa.jsonl")
    assert {r["type"] for r in rows} >= {"closest_block", "gripper_open"}
    assert all((stage1_data / "train" / "vqa" / r["images"][0]).is_file() for r in rows)
    assert all(r["images"][0].endswith(".png") for r in rows)


def test_vqa_answers_follow_privileged_state_and_the_image():
    """closest block = smallest tool-to-block distance; left/right = order of the blocks' pixel
    columns, checked against the rendered colours at the projected centres."""
    from roboalign.sim.arm import SimArm
    from roboalign.training.sim_data import project_to_image, vqa_for_state

    arm = SimArm(render_size=(128, 128), cameras=("front",))
    try:
        for seed in range(3):
            arm.reset(seed)
            img = arm.render("front")
            blocks = {n: p for n, p in arm.object_positions().items() if n.endswith("_block")}
            uv = dict(zip(blocks, project_to_image(arm, "front", np.stack(list(blocks.values())))))
            for name, (u, v) in uv.items():
                rgb = img[int(v), int(u)].astype(int)
                assert int(np.argmax(rgb)) == {"red": 0, "green": 1, "blue": 2}[name.split("_")[0]]
            qa = {q["type"]: q for q in vqa_for_state(arm, "front", np.random.default_rng(seed))}
            tcp = arm.tcp_position()
            closest = min(blocks, key=lambda n: np.linalg.norm(blocks[n] - tcp))
            assert qa["closest_block"]["answer"] == f"the {closest.split('_')[0]} block"
            m = re.fullmatch(r"Is the (\w+) block left or right of the (\w+) block\?", qa["left_right"]["question"])
            a, b = m.group(1) + "_block", m.group(2) + "_block"
            assert qa["left_right"]["answer"] == ("right" if uv[a][0] > uv[b][0] else "left")
            assert qa["gripper_open"]["answer"] == ("yes" if arm.joint_positions()[-1] < 0.5 else "no")
    finally:
        arm.close()


def test_robot_frames_pad_chunks_past_the_episode_end_with_the_last_action():
    ep = EpisodeData("touch", {"front": np.zeros((3, 4, 4, 3), np.uint8)}, np.zeros((3, 2)),
                     np.arange(6.0).reshape(3, 2), 0.1, "ep")
    frames = RobotFrames([ep], horizon=4)
    s = frames[2]
    np.testing.assert_array_equal(s.chunk, [[4, 5]] * 4)
    assert s.cameras == ("front",) and s.source == "ep#2" and len(frames) == 3
    assert len(RobotFrames([ep], horizon=4, stride=2)) == 2


def test_project_episode_folders_load_with_their_chunks(stage1_data):
    frames = open_robot_source(stage1_data / "train", horizon=8)
    assert frames.chunks().shape[1:] == (8, 7)
    s = frames[0]
    assert s.images[0].shape == (112, 112, 3) and s.state.shape == (7,) and s.instruction


def _write_lerobot(root, n_frames=5, dim=3):
    import pandas as pd
    from PIL import Image

    (root / "meta").mkdir(parents=True)
    (root / "data" / "chunk-000").mkdir(parents=True)
    info = {"fps": 10, "features": {"observation.state": {"dtype": "float32", "shape": [dim]},
                                    "action": {"dtype": "float32", "shape": [dim]},
                                    "observation.images.front": {"dtype": "image", "shape": [8, 8, 3]}}}
    (root / "meta" / "info.json").write_text(json.dumps(info))
    (root / "meta" / "tasks.jsonl").write_text(json.dumps({"task_index": 0, "task": "touch the red block"}) + "\n")
    rows = []
    for ep in range(2):
        for t in range(n_frames):
            buf = io.BytesIO()
            Image.fromarray(np.full((8, 8, 3), 10 * t + ep, np.uint8)).save(buf, format="PNG")
            rows.append({"episode_index": ep, "frame_index": t, "task_index": 0,
                         "observation.state": np.full(dim, t, np.float32), "action": np.full(dim, t + 1, np.float32),
                         "observation.images.front": {"bytes": buf.getvalue(), "path": None}})
    pd.DataFrame(rows).to_parquet(root / "data" / "chunk-000" / "file-000.parquet")


def test_lerobot_style_folder_loads_images_states_actions_and_tasks(tmp_path):
    _write_lerobot(tmp_path)
    frames = open_robot_source(tmp_path, horizon=3)
    assert len(frames) == 10 and frames.episodes[0].dt == pytest.approx(0.1)
    s = frames[6]  # episode 1, frame 1
    assert s.instruction == "touch the red block" and s.cameras == ("front",)
    assert s.images[0][0, 0, 0] == 11
    np.testing.assert_array_equal(s.chunk[:, 0], [2, 3, 4])


def test_lerobot_video_feature_without_its_mp4_names_the_missing_file(tmp_path):
    _write_lerobot(tmp_path)  # videos decode (tests/data/test_lerobot_export.py); a missing one is named
    info = json.loads((tmp_path / "meta" / "info.json").read_text())
    info["features"]["observation.images.front"]["dtype"] = "video"
    info["video_path"] = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"  # v2.1
    (tmp_path / "meta" / "info.json").write_text(json.dumps(info))
    with pytest.raises(FileNotFoundError, match=r"videos/chunk-000/observation.images.front/episode_000000.mp4 is missing"):
        open_robot_source(tmp_path, horizon=3)


def test_vqa_jsonl_errors_name_the_line_and_the_missing_field(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_text(json.dumps({"images": ["a.png"], "question": "q", "answer": "a"}) + "\n"
                 + json.dumps({"images": ["a.png"], "question": "q"}) + "\n")
    with pytest.raises(ValueError, match=r"q.jsonl:2.*answer"):
        VQASource(p)


def test_mixture_draws_sources_by_weight_and_repeats_a_small_source():
    mix = Mixture([list(range(100)), ["v0", "v1"]], weights=[0.75, 0.25], total=40, seed=0)
    kinds = [isinstance(x, str) for x in mix]
    assert sum(kinds) == 10 and len(mix) == 40 and mix.counts == [30, 10]
    assert {x for x in mix if isinstance(x, str)} == {"v0", "v1"}
    assert len({x for x in mix if not isinstance(x, str)}) == 30  # without replacement


def test_data_config_rejects_unknown_keys_and_source_kinds():
    with pytest.raises(ValueError, match="horizn: unknown key; did you mean horizon"):
        config.from_mapping(DataConfig, {"sources": [{"kind": "vqa", "path": "x"}], "horizn": 3})
    with pytest.raises(ValueError, match="sources.0.kind: expected one of 'episodes', 'vqa', 'reasoning', got 'videos'"):
        config.from_mapping(DataConfig, {"sources": [{"kind": "videos", "path": "x"}]})
    with pytest.raises(ValueError, match="sources is empty"):
        config.from_mapping(DataConfig, {"sources": []})


def test_collator_puts_the_loss_on_the_answer_only_and_padding_changes_no_logits(stage1_data):
    from roboalign.policy.chat import ActionSpace, ChatBuilder
    from roboalign.policy.collate import IGNORE, ChatCollator
    from roboalign.policy.tiny import build_tiny_qwen2_5_vl
    from roboalign.tokenizer import FastTokenizer
    from roboalign.tokenizer.bridge import ActionTokenBridge
    from roboalign.training.collate import ChatDataset

    frames = open_robot_source(stage1_data / "train", horizon=8)
    space = ActionSpace(8, "delta", (6,))
    fast = FastTokenizer(vocab_size=256).fit(space.to_frame(frames.chunks(), frames.states()))
    bb = build_tiny_qwen2_5_vl()
    bridge = ActionTokenBridge(fast)
    bridge.attach(bb.tokenizer, bb.model)
    data = ChatDataset([frames[0], frames[1], VQASource(stage1_data / "train" / "vqa")[0]], ChatBuilder(bridge, space=space))
    batch = ChatCollator(bb.processor)([data[i] for i in range(3)])
    im_end = bb.tokenizer.convert_tokens_to_ids("<|im_end|>")
    for row in range(2):
        labels = batch["labels"][row]
        target = labels[labels != IGNORE].tolist()
        ids = fast.encode(space.to_frame(frames[row].chunk, frames[row].state))
        assert target == bridge.span_ids(ids) + [im_end]
        n = int(batch["attention_mask"][row].sum())
        assert batch["input_ids"][row, n - len(target):n].tolist() == target  # the answer ends the row
    assert batch["pixel_values"].shape[0] == int(batch["image_grid_thw"].prod(-1).sum())
    assert int((batch["input_ids"] == bb.model.config.image_token_id).sum()) == batch["pixel_values"].shape[0] // 4
    vqa_target = batch["labels"][2][batch["labels"][2] != IGNORE].tolist()
    assert bb.tokenizer.decode(vqa_target) == data[2]["target"]
    # Right padding must not move any example's 3-D rope positions: batched logits = alone.
    import torch

    labels = batch.pop("labels")
    with torch.no_grad():
        batched = bb.model(**batch).logits
        for row in range(3):
            alone = ChatCollator(bb.processor)([data[row]])
            alone.pop("labels")
            single = bb.model(**alone).logits[0]
            assert torch.allclose(batched[row, : single.shape[0]], single, atol=1e-4)
    assert labels.shape == batch["input_ids"].shape
