"""SafetyGuard (roboalign.control.guard): which stops latch, what clears them, and why it says
it acted; a property test drives random event sequences against the latch rules."""
from __future__ import annotations

import pytest
from control_spec import HOME, make_spec
from hypothesis import given, settings
from hypothesis import strategies as st

from roboalign.control.guard import GuardConfig, SafetyGuard, StopReason

SPEC = make_spec()
NO_HEARTBEAT = GuardConfig(joint_state_timeout=0.1, following_error_limit=0.1, following_delay=0.05,
                           following_error_time=0.03, estop_heartbeat_timeout=None)
HEARTBEAT = GuardConfig(**{**NO_HEARTBEAT.__dict__, "estop_heartbeat_timeout": 0.2})


class Clock:
    """A guard fed like the node feeds it: joint states at 100 Hz, e-stop heartbeats, ticks."""

    def __init__(self, guard: SafetyGuard) -> None:
        self.guard, self.t, self.stamp = guard, 0.0, 1000.0

    def run(self, seconds: float, q=HOME, estop: bool | None = None, source="button", joints: bool = True) -> None:
        end = self.t + seconds
        while self.t < end - 1e-9:
            self.t += 0.01
            self.stamp += 0.01
            if estop is not None:
                self.guard.on_estop(source, estop, self.t)
            if joints:
                self.guard.on_command_sent(HOME, self.t)
                self.guard.on_joint_state(self.stamp, q, self.t)
            self.guard.tick(self.t)


def test_without_heartbeat_requirement_expect_running_from_the_start():
    clock = Clock(SafetyGuard(SPEC, NO_HEARTBEAT))
    clock.run(0.5)
    assert not clock.guard.stopped and clock.guard.counts == {r.value: 0 for r in StopReason}


def test_with_heartbeat_required_expect_latched_at_start_until_a_source_and_a_reset():
    guard = SafetyGuard(SPEC, HEARTBEAT)
    clock = Clock(guard)
    assert guard.stopped and "no e-stop heartbeat" in guard.reason
    refused = guard.reset(clock.t)
    assert not refused.accepted and "no e-stop heartbeat" in refused.message
    clock.run(0.3, estop=False)
    assert guard.stopped  # a source appearing is not a reset
    assert guard.reset(clock.t).accepted and not guard.stopped


def test_when_estop_asserted_expect_latched_and_reset_refused_until_released():
    guard = SafetyGuard(SPEC, NO_HEARTBEAT)
    clock = Clock(guard)
    clock.run(0.1, estop=True)
    assert guard.stopped and guard.active == {StopReason.ESTOP: "e-stop asserted on /safety/estop by button"}
    answer = guard.reset(clock.t)
    assert not answer.accepted and "still asserted on /safety/estop by button" in answer.message
    clock.run(0.3, estop=False)
    assert guard.stopped  # released is not reset
    answer = guard.reset(clock.t)
    assert answer.accepted and "cleared estop" in answer.message and not guard.stopped
    assert guard.counts["estop"] == 1  # counted once per stop, not once per message


def test_when_heartbeat_is_lost_expect_latched_stop_even_after_it_returns():
    guard = SafetyGuard(SPEC, HEARTBEAT)
    clock = Clock(guard)
    clock.run(0.2, estop=False)
    assert guard.reset(clock.t).accepted
    clock.run(0.5)  # the e-stop node died: joint states still flow
    assert guard.active.keys() == {StopReason.HEARTBEAT}
    assert "heartbeat lost: 1 of 1 source(s) silent (button) for" in guard.reason
    clock.run(0.3, estop=False, source="new estop node")
    assert guard.stopped
    answer = guard.reset(clock.t)  # forgets the dead source, keeps the live one
    assert answer.accepted and guard.estop.sources == 1 and not guard.stopped


def test_when_a_dead_source_last_said_true_expect_reset_to_forget_it_only_with_a_live_source():
    guard = SafetyGuard(SPEC, HEARTBEAT)
    clock = Clock(guard)
    clock.run(0.1, estop=True, source="old")
    clock.run(0.5)
    assert not guard.reset(clock.t).accepted  # no live source at all
    clock.run(0.1, estop=False, source="new")
    assert guard.reset(clock.t).accepted and not guard.stopped


def test_when_joint_states_go_stale_expect_a_stop_that_clears_on_a_fresh_state():
    guard = SafetyGuard(SPEC, NO_HEARTBEAT)
    clock = Clock(guard)
    clock.run(0.2)
    clock.run(0.15, joints=False)
    assert guard.active.keys() == {StopReason.STALE_JOINTS}
    assert "joint states stale by" in guard.reason
    assert not guard.reset(clock.t).accepted  # a reset cannot make the arm report
    clock.run(0.01)
    assert not guard.stopped and guard.counts["joint_states_stale"] == 1


def test_when_joint_states_freeze_expect_stop_although_messages_keep_coming():
    guard = SafetyGuard(SPEC, NO_HEARTBEAT)
    clock = Clock(guard)
    clock.run(0.2)
    frozen = clock.stamp
    for _ in range(20):  # the same sample, again and again
        clock.t += 0.01
        guard.on_joint_state(frozen, HOME, clock.t)
        guard.tick(clock.t)
    assert guard.active.keys() == {StopReason.STALE_JOINTS}


def test_when_the_arm_does_not_follow_expect_latched_stop_naming_the_joint():
    guard = SafetyGuard(SPEC, NO_HEARTBEAT)
    clock = Clock(guard)
    pushed = HOME.copy()
    pushed[3] -= 0.3  # held 0.3 rad off its command
    clock.run(0.1, q=pushed)
    assert guard.active.keys() == {StopReason.FOLLOWING}
    assert "following error 0.300 rad on joint4" in guard.reason
    clock.run(0.2)  # following again does not clear it: a collision needs a person
    assert guard.stopped
    assert guard.reset(clock.t).accepted and not guard.stopped


def test_gripper_blocked_by_an_object_is_not_a_following_error():
    guard = SafetyGuard(SPEC, NO_HEARTBEAT)
    grasp = HOME.copy()
    grasp[SPEC.gripper_index] += 0.8
    Clock(guard).run(0.3, q=grasp)
    assert not guard.stopped


def test_reset_episode_clears_following_and_stale_but_never_an_asserted_estop():
    guard = SafetyGuard(SPEC, NO_HEARTBEAT)
    clock = Clock(guard)
    clock.run(0.1, q=HOME + 0.5)
    guard.reset_episode(clock.t)
    assert not guard.stopped
    clock.run(0.05, estop=True)
    guard.reset_episode(clock.t)
    assert guard.active.keys() == {StopReason.ESTOP}


def test_status_says_why_and_how_long():
    guard = SafetyGuard(SPEC, NO_HEARTBEAT)
    clock = Clock(guard)
    clock.run(0.1)
    clock.run(0.2, joints=False)
    status = guard.status(clock.t)
    assert status["stop_reason"].startswith("joint states stale by")
    assert status["joint_state_age_s"] == pytest.approx(0.2, abs=0.011)
    assert status["estop_sources"] == 0 and status["estop_asserted"] is False


@pytest.mark.parametrize("field,value", [("joint_state_timeout", 0.0), ("following_error_limit", -1.0),
                                         ("following_delay", float("nan")), ("estop_heartbeat_timeout", 0.0)])
def test_invalid_guard_config_is_refused(field, value):
    with pytest.raises(ValueError, match=field):
        GuardConfig(**{field: value})


# ---- property: the latch rules hold for any sequence --------------------------------------------
event = st.one_of(
    st.tuples(st.just("estop"), st.sampled_from(["a", "b"]), st.booleans()),
    st.tuples(st.just("joints"), st.floats(-0.5, 0.5), st.sampled_from([0.01, 0.0, -0.01])),
    st.tuples(st.just("command"), st.floats(-0.5, 0.5), st.just(0)),
    st.tuples(st.just("tick"), st.just(0), st.just(0)),
    st.tuples(st.just("reset"), st.just(0), st.just(0)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(event, st.floats(0.0, 0.3)), min_size=1, max_size=60), st.booleans())
def test_latched_stops_clear_only_through_an_accepted_reset(events, heartbeat):
    guard = SafetyGuard(SPEC, HEARTBEAT if heartbeat else NO_HEARTBEAT)
    t, stamp = 0.0, 1000.0
    for (kind, a, b), gap in events:
        t += gap
        latched_before = guard.active.keys() & {StopReason.ESTOP, StopReason.HEARTBEAT, StopReason.FOLLOWING}
        if kind == "estop":
            guard.on_estop(a, b, t)
            if b:
                assert guard.stopped
        elif kind == "joints":
            stamp += b
            guard.on_joint_state(stamp, HOME + a, t)
        elif kind == "command":
            guard.on_command_sent(HOME + a, t)
        elif kind == "tick":
            guard.tick(t)
            if heartbeat and guard.estop.heartbeat_reason(t) is not None:
                assert StopReason.HEARTBEAT in guard.active
            if guard.joints.stale_reason(t) is not None:
                assert StopReason.STALE_JOINTS in guard.active
        else:
            answer = guard.reset(t)
            if answer.accepted:
                assert not guard.estop.asserted
                assert guard.estop.heartbeat_reason(t) is None and guard.joints.stale_reason(t) is None
                assert not guard.active.keys() & {StopReason.ESTOP, StopReason.HEARTBEAT, StopReason.FOLLOWING}
                continue
        # Nothing but an accepted reset takes a latched reason away.
        assert latched_before <= guard.active.keys()
        if guard.estop.asserted:
            assert guard.stopped
        assert guard.stopped == bool(guard.active)
