"""The benchmark of the architecture's limit (``benchmarks/bench_limit.py``) times the live
controller's twin, not a controller that latched a fault: the control core, fed a session's
inputs from its first period (or its bus and pins playing them back at no cost), commands in
every period exactly what the live one commanded, and the check that says so can fail."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_limit",
                                                  ROOT / "benchmarks" / "bench_limit.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def recorded(bench):
    # the self-test, START at 1 s, the contact check and the start of the ramp
    return bench.record(12.0)


def test_the_twin_and_the_free_replay_command_what_the_live_session_did(bench, recorded):
    board, periods, states = recorded
    assert states[-1] == "RAMP_UP" and len(periods) == len(states) == 1200
    assert any(inp.hw_trip for _t, _c, inp, _cmd in periods)     # the self-test's trip
    assert any(cmd.setpoint_ma > 1.0 and cmd.patient_relay for *_, cmd in periods)
    times, differ = bench.controller_alone(board, periods)
    assert differ == 0 and len(times) == len(periods)
    times, differ = bench.replay(board, periods)
    assert differ == 0 and len(times) == len(periods)


def test_a_replay_that_reads_one_other_count_is_seen_to_differ(bench, recorded):
    board, periods, _ = recorded
    ain_a = board.adc.channels["current_a"]
    k = next(k for k, (t, c, _inp, _cmd) in enumerate(periods) if t > 8.0 and c is not None)
    t, c, inp, cmd = periods[k]
    changed = periods[:k] + [(t, {**c, ain_a: c[ain_a] + 1}, inp, cmd)] + periods[k + 1:]
    _times, differ = bench.replay(board, changed)
    assert differ >= 1          # the sample read differs, and whatever it moved
    # and the controller alone, given one other trip edge, is seen to differ too
    trip = next(k for k, (_t, _c, inp, _cmd) in enumerate(periods) if inp.hw_trip)
    t, c, inp, cmd = periods[trip]
    moved = replace(inp, hw_trip=False, trip_edge_t=None)
    _times, differ = bench.controller_alone(board, periods[:trip] + [(t, c, moved, cmd)]
                                            + periods[trip + 1:])
    assert differ >= 1


def test_the_figure_is_refused_for_a_session_that_is_not_treating(bench):
    with pytest.raises(SystemExit, match="not treating"):
        bench.measure(5.0, 1)
