"""The one loop that drives the unit (firmware.device.DeviceProgram.run) and its pacing
(firmware.loop.Pacer): behaviour on injected clocks, no wall-clock speed."""

from __future__ import annotations

import pytest

from firmware.loop import Pacer


class _Clock:
    def __init__(self, t: float = 0.0):
        self.t = t

    def now(self) -> float:
        return self.t


def _pacer(speed: float, wall_t: list[float], slept: list[float], sim: _Clock) -> Pacer:
    return Pacer(sim, speed, wall=lambda: wall_t[0], sleep=slept.append)


def test_the_pacer_sleeps_while_the_simulation_is_ahead_of_speed_times_real_time():
    sim, wall, slept = _Clock(10.0), [100.0], []
    p = _pacer(4.0, wall, slept, sim)
    sim.t = 14.0        # 4 simulated seconds: 1 s of wall time at 4x
    wall[0] = 100.25    # a quarter of it has gone by
    p.pace()
    assert slept == [pytest.approx(0.75)]


def test_the_pacer_never_sleeps_when_behind_and_does_not_hurry_later():
    sim, wall, slept = _Clock(0.0), [0.0], []
    p = _pacer(2.0, wall, slept, sim)
    sim.t, wall[0] = 1.0, 3.0     # far behind: no sleep
    p.pace()
    sim.t = 8.0                   # 4 s of wall at 2x; 3 have gone
    p.pace()
    assert slept == [pytest.approx(1.0)]


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_a_speed_of_zero_or_below_is_refused(bad):
    with pytest.raises(ValueError, match="above 0"):
        Pacer(_Clock(), bad)


def test_the_scenario_runner_and_the_device_share_the_program_loop(tmp_path):
    """The scenario runner plays its periods through DeviceProgram.run: a stop requested on
    the program ends the scenario's loop too (one loop, not two)."""
    from sim.scenario import load_scenario
    from simtools.simrun import ScenarioRun

    sc = load_scenario("scenarios/hands-typical.toml")
    run = ScenarioRun(sc, None, trace=False)
    try:
        periods = []

        def before():
            periods.append(run.clock.now())
            if len(periods) == 50:
                run.program.request_stop()

        orig = run._before

        def wrapped():
            before()
            orig()

        run._before = wrapped
        run.run()
        assert len(periods) == 50
        assert run.program.loop.periods == 50
    finally:
        run.close()
