"""Plots that tell the truth: the thinning keeps every peak, an unknown value is a gap."""

from __future__ import annotations

import math
import random

import pytest

from simtools.thinning import PeakThinner, thin


def _rows(n=10_000, seed=3):
    """A 100 Hz trace (t, state, value) with one-period spikes up and down."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        v = 15.0 + rng.uniform(-0.01, 0.01)
        if i in (4321, 8765):
            v = 31.0
        if i == 6000:
            v = -2.0
        rows.append((i * 0.01, "TREAT" if i < 7000 else "FAULT", v))
    return rows


def test_thinning_keeps_every_peak_and_every_state_change():
    rows = _rows()
    out = thin(rows, 1.0, [lambda r: r[2]])
    assert len(out) <= 4 * 100 + 2            # at most first, min, max and a state change a window
    assert len(out) < len(rows) / 20
    assert max(r[2] for r in out) == 31.0 and min(r[2] for r in out) == -2.0
    assert [r[0] for r in out if r[2] == 31.0] == [43.21, 87.65]
    assert any(r[0] == 70.0 and r[1] == "FAULT" for r in out)   # the first FAULT row, exactly
    assert [r[0] for r in out] == sorted(r[0] for r in out)


@pytest.mark.parametrize("window", [0.05, 0.37, 5.0])
def test_every_windows_extremes_survive(window):
    rows = _rows(3000, seed=11)
    out = thin(rows, window, [lambda r: r[2]])
    kept = set(out)
    windows, w = [], []
    for r in rows:                      # a window: the rows within window_s of its first
        if w and r[0] - w[0][0] >= window:
            windows.append(w)
            w = []
        w.append(r)
    windows.append(w)
    assert len(windows) > 5
    for w in windows:
        assert max(w, key=lambda r: r[2]) in kept and min(w, key=lambda r: r[2]) in kept


def test_a_missing_value_does_not_break_the_thinning():
    rows = [(i * 0.01, "IDLE", "" if i % 3 else float(i), float("nan")) for i in range(300)]
    out = PeakThinner(0.5, [lambda r: r[2], lambda r: r[3]]).rows() or thin(
        rows, 0.5, [lambda r: r[2], lambda r: r[3]])
    assert max(r[2] for r in out if r[2] != "") == 297.0
    assert all(math.isnan(r[3]) for r in out)


def test_the_scenario_plot_rows_hold_the_true_peak(tmp_path):
    """fault-sink-short: 31 mA flows for part of one period; the plot must reach it."""
    from sim.scenario import load_scenario
    from simtools.simrun import run_scenario
    summary = run_scenario(load_scenario("scenarios/fault-sink-short.toml"), tmp_path,
                           plot=True)
    assert (tmp_path / "session.png").stat().st_size > 10_000
    # the plot's rows are gone with the run; the summary's peak is what the plot must reach
    from simtools import simrun
    run = simrun.ScenarioRun(load_scenario("scenarios/fault-sink-short.toml"), None, plot=True)
    try:
        run.run()
        rows = run.plot_rows
    finally:
        run.close()
    assert len(rows) < 0.6 * summary["sim_s"] / 0.01      # thinned from 100 rows a second
    assert max(r[12] for r in rows) == pytest.approx(summary["peak_ma"], abs=0.01)
    assert summary["peak_ma"] > 30.0
    # frames.png: the display's glass in each state the run went through, in their order
    assert (tmp_path / "frames.png").stat().st_size > 5_000
    states = [e["detail"] for e in summary["events"] if e["kind"] == "state"]
    shown = [state for _, state, _ in run.frames]
    assert shown[0] == "SELF_TEST" and shown[-1] == "FAULT"
    assert [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]] == shown[1:]
    fault_glass = run.frames[-1][2]
    from firmware.screens import screen
    from hal.display import render
    scr = screen(run.program.screen.view(0.0))
    frame = render(scr.lines, [(b.line, b.fraction) for b in scr.bars])
    assert all(fault_glass[y][x] == (frame[(y >> 3) * 128 + x] >> (y & 7)) & 1
               for y in range(64) for x in range(128))     # "Stopped: R-OC-ABS" on the glass


def test_the_log_plot_draws_an_unknown_load_as_a_gap(tmp_path, monkeypatch):
    from simtools import plots

    class Log:
        def session(self, sid):
            return {"outcome": "completed", "treat_s": 60.0, "dose_ma_min": 10.0}

        def trace_of(self, sid):
            return [(float(i), "TREAT" if i < 5 or i > 8 else "PAUSED", 10.0, 10.0, 10.0, 20.0,
                     55.0, None if 5 <= i <= 8 else 2000.0) for i in range(12)]

    drawn = []
    real = plots.plt.Axes.plot

    def spy(ax, x, y, *a, **k):
        drawn.append((k.get("label"), list(y)))
        return real(ax, x, y, *a, **k)
    monkeypatch.setattr(plots.plt.Axes, "plot", spy)
    plots.plot_logged_session(Log(), 1, tmp_path / "s.png")
    load = dict(drawn)["load (kOhm)"]
    assert all(math.isnan(v) for v in load[5:9]) and load[0] == 2.0   # a gap, never 0
    assert (tmp_path / "s.png").exists()
