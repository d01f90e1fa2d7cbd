"""Evaluation suites: variants reproducible from the seed, actually different, nominal = the sim."""
from __future__ import annotations

import numpy as np
import pytest

from roboalign.eval import suites
from roboalign.sim import tasks


@pytest.mark.parametrize("name", list(suites.SUITES))
def test_variant_is_a_function_of_suite_and_seed(name):
    assert suites.draw_variant(name, 7) == suites.draw_variant(name, 7)
    if name not in ("nominal", "push"):
        assert suites.draw_variant(name, 7) != suites.draw_variant(name, 8)


def test_ood_targets_leave_the_training_box_within_reach():
    for seed in range(40):
        v = suites.draw_variant("positions_ood", seed)
        xy = np.asarray(v.target_xy)
        assert not suites.in_training_box(xy, suites.OOD_MARGIN)
        assert suites.OOD_REACH[0] <= np.linalg.norm(xy) <= suites.OOD_REACH[1]


def test_multistep_names_two_different_blocks_in_its_instruction():
    v = suites.draw_variant("multistep", 3)
    a, b = (t.split("_")[0] for t in v.targets)
    assert a != b and v.instruction.index(a) < v.instruction.index(b)


def test_suite_names_accepts_all_and_lists_and_refuses_unknown_names():
    assert suites.suite_names("all") == tuple(suites.SUITES)
    assert suites.suite_names("push,nominal") == ("nominal", "push")
    with pytest.raises(ValueError, match="lighting"):
        suites.suite_names("nominal,lighting")


@pytest.fixture(scope="module")
def arms():
    from roboalign.eval.scene import EvalArm

    made = {n: EvalArm(n, render_size=(64, 64)) for n in
            ("nominal", "positions_ood", "distractors", "colour_lighting", "camera_pose")}
    yield made
    for arm in made.values():
        arm.close()


def test_nominal_suite_is_the_sim_unchanged(arms):
    from roboalign.sim.arm import SimArm

    with SimArm(render_size=(64, 64)) as sim:
        for seed in (0, 5):
            info = sim.reset(seed)
            assert arms["nominal"].reset(seed) == info
            for name, pos in sim.object_positions().items():
                assert np.allclose(arms["nominal"].object_positions()[name], pos)
            assert np.array_equal(arms["nominal"].render("front"), sim.render("front"))


def test_ood_suite_moves_only_the_target_block(arms):
    nominal, ood = arms["nominal"], arms["positions_ood"]
    info = nominal.reset(4)
    ood.reset(4)
    for name in tasks.OBJECT_NAMES:
        same = np.allclose(nominal.object_positions()[name], ood.object_positions()[name])
        assert same == (name != info.target)
    assert np.allclose(ood.object_positions()[info.target][:2], ood.variant.target_xy)


def test_distractors_stand_on_the_table_and_the_rest_are_parked(arms):
    arm = arms["distractors"]
    arm.reset(1)
    placed = {d.name: d for d in arm.variant.distractors}
    assert 1 <= len(placed) <= 3
    for name, half in suites.DISTRACTOR_SHAPES:
        pos = arm.data.xpos[arm.model.body(name).id]
        if name in placed:
            assert np.allclose(pos, (*placed[name].xy, half), atol=1e-6)
            assert np.allclose(arm.model.geom_rgba[arm.model.geom(f"{name}_geom").id][:3], placed[name].rgb)
        else:
            assert pos[0] > 2.0  # behind the front camera, on the floor


def test_colour_and_camera_variants_change_the_image_and_are_restored(arms):
    base = arms["nominal"]
    base.reset(2)
    image = base.render("front")
    for name in ("colour_lighting", "camera_pose"):
        arm = arms[name]
        arm.reset(2)
        first = arm.render("front")
        assert np.abs(first.astype(int) - image.astype(int)).mean() > 5.0  # visibly different
        arm.reset(3)
        arm.reset(2)
        assert np.array_equal(arm.render("front"), first)  # nothing carries over between episodes
    cam = arms["camera_pose"]
    front = cam.model.camera("front").id
    assert not np.allclose(cam.model.cam_pos[front], base.model.cam_pos[front])
    red = base.model.material("red").id
    assert not np.allclose(arms["colour_lighting"].model.mat_rgba[red], base.model.mat_rgba[red])


def test_expert_does_the_multistep_sequence_in_order():
    from roboalign.eval.scene import EvalArm
    from roboalign.sim.episodes import run_sim_episode
    from roboalign.sim.expert import ScriptedExpert

    with EvalArm("multistep", cameras=()) as arm:
        r = run_sim_episode(arm, ScriptedExpert(), 0, max_seconds=12.0)
        assert r.success and arm.steps_done == 2 and arm.wrong_object == ""


def test_holding_another_block_counts_as_wrong_object():
    from roboalign.eval.scene import EvalArm
    from roboalign.sim.episodes import run_sim_episode
    from roboalign.sim.expert import ScriptedExpert

    class Misled(EvalArm):  # tells the expert the wrong block: it touches that one
        def privileged_state(self):
            p = super().privileged_state()
            other = next(n for n in tasks.OBJECT_NAMES if n != self.task.target)
            p["target_position"] = p[other].copy()
            return p

    with Misled("nominal", cameras=()) as arm:
        r = run_sim_episode(arm, ScriptedExpert(), 0, max_seconds=4.0)
        assert not r.success
        assert arm.wrong_object == next(n for n in tasks.OBJECT_NAMES if n != arm.task.target)
