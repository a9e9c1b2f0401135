"""What the patient's display costs the control loop (figures, not a test).

    python benchmarks/bench_display.py [--rounds 5] [--seconds 60]

Plays the first ``--seconds`` of a 20-minute hands session (power-on, START, the ramp and the
treatment) through the full stack, in interleaved rounds: with the display drawn
(:class:`firmware.panelscreen.ScreenUpdater`, as the device runs) and without it (its observer
taken off the loop: nothing drawn, no bus traffic to the display). Prints, per round and as
medians, the CPU time per control period of each, their difference, and the updater's own CPU
time per period (timed around its call), each also as a share of the period's CPU time with the
display; and the simulated bus time the display takes per period (virtual time, the same on
every machine). The goal: at most 10 % of the period's CPU time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.scenario import parse_scenario  # noqa: E402
from simtools.simrun import ScenarioRun  # noqa: E402


def scenario():
    return parse_scenario({"name": "bench-display", "protocol": {"site": "hands",
                                                                 "target_ma": 15.0,
                                                                 "duration_min": 20.0},
                           "patient": {"load_ohm": 2000},
                           "event": [{"at_s": 1.0, "do": "press"}]}, "bench-display.toml")


def one(seconds: float, display: bool) -> dict:
    run = ScenarioRun(scenario(), None, trace=False)
    loop, upd = run.program.loop, run.program.screen
    i = loop.observers.index(upd.after_period)
    own = [0.0, 0.0]   # CPU seconds, simulated bus seconds
    if display:
        def timed(lp, inp, cmd, fn=upd.after_period):
            t0, v0 = time.process_time(), lp.clock.now()
            fn(lp, inp, cmd)
            own[0] += time.process_time() - t0
            own[1] += lp.clock.now() - v0
        loop.observers[i] = timed
    else:
        del loop.observers[i]
        run.program.course.display_problem = None   # START not gated on a display not drawn
    periods0 = loop.periods
    t0 = time.process_time()
    while run.clock.now() < seconds:
        run.step()
    cpu = time.process_time() - t0
    periods = loop.periods - periods0
    run.close()
    return {"us": cpu / periods * 1e6, "own_us": own[0] / periods * 1e6, "periods": periods,
            "bus_us": own[1] / periods * 1e6,
            "pages": upd.pages_sent}


def measure(rounds: int, seconds: float, *, say=print) -> dict:
    """The interleaved rounds and their medians (see the module's docstring)."""
    on, off = [], []
    for r in range(rounds):
        first, second = (True, False) if r % 2 == 0 else (False, True)
        res = {first: one(seconds, first), second: one(seconds, second)}
        on.append(res[True])
        off.append(res[False])
        d = res[True]["us"] - res[False]["us"]
        say(f"round {r + 1}: with the display {res[True]['us']:.0f} us a period, without "
            f"{res[False]['us']:.0f} us (+{d:.0f} us, {100 * d / res[True]['us']:.1f} %); "
            f"the updater itself {res[True]['own_us']:.1f} us "
            f"({100 * res[True]['own_us'] / res[True]['us']:.1f} %)")
    m_on = statistics.median(x["us"] for x in on)
    return {"rounds": rounds, "seconds": seconds, "with_us": m_on,
            "without_us": statistics.median(x["us"] for x in off),
            "diff_us": statistics.median(x["us"] - y["us"] for x, y in zip(on, off,
                                                                          strict=True)),
            "own_us": statistics.median(x["own_us"] for x in on),
            "bus_us": on[0]["bus_us"], "pages": on[0]["pages"], "periods": on[0]["periods"]}


def readme_value(m: dict) -> str:
    """The figure for the README's performance table."""
    return (f"{m['own_us']:.0f} µs a period of the updater's own CPU time, "
            f"{100 * m['own_us'] / m['with_us']:.1f} % of the period's {m['with_us']:.0f} µs "
            f"(goal at most 10 %); with against without the display, interleaved: "
            f"+{m['diff_us']:.0f} µs ({100 * m['diff_us'] / m['with_us']:.1f} %, median of "
            f"{m['rounds']}); bus time {m['bus_us']:.0f} µs a period (simulated), no period "
            "beyond 95 % of its length")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=60.0)
    a = ap.parse_args()
    m = measure(a.rounds, a.seconds, say=lambda text: print(text, flush=True))
    print(f"median over {a.rounds} rounds of {a.seconds:g} s simulated: with the display "
          f"{m['with_us']:.0f} us a period, without {m['without_us']:.0f} us; difference "
          f"{m['diff_us']:.0f} us ({100 * m['diff_us'] / m['with_us']:.1f} % of the period's "
          f"CPU time); the updater's own time {m['own_us']:.1f} us "
          f"({100 * m['own_us'] / m['with_us']:.1f} %); display bus time {m['bus_us']:.0f} us "
          f"of simulated time a period on average ({m['pages']} page writes in "
          f"{m['periods']} periods)")
    print(f"README: {readme_value(m)}")


if __name__ == "__main__":
    main()
