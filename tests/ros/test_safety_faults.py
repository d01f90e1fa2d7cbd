"""Fault injection through real rclpy, against the MuJoCo arm: what the safety node does when
the e-stop source dies, the command stream stops, joint states freeze, a joint is blocked, or a
protective stop hits mid-chunk. Speeds are the sim's own joint velocities (rad/s)."""
from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray
from estop_process import EStopProcess
from sim_rig import SimRig
from std_srvs.srv import Trigger

from roboalign_ros import qos

pytestmark = pytest.mark.ros
STILL = 0.02           # rad/s: below this the arm is at rest
HEARTBEAT = dict(require_estop_heartbeat=True, estop_heartbeat_timeout=0.5)
WATCHDOG = 0.2         # s
JOINT_STATE_TIMEOUT = 0.1  # s


@pytest.fixture
def rigs(ros_domain_id):
    made = []

    def make(**params) -> SimRig:
        made.append(SimRig(ros_domain_id, **params))
        return made[-1]

    yield make
    for rig in made:
        rig.close()


@pytest.fixture
def estops(ros_domain_id):
    made = []

    def start() -> EStopProcess:
        made.append(EStopProcess("rate_hz:=20.0"))
        return made[-1]

    yield start
    for p in made:
        p.close()


def swing(rig: SimRig, joint: int = 0, amplitude: float = 0.6, speed: float = 3.0):
    """Commands (a function of monotonic time) that swing joint `joint` about where it is now."""
    home, t0 = rig.position(), time.monotonic()

    def command(now: float) -> np.ndarray:
        q = home.copy()
        q[joint] += amplitude * np.sin(speed * (now - t0))
        return q
    return command


def arm_guarded(rig: SimRig, keys: EStopProcess) -> None:
    """The startup latch of a required heartbeat, cleared the way an operator does."""
    rig.wait(lambda: rig.safety.guard.estop.sources == 1, 20.0, "the e-stop heartbeat")
    assert rig.safety.guard.stopped
    keys.press(b"r")
    rig.wait(lambda: not rig.safety.guard.stopped, 5.0, "the reset from the e-stop terminal")


# ---- 6: the e-stop ----------------------------------------------------------------------------
def test_when_estop_publisher_dies_and_nodes_restart_expect_still_latched_and_reset_alone_never_moves(rigs, estops):
    rig = rigs(**HEARTBEAT)
    keys = estops()
    arm_guarded(rig, keys)
    rig.send(swing(rig), 0.5)
    assert rig.max_speed(time.monotonic() - 0.3) > 0.3  # it moves

    keys.press(b" ")
    rig.wait(lambda: rig.safety.guard.stopped, 2.0, "the e-stop")
    keys.kill()  # the e-stop's publisher dies while asserted
    command = swing(rig)
    rig.send(command, 1.0)
    assert rig.max_speed(time.monotonic() - 0.4) < STILL
    assert "e-stop asserted" in rig.safety.guard.reason and "heartbeat lost" in rig.safety.guard.reason

    keys = estops()  # a new e-stop source comes up (the dead one is still known): still latched
    rig.wait(lambda: rig.safety.guard.estop.sources == 2, 20.0, "the new e-stop's heartbeat")
    rig.send(command, 0.5)
    assert rig.safety.guard.stopped and rig.max_speed(time.monotonic() - 0.5) < STILL

    rig.restart_control()  # and the safety node restarts: still latched, nothing moves
    rig.wait(lambda: rig.safety.guard.estop.sources == 1, 10.0, "the heartbeat at the restarted node")
    rig.send(command, 0.8)
    assert rig.safety.guard.stopped and rig.max_speed(time.monotonic() - 0.8) < STILL

    keys.press(b"r")  # the operator resets: a reset alone never moves the arm
    reset_at = rig.wait(lambda: not rig.safety.guard.stopped, 5.0, "the reset")
    rig.probe.spin_for(0.6)
    assert rig.max_speed(reset_at) < STILL
    rig.send(swing(rig), 0.6)  # a fresh command does
    assert rig.max_speed(time.monotonic() - 0.4) > 0.3


def test_when_estop_heartbeat_is_lost_expect_the_arm_to_stop(rigs, estops):
    rig = rigs(**HEARTBEAT)
    keys = estops()
    arm_guarded(rig, keys)
    command = swing(rig, amplitude=1.0, speed=2.0)
    rig.send(command, 0.6)
    killed = time.monotonic()
    keys.kill()
    stopped_at = rig.send_until(command, lambda: rig.safety.guard.stopped, 3.0, "a stop after the e-stop died")
    assert stopped_at - killed < 0.5 + 0.2  # heartbeat timeout + a few control ticks (measured 0.50 s)
    rig.send(command, 0.8)
    assert "heartbeat lost" in rig.safety.guard.reason
    assert rig.max_speed(stopped_at + 0.5) < STILL  # braked (v/a <= 0.25 s) and holding
    assert rig.safety.intervention_counts()["stops_estop_heartbeat"] == 2  # at start, and now


# ---- 7: the command stream stops ----------------------------------------------------------------
def test_when_command_stream_stops_expect_the_arm_halts_within_the_watchdog_bound(rigs):
    rig = rigs(watchdog_timeout=WATCHDOG, diagnostics_rate_hz=20.0)
    state = rig.probe.subscribe(DiagnosticArray, "/safety/state", qos.STATE)
    target = rig.position()
    target[0] += 2.0  # far: the arm runs at its 2 rad/s limit towards it
    rig.send(target, 0.5)
    last_command = time.monotonic()
    rig.probe.spin_for(1.2)
    moving = [t for t, _, v in rig.arm if t > last_command and np.abs(v[:6]).max() >= STILL]
    halted_after = (moving[-1] if moving else last_command) - last_command
    # watchdog + 1.5 control periods for the hold timer + braking from 2 rad/s at 8 rad/s^2
    # + the sim's own settling below STILL (~0.1 s; measured in all 0.54-0.58 s)
    bound = WATCHDOG + 1.5 * 0.02 + 2.0 / 8.0 + 0.25
    assert halted_after <= bound, f"still moving {halted_after:.3f} s after the last command (bound {bound:.3f} s)"
    assert rig.safety.intervention_counts()["watchdog_trips"] == 1
    rig.wait(lambda: state and "watchdog" in state[-1].status[0].message, 2.0, "the diagnostics saying why")
    assert state[-1].status[0].message.startswith("hold (watchdog: no valid command for 0.200 s")


# ---- 8: joint states freeze, a joint is blocked ----------------------------------------------------
def test_when_joint_states_freeze_expect_the_arm_stops_and_the_driver_is_told(rigs):
    rig = rigs(joint_state_timeout=JOINT_STATE_TIMEOUT, diagnostics_rate_hz=20.0)
    state = rig.probe.subscribe(DiagnosticArray, "/safety/state", qos.STATE)
    command = swing(rig, amplitude=0.8, speed=2.5)
    rig.send(command, 0.5)
    rig.mode = "freeze"  # the driver goes on publishing one old sample
    frozen = time.monotonic()
    stopped_at = rig.send_until(command, lambda: rig.safety.guard.stopped, 2.0, "a stop on frozen joint states")
    assert stopped_at - frozen < JOINT_STATE_TIMEOUT + 0.15  # + ticks and relay (measured 0.12-0.17 s)
    rig.send(command, 0.6)
    assert rig.max_speed(time.monotonic() - 0.2) < STILL  # the real arm stopped
    assert len(rig.driver_stops) == 1 and rig.stopped_msgs[-1][1] is True
    counts = rig.safety.intervention_counts()
    assert counts["stops_joint_states_stale"] == 1 and counts["driver_stop_ok"] == 1
    rig.wait(lambda: state and state[-1].status[0].values and "stale" in state[-1].status[0].message, 2.0,
             "the diagnostics saying why")
    values = {kv.key: kv.value for kv in state[-1].status[0].values}
    assert values["stop_reason"].startswith("joint states stale by") and values["stops_joint_states_stale"] == "1"

    rig.mode = "pass"  # fresh joint states: the stop clears, but nothing replays old targets
    resumed = rig.wait(lambda: not rig.safety.guard.stopped, 2.0, "the recovery")
    rig.probe.spin_for(0.5)
    assert rig.max_speed(resumed) < STILL
    rig.send(swing(rig), 0.5)  # a fresh command moves it again
    assert rig.max_speed(time.monotonic() - 0.3) > 0.3


def test_when_a_joint_is_blocked_expect_a_latched_following_error_stop_naming_it(rigs):
    rig = rigs(following_error_limit=0.1, following_delay=0.1, following_error_time=0.05)
    command = swing(rig, joint=1, amplitude=0.5, speed=3.0)
    rig.send(command, 0.3)
    rig.blocked = (1, float(rig.position()[1]))
    rig.mode = "block"  # joint2 reports where it was: it does not follow
    rig.send_until(command, lambda: rig.safety.guard.stopped, 2.0, "a stop on a blocked joint")
    assert "on joint2" in rig.safety.guard.reason and "following error" in rig.safety.guard.reason
    rig.send(command, 0.6)
    assert rig.max_speed(time.monotonic() - 0.2) < STILL and len(rig.driver_stops) == 1
    rig.mode = "pass"  # following again does not clear it: a collision needs a person
    rig.send(command, 0.3)
    assert rig.safety.guard.stopped
    assert rig.probe.call(Trigger, "/safety/reset").success and not rig.safety.guard.stopped


# ---- 9: a protective stop mid-chunk -------------------------------------------------------------
def test_protective_stop_mid_chunk_flushes_the_queue_and_resume_has_no_burst(rigs):
    rig = rigs(control=("executor", "safety"), joint_state_timeout=JOINT_STATE_TIMEOUT)
    executor = rig.node("executor")
    start = rig.position()
    path = np.repeat(start[None], 150, axis=0)
    path[:, 0] += np.linspace(0.0, 1.2, 150)  # 3 s at 0.4 rad/s on joint1
    rig.send_chunk(path)
    rig.probe.spin_for(0.8)
    assert rig.max_speed(time.monotonic() - 0.3) > 0.2  # playing
    rig.mode = "freeze"
    rig.wait(lambda: rig.safety.guard.stopped, 2.0, "the protective stop")
    rig.probe.spin_for(0.3)
    rig.mode = "pass"
    rig.wait(lambda: rig.stopped_msgs and rig.stopped_msgs[-1][1] is False, 2.0, "the end of the stop")
    resumed = rig.stopped_msgs[-1][0]
    mark = len(rig.out)
    rig.probe.spin_for(0.6)
    # The chunk would have gone on 1.1 s further (0.44 rad) meanwhile: a queue not flushed would
    # make the arm rush after it at up to 2 rad/s. Flushed, it stays where it stopped.
    assert rig.max_speed(resumed, resumed + 0.5) < STILL
    assert executor.stats()["flushed_by_stop"] == 1
    first = rig.outputs_since(mark)
    assert len(first) == 0 or np.abs(first[0] - rig.position()).max() < 0.01  # from the measured joints

    here = rig.position()  # a new chunk after the stop plays from where the arm is
    path = np.repeat(here[None], 50, axis=0)
    path[:, 0] -= np.linspace(0.0, 0.3, 50)
    sent = time.monotonic()
    rig.send_chunk(path)
    rig.probe.spin_for(0.8)
    assert rig.max_speed(sent) > 0.1
    assert rig.max_speed(sent, sent + 0.1) < 8.0 * 0.1 + 0.1  # starts from rest within a_max (no jump)
