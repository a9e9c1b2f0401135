"""``ionto sim``: play a scenario against the complete device program on simulated hardware.

The composition root's part of the simulator contract (../shared/SCENARIOS.md): it builds the
device program exactly as ``ionto device --sim`` does (HAL, controller, treatment log, panel,
technician console) on a :class:`~sim.rig.SimRig`, lets :class:`sim.scenario.Player` act as the
patient and the world, records the ground truth with :class:`sim.truth.TruthRecorder`, and
writes ``summary.json``, ``trace.csv`` and (``--plot``) ``session.png`` and ``frames.png`` (the
display's glass in each state the run went through).

A simulated unit is provisioned like a unit from the factory: nominal calibration, the
scenario's prescription, default limits, and the technician PIN ``123456`` (a simulated unit's
PIN, so that scenarios can log in on the console; a real unit has no default PIN).
"""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

from controller import Limits, Prescription, PrescriptionError
from controller.limits import AREA_CM2, DURATION_MIN, PULSE_DUTY, PULSE_HZ, RAMP_RATE, SITE_MAX_MA
from controller.states import State
from firmware import calibration as calmod
from firmware import settings
from firmware.console import TechConsole, set_pin
from firmware.course import provision_screening
from firmware.device import DeviceProgram
from firmware.run_device import SIM_PIN
from firmware.sdnotify import Notifier
from firmware.treatlog import FIRST_PROFILE
from hardware import Board, load_board
from sim.numbers import show
from sim.patient import Patient
from sim.rig import RTC_START
from sim.scenario import Player, Scenario, ScenarioError, load_scenario, read_number
from sim.truth import TruthRecorder

from .backend import sim_hardware

#: what ``ionto sim`` needs of the scenario loader, reached through here so that the shipped
#: command line imports nothing of sim/ itself (tests/test_layers.py)
__all__ = ["ScenarioError", "ScenarioRun", "check_expect", "load_scenario", "prescription_of",
           "run_scenario"]
from .thinning import PeakThinner

#: frames.png: the glass taken this long into a state (a new screen is drawn within 0.35 s)
FRAME_AFTER_S = 0.4
#: frames.png shows at most this many states
MAX_FRAMES = 30
TRACE_COLUMNS = ("t_s", "state", "setpoint_ma", "measured_ma", "measured_b_ma", "patient_ma",
                 "electrode_v", "supply_v", "load_ohm", "contact", "polarity", "output_led")
RX_FIELDS = {f.name for f in fields(Prescription)}
#: summary.json's fault.active_after_ms: from the injection to the start of the control period
#: in which the true current first reached this much (0 if it flowed at the injection). Until
#: then an injected fault has nothing to act on (hands out of the water, no session, the 0.2 mA
#: contact probe, below every current rule's floor), and a deadline counted from the injection
#: would measure the patient, not the device. fault.rise_after_ms: the same for the first rise
#: of the true current by this much over its level at the injection: when a fault that drives
#: the current (a shorted sink, a stuck setpoint) first did so; at the compliance limit it can
#: only do so when the load falls (docs/safety/hazard-analysis.md, residual risk (b)). A rise
#: that falls back below this before any fault is detected was a transient and does not count.
#: fault.safe_after_ms: from the injection to a safe true current for the rest of the fault's
#: episode, which a new session begun after the detection ends (TruthRecorder.safe_after_s).
#: fault.exposed_ms: how long the fault could act: from the injection to the first detection,
#: only the control periods that began or ended with the true current at this much, then all
#: of the time from the detection to a safe current; never more than safe_after_ms -
#: active_after_ms. A treatment that pauses (a short, hands out of the water) before a rule's
#: persistence has run out leaves the fault nothing to act on until the current comes back,
#: and a rule blind below its floor (the channels' 0.3 mA) then finds the fault only as the
#: current returns (docs/safety/campaigns.md, finding 15).
ACTIVE_MA = 1.0
#: the signals of a plot row (a trace row and the period's true peak) whose extremes a thinned
#: plot keeps: the sink command, measured A, the true current, the load, the contact, the peak
PLOT_KEYS = (lambda r: r[2], lambda r: r[3], lambda r: abs(r[5]), lambda r: r[8],
             lambda r: r[9], lambda r: r[12])


#: [protocol]'s numbers and their ranges (controller.limits); target_ma's upper bound is the
#: site's limit (see _protocol_numbers)
PROTOCOL_NUMBERS = {"target_ma": (0.0, None, "mA"), "duration_min": (*DURATION_MIN, "min"),
                    "pulse_hz": (*PULSE_HZ, "Hz"), "pulse_duty": (*PULSE_DUTY, ""),
                    "ramp_ma_s": (*RAMP_RATE, "mA/s"), "area_cm2": (*AREA_CM2, "cm2")}


def _protocol_numbers(sc: Scenario) -> dict:
    """Every number of [protocol] through the scenario loader's one numeric check, whatever
    the waveform: the prescription checks ``pulse_hz`` and ``pulse_duty`` only in pulsed DC,
    but a file that holds a pulse rate of ``"fast"`` or 10**400 is wrong either way, and it
    must be refused before anything is simulated (exit 2), not found later."""
    p = sc.protocol
    site, child = p.get("site"), p.get("child", False)
    if isinstance(site, str) and site in SITE_MAX_MA and isinstance(child, bool):
        site_limit = Limits().site_limit(site, child)
        note = f" ({'child ' if child else ''}{site} limit)"
    else:
        site_limit, note = max(v[0] for v in SITE_MAX_MA.values()), " (the highest site limit)"
    out = {}
    for key, (lo, hi, unit) in PROTOCOL_NUMBERS.items():
        if key in p:
            if key == "target_ma":
                out[key] = read_number(sc.path, "protocol.target_ma", p[key], lo, site_limit,
                                low_open=True, unit=unit, note=note)
            else:
                out[key] = read_number(sc.path, f"protocol.{key}", p[key], lo, hi, unit=unit)
    return out


def prescription_of(sc: Scenario) -> Prescription:
    """The scenario's [protocol] as a validated prescription, or a ScenarioError."""
    numbers = _protocol_numbers(sc)
    try:
        rx = Prescription(**{k: numbers.get(k, v) for k, v in sc.protocol.items()
                             if k in RX_FIELDS})
        return rx.validated(Limits())
    except PrescriptionError as exc:
        raise ScenarioError(sc.path, f"protocol.{exc.field}",
                            f"{show(exc.value)} is not allowed; {exc.allowed}") from None
    except TypeError as exc:
        raise ScenarioError(sc.path, "protocol", str(exc)) from None


@dataclass(frozen=True)
class Unit:
    """A unit that lives on between runs (a course's visits, :mod:`simtools.courserun`): its
    data folder (provisioned already, kept), the real-time clock's time at its power-on, the
    water's part of the load (:func:`sim.water.extra_ohm`) and the first profile's id."""

    data_dir: Path
    rtc_start: datetime
    water_ohm: float = 0.0
    first_profile: str = FIRST_PROFILE


class ScenarioRun:
    """:param unit: None (a scenario: a fresh unit, provisioned as from the factory, its
    profile screened as provisioned), or the :class:`Unit` a course's visit powers on."""

    def __init__(self, sc: Scenario, out_dir: Path | None, *, board: Board | None = None,
                 trace: bool = True, plot: bool = False, unit: Unit | None = None):
        self.sc = sc
        self.rx = prescription_of(sc)
        self.board = board or load_board()
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self._tmp = None
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        if unit is not None:
            data = Path(unit.data_dir)
        elif self.out_dir is not None:
            data = self.out_dir / "device-data"
            shutil.rmtree(data, ignore_errors=True)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="ionto-sim-")
            data = Path(self._tmp.name)
        self.data_dir = data
        if unit is None:
            calmod.save(data, calmod.Calibration.nominal(self.board), self.board)
            settings.save(data, rx=self.rx, limits=Limits())
            set_pin(data, SIM_PIN)
        p = sc.patient
        patient = Patient(load_ohm=float(p["load_ohm"]),
                          load_drift_per_min=float(p["load_drift_per_min"]),
                          area_cm2=float(p["area_cm2"]), contact=1.0 if p["in_water"] else 0.0,
                          body_fraction=float(p.get("body_fraction", 0.2)),
                          water_ohm=unit.water_ohm if unit is not None else 0.0)
        self.hw, self.rig = sim_hardware(
            self.board, patient=patient, seed=sc.seed,
            rtc_start=unit.rtc_start if unit is not None else RTC_START)
        self.clock = self.rig.clock
        if unit is None:
            # The real-time clock is read at the first START (firmware.course), not at the
            # start: its read on the simulated bus would move every control period of the
            # scenario.
            self.program = DeviceProgram(self.hw, self.clock, board=self.board, data_dir=data,
                                         notifier=Notifier(environ={}),
                                         read_clock_at_start=False)
            provision_screening(self.program.course, self.rig.rtc.time() or RTC_START)
        else:   # a unit powered on: the clock read at the start, as on the Pi
            self.program = DeviceProgram(self.hw, self.clock, board=self.board, data_dir=data,
                                         notifier=Notifier(environ={}),
                                         first_profile=unit.first_profile)
        # The simulated unit's treatment log is written exactly as on a unit (every row and
        # commit), but not flushed to the disk at each commit: on a unit synchronous=FULL makes a
        # session survive a power cut, and the log commits once a second of the session; here
        # the "second" is a few milliseconds of the computer's time, the folder is scratch
        # (a temporary one, or --out's device-data), and an fsync a simulated second cost
        # more wall time than the rest of the run. What the log holds is the same.
        self.program.log.db.execute("PRAGMA synchronous=OFF")
        self.events: list[dict] = []
        self.program.controller.events.listeners.append(self._on_event)
        self._console_out: list[bytes] = []
        self.console = TechConsole(self.program, self._console_out.append)
        self.player = Player(sc, self.rig, type_line=self._type)
        self.truth = TruthRecorder(self.rig, target_ma=self._target)
        self._trace_file = None
        self._trace = None
        if trace and self.out_dir is not None:
            self._trace_file = open(self.out_dir / "trace.csv", "w", newline="")  # noqa: SIM115 - closed in close()
            self._trace = csv.writer(self._trace_file)
            self._trace.writerow(TRACE_COLUMNS)
        self.plot = plot
        # --plot: the rows thinned to about 2000 windows of the run, each keeping its extremes
        # (a fault's peak lasts a period or two) and every state change (simtools/thinning.py)
        self._plot_thin = PeakThinner(max(0.05, self.horizon() / 2000), PLOT_KEYS) \
            if plot else None
        # --plot: the display's glass as the patient saw it in each state (frames.png): taken
        # FRAME_AFTER_S into the state (the screen drawn by then) or as the state ends
        self.frames: list[tuple[float, str, list[list[int]]]] = []
        self._frame_state: tuple[str, float] | None = None
        self.first_fault: dict | None = None
        # when an injected fault could first act on the patient (see ACTIVE_MA)
        self.active_t: float | None = None
        self.rise_t: float | None = None
        self._inj_ma: float | None = None   # the true current at the first injection
        self._prev_t = 0.0
        self._prev_ma = 0.0                  # the true current at _prev_t
        self.exposed_s = 0.0                 # see ACTIVE_MA: until the first detection
        self.ended_at: float | None = None
        self.idle_since: float | None = None
        # what finished() asks every control period of the scenario, which does not change
        self._hard_stop = self.horizon() + 600
        self._presses = any(e.do in ("press", "hold") for e in sc.events)
        self._quiet_end = max(60.0, max((e.at_s for e in sc.events), default=0.0) + 5.0)

    # --- hooks --------------------------------------------------------------------------------
    def _on_event(self, ev) -> None:
        detail = ev.code if ev.kind == "state" else f"{ev.code}: {ev.message}"
        self.events.append({"t_s": round(ev.t, 4), "kind": ev.kind, "detail": detail})
        if ev.kind == "fault" and self.first_fault is None:
            self.first_fault = {"code": ev.code, "message": ev.message, "at_s": round(ev.t, 4)}
        elif ev.code == "SESSION-START" and hasattr(self, "truth"):
            self.truth.session_started(ev.t)   # the end of an earlier fault's episode

    def _type(self, line: str) -> None:
        self._console_out.clear()
        self.console.feed(line.encode("utf-8", "replace") + b"\n")
        self._flush_console(line)

    def _flush_console(self, line: str | None = None) -> None:
        if not self._console_out:
            return
        text = b"".join(self._console_out).replace(b"ionto> ", b"").decode(errors="replace")
        self._console_out.clear()
        reply = [x for x in text.split("\r\n") if x]
        if reply:
            prefix = f"{line} -> " if line else ""
            self.events.append({"t_s": round(self.clock.now(), 4), "kind": "console",
                                "detail": prefix + " | ".join(reply)})

    def _target(self):
        return self.program.controller.target_now_ma

    # --- running ------------------------------------------------------------------------------
    def horizon(self) -> float:
        """A bound on the simulated time, for the progress line."""
        if self.sc.end_after_s is not None:
            return self.sc.end_after_s
        return self.rx.duration_min * 60 * 1.5 + 420

    def finished(self) -> bool:
        now = self.clock.now()
        c = self.program.controller
        if self.sc.end_after_s is not None:
            return now >= self.sc.end_after_s
        if now > self._hard_stop:
            return True  # a hard stop, far past any plausible end
        if not self._presses:
            return now >= self._quiet_end
        ended = bool(c.sessions_done) or c.state == State.FAULT
        if ended and c.state in (State.IDLE, State.FAULT) and self.player.done:
            if self.idle_since is None:
                self.idle_since = now
            return now - self.idle_since >= 5.0
        self.idle_since = None
        return not ended and now >= 60.0 and self.player.presses == 0 and \
            not self.player.pending

    def step(self) -> None:
        """One control period of the scenario (what :meth:`run` loops, for a caller that
        drives the periods itself: a course's visit, the fault matrix)."""
        self._before()
        self.program.step()
        self._after()

    def _before(self) -> None:
        """The world's moves before a period: the scenario's events that are due."""
        self.player.tick(self.clock.now())
        if self.player.injected and self._inj_ma is None:
            self._inj_ma = self._prev_ma = self.truth.last_ma
            self._prev_t = self.player.injected[0][0]
            if self._inj_ma >= ACTIVE_MA:
                self.active_t = self._prev_t   # current flows as the fault comes

    def _after(self) -> None:
        """What watches a period once it has run: the meter, the console's replies, the
        ground truth, the trace."""
        prog = self.program
        self.rig.read_meter()
        self.console.poll_jobs()
        self._flush_console()
        self.truth.sample()
        if self._inj_ma is not None and not self._episode_over():
            # the period in which the current crossed is the one that began at _prev_t
            ma = self.truth.last_ma
            if self.active_t is None and ma >= ACTIVE_MA:
                self.active_t = self._prev_t
            if max(ma, self._prev_ma) >= ACTIVE_MA:
                end = self.clock.now()
                if self.first_fault is not None:
                    end = min(end, self.first_fault["at_s"])
                self.exposed_s += max(0.0, end - self._prev_t)
            if ma >= self._inj_ma + ACTIVE_MA:
                if self.rise_t is None:
                    self.rise_t = self._prev_t
            elif self.rise_t is not None and self.first_fault is None:
                # The rise ended by itself before anything was detected: a transient (the
                # skin's capacitance charging as a stuck setpoint lifts the electrode voltage
                # at the compliance limit), not the fault driving the current. A later rise
                # counts afresh (docs/safety/campaigns.md, finding 14).
                self.rise_t = None
            self._prev_t = self.clock.now()
            self._prev_ma = ma
        if self.plot:
            self._take_frame()
        if self._trace is None and not self.plot:
            return  # the row is for trace.csv and the plot only
        ph = self.rig.physics
        s = prog.loop.last_sample
        cmd = prog.loop.last_cmd
        row = (round(self.clock.now(), 4), prog.controller.state, round(cmd.setpoint_ma, 4),
               round(s.current_a_ma, 4) if s else "", round(s.current_b_ma, 4) if s else "",
               round(self.truth.last_ma * (1 if ph.k_polarity > 0 else -1), 4),
               round(ph.v_out * ph.k_polarity, 3), round(ph.v_rail, 3),
               round(min(ph.load_ohm, 1e9), 1), round(ph.contact, 4), ph.k_polarity,
               int(self.hw.panel.output_led))
        if self._trace is not None:
            self._trace.writerow(row)
        if self._plot_thin is not None:
            # the plot's row adds the period's true peak: a shorted sink's 31 mA can last less
            # than the period whose mean patient_ma gives (19 mA in fault-sink-short)
            self._plot_thin.add(row + (round(self.truth.last_peak_ma, 4),))

    def _take_frame(self) -> None:
        state, now = self.program.controller.state, self.clock.now()
        entered = self._frame_state
        if entered is not None and entered[0] == state:
            if entered[1] is not None and now - entered[1] >= FRAME_AFTER_S:
                self._add_frame(entered)
                self._frame_state = (state, None)   # this state's frame is taken
            return
        if entered is not None and entered[1] is not None:
            self._add_frame(entered)                # a short state: as it ends
        self._frame_state = (state, now)

    def _add_frame(self, entered: tuple[str, float]) -> None:
        if len(self.frames) < MAX_FRAMES:
            self.frames.append((round(entered[1], 2), entered[0], self.rig.display.frame()))

    @property
    def plot_rows(self) -> list[tuple]:
        """The rows the plot draws (none without ``plot``)."""
        return self._plot_thin.rows() if self._plot_thin is not None else []

    def _episode_over(self) -> bool:
        """The first fault's episode has ended (a new session began after its detection with
        no current flowing; sim.truth): what flows from then on is not the fault's, so the
        moments it could first act (active_t, rise_t) are only looked for before."""
        return self.first_fault is not None and \
            self.truth.episode_end(self.first_fault["at_s"]) is not None

    def run(self, progress: bool = False, speed: float | None = None) -> dict:
        """Play to the end; ``speed`` N paces the simulation at N times real time (None: as
        fast as the machine allows)."""
        wall0 = time.perf_counter()
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=round(self.horizon()), unit="sim s", disable=None,
                       bar_format="{desc} {n_fmt}/{total_fmt} sim s [{elapsed}, {rate_fmt}]")
        last = 0.0

        def after() -> None:
            nonlocal last
            self._after()
            if bar is not None and self.clock.now() - last >= 1.0:
                c = self.program.controller
                s = self.program.loop.last_sample
                cur = max(s.current_a_ma, s.current_b_ma) if s else float("nan")
                bar.set_description_str(f"{self.sc.name}: {c.state:12s} {cur:6.2f} mA",
                                        refresh=False)
                bar.update(round(self.clock.now()) - bar.n)
                last = self.clock.now()

        try:
            # the device program's own loop (firmware.device), the scenario's world around it
            self.program.run(until=self.finished, before=self._before, after=after,
                             speed=speed)
        finally:
            if bar is not None:
                bar.close()
        return self.summary(time.perf_counter() - wall0)

    def summary(self, wall_s: float) -> dict:
        prog = self.program
        c = prog.controller
        # The log's view first: the session row is what the device recorded.
        if c.session is not None:
            sess = c.session
            outcome = "incomplete"
        elif c.sessions_done:
            sess = c.sessions_done[-1]
            outcome = {"interrupted": "incomplete"}.get(sess.outcome, sess.outcome)
        else:
            sess, outcome = None, "not_started"
        rows = prog.log.sessions()
        measured = rows[-1]["dose_ma_min"] if rows else None
        fault = None
        if self.first_fault is not None:
            fault = dict(self.first_fault)
            injected = [t for t, _ in self.player.injected if t <= fault["at_s"] + 1e-9]
            if injected:
                t0 = injected[0]
                fault["detected_after_ms"] = round((fault["at_s"] - t0) * 1000, 2)
                # to a safe current for the rest of the fault's episode: a new session begun
                # after the fault was cleared is not the fault's (sim.truth, safe_after_s)
                fault["safe_after_ms"] = round(self.truth.safe_after_s(t0, fault["at_s"]) * 1000,
                                               2)
                for key, t in (("active_after_ms", self.active_t),
                               ("rise_after_ms", self.rise_t)):
                    fault[key] = round((t - t0) * 1000, 2) if t is not None else None
                fault["exposed_ms"] = None
                if fault["active_after_ms"] is not None:
                    after = max(0.0, fault["safe_after_ms"] - fault["detected_after_ms"])
                    fault["exposed_ms"] = round(min(
                        self.exposed_s * 1000 + after,
                        fault["safe_after_ms"] - max(0.0, fault["active_after_ms"])), 2)
            else:
                fault["detected_after_ms"] = fault["safe_after_ms"] = None
                fault["active_after_ms"] = fault["rise_after_ms"] = fault["exposed_ms"] = None
        sim_s = self.clock.now()
        t = self.truth
        return {
            "scenario": self.sc.name,
            "outcome": outcome,
            "fault": fault,
            "protocol": {"site": self.rx.site, "target_ma": self.rx.target_ma,
                         "duration_min": self.rx.duration_min, "waveform": self.rx.waveform},
            "sim_s": round(sim_s, 3), "wall_s": round(wall_s, 3),
            "speed": round(sim_s / wall_s, 1) if wall_s > 0 else None,
            "treatment_s": round(t.treatment_s, 2),
            "dose_ma_min": round(t.dose_ma_min, 3),
            "dose_ma_min_measured": round(measured, 3) if measured is not None else None,
            "peak_ma": round(t.peak_ma, 4),
            "peak_reverse_ma": round(t.peak_reverse_ma, 4),
            "peak_avg_ma": round(t.peak_avg_ma, 4),
            "max_density_ma_cm2": round(t.max_density_ma_cm2, 5),
            "max_step_ma": round(t.max_step_ma, 4),
            "density_over_s": round(t.density_over_s, 3),
            "pauses": sess.pauses if sess else 0,
            "polarity_reversals": sess.reversals if sess else 0,
            "reduced_target_ma": round(sess.lowest_target_ma, 3)
            if sess and sess.lowest_target_ma is not None else None,
            "log_session_id": rows[-1]["id"] if rows else None,
            "events": self.events,
        }

    def close(self) -> None:
        if self._trace_file is not None:
            self._trace_file.close()
        self.program.shutdown()
        self.hw.close()
        if self._tmp is not None:
            self._tmp.cleanup()


def run_scenario(sc: Scenario, out_dir: Path | None, *, plot: bool = False,
                 progress: bool = False, trace: bool = True,
                 speed: float | None = None) -> dict:
    run = ScenarioRun(sc, out_dir, trace=trace, plot=plot)
    try:
        summary = run.run(progress=progress, speed=speed)
    finally:
        run.close()
    if out_dir is not None:
        (Path(out_dir) / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        if plot:
            from .plots import plot_frames, plot_scenario
            plot_scenario(run.plot_rows, summary, Path(out_dir) / "session.png")
            plot_frames(run.frames, Path(out_dir) / "frames.png",
                        title=f"{sc.name}: the display in each state")
    return summary


def check_expect(sc: Scenario, summary: dict) -> list[str]:
    """The scenario's [expect] table against a summary: a list of what does not hold."""
    e, s, bad = sc.expect, summary, []
    if "outcome" in e and s["outcome"] != e["outcome"]:
        bad.append(f"outcome {s['outcome']} (expected {e['outcome']})")
    if "fault_code" in e:
        code = (s["fault"] or {}).get("code")
        if code != e["fault_code"]:
            bad.append(f"fault code {code} (expected {e['fault_code']})")
    for key, field_ in (("peak_ma_max", "peak_ma"), ("max_step_ma_max", "max_step_ma"),
                        ("max_density_ma_cm2_max", "max_density_ma_cm2")):
        if key in e and s[field_] > e[key]:
            bad.append(f"{field_} {s[field_]} above {e[key]}")
    if "safe_after_ms_max" in e:
        sa = (s["fault"] or {}).get("safe_after_ms")
        if sa is None or sa > e["safe_after_ms_max"]:
            bad.append(f"safe_after_ms {sa} above {e['safe_after_ms_max']}")
    if "treatment_s_min" in e and s["treatment_s"] < e["treatment_s_min"]:
        bad.append(f"treatment_s {s['treatment_s']} below {e['treatment_s_min']}")
    if "dose_ma_min_min" in e and s["dose_ma_min"] < e["dose_ma_min_min"]:
        bad.append(f"dose_ma_min {s['dose_ma_min']} below {e['dose_ma_min_min']}")
    if "pauses_min" in e and s["pauses"] < e["pauses_min"]:
        bad.append(f"pauses {s['pauses']} below {e['pauses_min']}")
    if "polarity_reversals" in e and s["polarity_reversals"] != e["polarity_reversals"]:
        bad.append(f"polarity_reversals {s['polarity_reversals']} "
                   f"(expected {e['polarity_reversals']})")
    return bad
