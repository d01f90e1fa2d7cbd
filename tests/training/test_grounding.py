"""Spatial-grounding VQA (training/grounding.py): answers against the simulator's ground truth."""
from __future__ import annotations

import json

import numpy as np
import pytest

from roboalign.training import grounding


def test_table_answer_rounds_to_cm_and_parses_back():
    assert grounding.table_answer(np.array([0.4249, -0.0951])) == "x 42 y -10"
    np.testing.assert_allclose(grounding.parse_table_answer("x 42 y -10"), [0.42, -0.10])
    assert grounding.parse_table_answer("x 42") is None
    assert grounding.parse_table_answer("x a y 3") is None


def test_image_answer_is_percent_of_the_image_and_clipped():
    assert grounding.image_answer(np.array([64.0, 32.0]), (128, 128)) == "u 50 v 25"
    assert grounding.image_answer(np.array([500.0, -3.0]), (128, 128)) == "u 99 v 0"


def test_change_answer_names_the_block_approached_or_nothing():
    blocks = {"red_block": np.array([0.4, 0.1, 0.02]), "blue_block": np.array([0.4, -0.1, 0.02])}
    start = np.array([0.3, 0.0, 0.3])
    assert grounding.change_answer(start, start + [0.0, 0.05, -0.05], blocks) == "the gripper moved towards the red block"
    assert grounding.change_answer(start, start + [0.0, -0.05, -0.05], blocks) == "the gripper moved towards the blue block"
    assert grounding.change_answer(start, start + [0.005, 0.0, 0.0], blocks) == "nothing moved"


@pytest.fixture(scope="module")
def arm_at_seed():
    from roboalign.sim.arm import SimArm
    from roboalign.sim.episodes import run_sim_episode
    from roboalign.sim.expert import ScriptedExpert

    arm = SimArm(render_size=(128, 128), cameras=())
    run_sim_episode(arm, ScriptedExpert(horizon=8), 5, task="touch", max_seconds=0.5, stop_on_success=False)
    yield arm
    arm.close()


def test_grounding_answers_match_the_simulator_layout(arm_at_seed):
    from roboalign.sim import tasks
    from roboalign.training.sim_data import project_to_image

    arm = arm_at_seed
    _info, layout = tasks.sample_task(5, "touch")
    rows = grounding.grounding_for_state(arm, "front", np.random.default_rng(0))
    located = {r["question"].split()[3]: r["answer"] for r in rows if r["type"] == "locate_table"}
    assert sorted(located) == sorted(c for c in tasks.COLOURS)
    for colour, answer in located.items():
        xy = grounding.parse_table_answer(answer)
        assert np.abs(xy - layout.block_xy[f"{colour}_block"]).max() <= 0.006  # cm rounding + settling
    for r in (r for r in rows if r["type"] == "locate_image"):
        colour = r["question"].split()[3]
        uv = project_to_image(arm, "front", arm.object_positions()[f"{colour}_block"][None])[0]
        assert r["answer"] == grounding.image_answer(uv, arm.render_size)
    nearer = [r for r in rows if r["type"] == "nearer"]
    assert len(nearer) == 1
    a, b = (w for w in nearer[0]["question"].replace(",", "").replace("?", "").split() if w in tasks.COLOURS)
    tcp, pos = arm.tcp_position(), arm.object_positions()
    closer = min((a, b), key=lambda c: np.linalg.norm(pos[f"{c}_block"] - tcp))
    assert nearer[0]["answer"] == f"the {closer} block"


def test_make_grounding_vqa_writes_images_and_a_two_image_change_question(tmp_path):
    from roboalign.training.sim_data import SimDataConfig
    from roboalign.training.vqa import VQASource

    summary = grounding.make_grounding_vqa(tmp_path, [7], SimDataConfig(horizon=8, image_size=(64, 64)))
    assert summary["grounding_questions"] == 8
    rows = [json.loads(line) for line in (tmp_path / "grounding" / "vqa.jsonl").read_text().splitlines()]
    assert {r["type"] for r in rows} == {"locate_table", "locate_image", "nearer", "changed"}
    changed = next(r for r in rows if r["type"] == "changed")
    assert changed["cameras"] == ["before", "after"] and len(changed["images"]) == 2
    src = VQASource(tmp_path / "grounding" / "vqa.jsonl")
    for sample in src:
        assert all(__import__("pathlib").Path(p).is_file() for p in sample.images)
