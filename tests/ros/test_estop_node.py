"""estop_node through real keystrokes: a process on a pseudo-terminal, the safety node in real
rclpy listening to its heartbeat, a key device fed real input_event records."""
from __future__ import annotations

import os
import struct
import termios
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")

from estop_process import EStopProcess
from safety_rig import Q0, SafetyRig
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from roboalign_ros import qos

pytestmark = pytest.mark.ros
HEARTBEAT = dict(require_estop_heartbeat=True, estop_heartbeat_timeout=0.5, watchdog_timeout=0.2)


@pytest.fixture
def rig(ros_domain_id):
    r = SafetyRig(ros_domain_id, **HEARTBEAT)
    yield r
    r.close()


@pytest.fixture
def estop(ros_domain_id):
    processes = []

    def start(*params: str) -> EStopProcess:
        processes.append(EStopProcess("rate_hz:=20.0", *params))
        return processes[-1]

    yield start
    for p in processes:
        p.close()


def test_keys_assert_release_and_reset_the_estop_of_the_safety_node(rig, estop):
    rig.initialise()
    guard = rig.node.guard
    assert guard.stopped and "no e-stop heartbeat" in guard.reason  # no source yet: latched
    keys = estop()
    rig.probe.spin_until(lambda: guard.estop.sources == 1, 20.0, "the e-stop heartbeat")
    assert guard.stopped  # a source appearing is not a reset

    keys.press(b"r")
    rig.probe.spin_until(lambda: not guard.stopped, 5.0, "the reset asked with 'r'")
    keys.wait_output("reset accepted")
    far = Q0 + np.array([1.5, 0, 0, 0, 0, 0, 0])  # 0.75 s away at the sim arm's 2 rad/s
    rig.send(far, 0.3)
    moving = rig.outputs()[-1]
    assert np.abs(moving - Q0).max() > 0.05

    pressed = time.monotonic()
    keys.press(b" ")
    rig.probe.spin_until(lambda: guard.stopped, 2.0, "the e-stop from the space bar")
    assert time.monotonic() - pressed < 0.5 and "e-stop asserted on /safety/estop by /estop" in guard.reason
    keys.wait_output("E-STOP asserted")
    rig.send(far, 0.6)  # braking, then no motion whatever is commanded
    held = rig.outputs()[-10:]
    assert np.abs(np.diff(held, axis=0)).max() == 0.0 and np.abs(held[-1] - far).max() > 0.2

    keys.press(b"e")  # asserting again changes nothing; then release and reset
    keys.press(b"R")
    rig.probe.spin_until(lambda: not guard.stopped, 5.0, "the reset after the release")
    mark = len(rig.out)
    rig.probe.spin_for(0.4)  # a reset alone never moves the arm
    after = rig.outputs(mark)
    assert np.abs(after - held[-1]).max() < 1e-9


def test_when_the_estop_process_dies_expect_heartbeat_lost_and_arm_stopped(rig, estop):
    rig.initialise()
    keys = estop()
    rig.probe.spin_until(lambda: rig.node.guard.estop.sources == 1, 20.0, "the e-stop heartbeat")
    keys.press(b"r")
    rig.probe.spin_until(lambda: not rig.node.guard.stopped, 5.0, "the reset")
    rig.send(Q0 + 0.3, 0.2)
    killed = time.monotonic()
    keys.kill()  # SIGKILL: it cannot say anything any more
    while not rig.node.guard.stopped:
        rig.send(Q0 + 0.3, 0.02)
        assert time.monotonic() - killed < 3.0, "a dead e-stop must stop the arm"
    assert time.monotonic() - killed < 0.5 + 0.2  # heartbeat timeout + a control tick + slack
    assert "heartbeat lost: 1 of 1 source(s) silent (/estop)" in rig.node.guard.reason
    answer = rig.probe.call(Trigger, "/safety/reset")
    assert not answer.success and "heartbeat" in answer.message  # no live source: no reset


def test_quit_asserts_the_estop_and_restores_the_terminal(ros_domain_id, estop):
    import rclpy
    from rclpy.context import Context
    from ros_probe import Probe  # a bare listener: no safety node needed

    ctx = Context()
    rclpy.init(args=[], context=ctx, domain_id=ros_domain_id)
    probe = Probe(ctx)
    try:
        seen = probe.subscribe(Bool, "/safety/estop", qos.LATCHED)
        keys = estop()
        probe.spin_until(lambda: len(seen) >= 3, 20.0, "the heartbeat")
        assert not any(m.data for m in seen)
        t0 = time.monotonic()
        while len(seen) < 10:  # 20 Hz heartbeat
            probe.spin_for(0.05)
        rate = (len(seen) - 3) / (time.monotonic() - t0)
        assert 10.0 < rate < 30.0
        keys.press(b"q")
        assert keys.proc.wait(timeout=10) == 0
        probe.spin_until(lambda: seen[-1].data, 5.0, "the e-stop asserted on quit")
        keys.wait_output("quit: E-STOP asserted")
        # Raw mode was undone on the way out: the terminal is as the process found it.
        assert termios.tcgetattr(keys.slave) == keys.terminal_before
    finally:
        probe.close()
        rclpy.try_shutdown(context=ctx)


def test_when_the_terminal_closes_expect_estop_asserted_and_exit_1(ros_domain_id, estop):
    import rclpy
    from rclpy.context import Context
    from ros_probe import Probe

    ctx = Context()
    rclpy.init(args=[], context=ctx, domain_id=ros_domain_id)
    probe = Probe(ctx)
    try:
        seen = probe.subscribe(Bool, "/safety/estop", qos.LATCHED)
        keys = estop()
        probe.spin_until(lambda: len(seen) >= 2, 20.0, "the heartbeat")
        keys.hang_up()  # the terminal window is closed
        assert keys.proc.wait(timeout=10) == 1
        probe.spin_until(lambda: seen[-1].data, 5.0, "the e-stop asserted when input was lost")
        count = len(seen)
        probe.spin_for(0.3)
        assert len(seen) == count  # no heartbeat from a node without input
    finally:
        probe.close()
        rclpy.try_shutdown(context=ctx)


EVENT = struct.Struct("llHHi")


def test_a_key_device_foot_pedal_asserts_and_resets(rig, estop, tmp_path):
    """A foot pedal is a key device: input_event records (here through a FIFO) map like keys."""
    device = tmp_path / "pedal"
    os.mkfifo(device)
    fifo = os.open(device, os.O_RDWR)  # the "device" exists before the node opens it (never blocks)
    pedal = estop("input:=evdev", f"device:={device}", "estop_codes:=[30]", "reset_codes:=[48]")  # KEY_A, KEY_B
    try:
        rig.initialise()
        rig.probe.spin_until(lambda: rig.node.guard.estop.sources == 1, 20.0, "the pedal's heartbeat")

        def key(code: int, value: int = 1) -> None:
            os.write(fifo, EVENT.pack(0, 0, 1, code, value) + EVENT.pack(0, 0, 0, 0, 0))  # EV_KEY + EV_SYN

        key(48)
        rig.probe.spin_until(lambda: not rig.node.guard.stopped, 5.0, "the pedal's reset")
        key(57)  # KEY_SPACE is not mapped on this pedal
        key(30, value=0)  # a release is not a press
        rig.probe.spin_for(0.3)
        assert not rig.node.guard.stopped
        key(30)
        rig.probe.spin_until(lambda: rig.node.guard.stopped, 2.0, "the pedal's e-stop")
        assert "e-stop asserted" in rig.node.guard.reason
    finally:
        os.close(fifo)
    assert pedal.proc.wait(timeout=10) == 1  # the device went away: asserted and ended
