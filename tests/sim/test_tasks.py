"""Task families: parsing, layouts, success conditions and the success latch."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roboalign.sim import tasks
from roboalign.sim.arm import SimArm
from roboalign.sim.kinematics import ArmKinematics, tool_down_rotation


@pytest.mark.parametrize(
    "text, expected",
    [
        ("touch", ("touch", "")),
        ("push", ("push", "")),
        ("touch the red block", ("touch", "red")),
        ("Tap the BLUE cube", ("touch", "blue")),
        ("slide the green block onto the target", ("push", "green")),
    ],
)
def test_parse_task_reads_family_and_colour(text, expected):
    assert tasks.parse_task(text) == expected


@pytest.mark.parametrize("text", ["", "touch the block", "push the red or blue block", "wave"])
def test_parse_task_rejects_ambiguous_text_with_a_hint(text):
    with pytest.raises(ValueError, match="instruction such as"):
        tasks.parse_task(text)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), family=st.sampled_from(tasks.FAMILIES))
def test_layouts_keep_blocks_apart_reachable_and_push_lanes_clear(seed, family):
    info, layout = tasks.sample_task(seed, family)
    pts = [layout.block_xy[n] for n in tasks.OBJECT_NAMES]
    for i in range(3):
        assert np.linalg.norm(pts[i]) <= tasks.MAX_REACH_XY
        for j in range(i + 1, 3):
            assert np.linalg.norm(pts[i] - pts[j]) >= tasks.MIN_BLOCK_SPACING
    assert info.colour in tasks.COLOURS and info.colour in info.instruction
    if family == "push":
        pad = np.array(info.pad_position[:2])
        b = layout.block_xy[info.target]
        assert tasks.PUSH_DISTANCE[0] - 1e-9 <= np.linalg.norm(pad - b) <= tasks.PUSH_DISTANCE[1] + 1e-9
        # Not already solved at the start.
        assert not tasks.push_condition(np.array([*b, tasks.BLOCK_HALF]), info.pad_position)
    else:
        assert info.pad_position is None


def test_same_seed_gives_same_task_and_instructions_vary_across_seeds():
    a, la = tasks.sample_task(11, "touch")
    b, lb = tasks.sample_task(11, "touch")
    assert a == b and np.array_equal(la.arm_q, lb.arm_q)
    instructions = {tasks.sample_task(s, "touch")[0].instruction.split(" the ")[0] for s in range(40)}
    assert len(instructions) >= 3  # paraphrases are drawn, not fixed


def test_touch_condition_uses_the_top_of_the_block_within_3cm():
    centre = np.array([0.4, 0.0, tasks.BLOCK_HALF])
    top = centre + [0, 0, tasks.BLOCK_HALF]
    assert tasks.touch_condition(top + [0, 0, 0.025], centre, False)
    assert not tasks.touch_condition(top + [0, 0, 0.035], centre, False)
    assert tasks.touch_condition(top + [0, 0, 0.2], centre, True)  # contact counts


def test_push_condition_needs_the_block_on_the_pad_and_resting():
    pad = np.array([0.4, 0.1, 0.0])
    assert tasks.push_condition([0.43, 0.07, tasks.BLOCK_HALF], pad)
    assert not tasks.push_condition([0.45, 0.1, tasks.BLOCK_HALF], pad)
    assert not tasks.push_condition([0.4, 0.1, tasks.BLOCK_HALF + 0.05], pad)  # lifted, not resting


def test_success_latch_needs_the_condition_held_then_stays_true():
    latch = tasks.SuccessLatch(hold_s=0.2)
    assert not latch.update(True, 0.1)
    assert not latch.update(False, 0.1)  # interruption restarts the hold
    assert not latch.update(True, 0.1)
    assert latch.update(True, 0.1)
    assert latch.update(False, 0.1)  # latched


def _hover_over(arm: SimArm, kin: ArmKinematics, point: np.ndarray) -> None:
    q = arm.joint_positions()
    sol = q[:6]
    for _ in range(50):
        sol, err = kin.solve(sol, point, tool_down_rotation(0.0), iterations=3)
    assert err < 1e-3
    arm.set_command(np.concatenate([sol, [1.0]]))
    arm.step(1.5)


def test_hovering_over_the_target_succeeds_but_over_another_block_does_not():
    kin = ArmKinematics()
    with SimArm(cameras=()) as arm:
        info = arm.reset(5, "touch")
        objs = arm.object_positions()
        other = next(n for n in tasks.OBJECT_NAMES if n != info.target)
        _hover_over(arm, kin, objs[other] + [0, 0, tasks.BLOCK_HALF + 0.01])
        assert not arm.success()
        _hover_over(arm, kin, objs[info.target] + [0, 0, tasks.BLOCK_HALF + 0.01])
        assert arm.success()
