"""Shared fixtures: the real HAL built on the simulated hardware."""

from __future__ import annotations

import math

import pytest

from hal import build_hardware
from hardware import load_board
from sim.patient import Patient
from sim.rig import SimRig


@pytest.fixture(scope="session")
def board():
    return load_board()


def make_rig(board, *, load_ohm=2000.0, seed=0, noise_v=60e-6, **patient):
    rig = SimRig(board, patient=Patient(load_ohm=load_ohm, **patient), seed=seed,
                 noise_v=noise_v)
    hw = build_hardware(board, **rig.hardware_kwargs())
    return rig, hw


@pytest.fixture
def rig_hw(board):
    rig, hw = make_rig(board)
    yield rig, hw
    hw.close()


def run(rig, hw, seconds, period=0.01, kick=True):
    """Let simulated time pass as a control loop would: one WDI edge per period."""
    end = rig.clock.now() + seconds
    while rig.clock.now() < end - 1e-12:
        if kick:
            hw.guard.kick()
        rig.clock.sleep(period)
    rig.physics.sync()


def energise(rig, hw, ma=0.0, *, patient=True, test_load=False):
    """Close the output path, enable HV and the gate, command ``ma``."""
    hw.guard.kick()
    out = hw.output
    if test_load:
        out.set_test_load(True)
    if patient:
        out.set_patient_relay(True)
    run(rig, hw, 0.02)
    out.gate_dc()
    out.hv_on()
    out.set_setpoint_ma(ma)
    run(rig, hw, 0.1)


def device(rx=None, *, load_ohm=2000.0, seed=0, sink_gain=1.0, limits=None, **patient):
    """The complete device program on the simulator (simtools.simdevice.SimDevice)."""
    from controller import Prescription
    from simtools.simdevice import SimDevice

    return SimDevice(rx or Prescription(target_ma=5.0, duration_min=5.0, ramp_ma_s=1.0),
                     patient=Patient(load_ohm=load_ohm, **patient), seed=seed,
                     sink_gain=sink_gain, limits=limits)


def safe_after_ms(dev, t_inject):
    """SCENARIOS.md's safe_after_ms: from the injection to the first moment from which the true
    patient current stays below 0.1 mA for the rest of the fault's episode, which ends at the
    first new session begun after the detection (sim.truth.TruthRecorder.safe_after_s), or
    when the caller stopped running; with no fault latched, at the end of what was run."""
    t_detect = next((t for t in dev.fault_times if t >= t_inject - 1e-9), math.inf)
    return dev.truth.safe_after_s(t_inject, t_detect) * 1000.0


def screened(prog, rig):
    """A simulated unit's profiles screened as provisioned (firmware.course), as the scenario
    runner and ``ionto device --sim`` do: a test of the session, not of the screening."""
    from firmware.course import provision_screening
    from sim.rig import RTC_START
    provision_screening(prog.course, rig.rtc.time() or RTC_START)
    return prog


#: the test files that hold the longest tests (whole sessions and courses played period by
#: period), heaviest first: collected before the others, so that the workers of ``-n auto``
#: begin with them and the short tests fill the end (``--dist worksteal`` takes work from the
#: tail of a busy worker's queue), instead of one long test running alone at the end
LONG_FIRST = ("test_course_runs.py", "test_golden.py", "test_scenarios.py", "test_regulation.py",
              "test_session.py", "test_device.py", "test_every_state.py",
              "test_course_device.py", "test_fault_matrix.py", "test_power_loss.py",
              "test_dose_said_once.py", "test_console_terminal.py", "test_density_range.py",
              "test_campaign_cluster.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: order kept within
