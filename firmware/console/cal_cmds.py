"""``cal``: the two-point calibration of both current channels and the setpoint against the
test load and an external reference meter.

``cal zero`` measures both channels with no current; ``cal ref <mA>`` drives the 10 mA test
current into the test load and takes the meter's reading. The meter is checked against the test
load's I x R before anything is computed from it: the electrode-voltage channel does not depend
on the meter, so a meter that reads off shows there before it can shift the current channels
and the setpoint (the error budget: :mod:`firmware.calibration`, ``CROSS_CHECK_TOL``). Nothing
takes effect before ``cal save``; ``cal discard`` drops what is pending.
"""

from __future__ import annotations

import dataclasses
import datetime

from controller import Command
from controller.io import hold
from controller.selftest import PRESTEP_MA, PRESTEP_S

from .. import calibration as calmod
from .values import num, parse

CAL_REF_MA = 10.0
#: the decimals of each calibration value that mean something (an offset to the microampere,
#: a gain to a part in 100 000)
CAL_PLACES = {"setpoint_ma_per_duty": 4, "setpoint_offset_ma": 4, "a_gain": 5,
              "a_offset_ma": 4, "b_gain": 5, "b_offset_ma": 4}


def cal_values(cal) -> dict[str, str]:
    """A calibration's values, rounded to what they mean."""
    return {k: num(v, CAL_PLACES[k]) if k in CAL_PLACES else str(v)
            for k, v in dataclasses.asdict(cal).items()}


def measure(setpoint_ma: float, settle_s: float = 0.2, samples: int = 20):
    """A procedure: the test load in, ``setpoint_ma`` commanded, the mean readings returned
    (current A, current B, electrode voltage). The controller runs it inside the open-output
    watch (:func:`controller.selftest.guarded`); a current starts at the watch's small
    pre-step, so a path that appeared since the probe gets a share of that, not of the full
    current, before I x R stops it."""
    inp = yield from hold(Command(test_load=True), 0.03)
    if setpoint_ma > PRESTEP_MA:
        inp = yield from hold(Command(test_load=True, hv=True, gate="dc", setpoint_ma=PRESTEP_MA,
                                      output_led=True), PRESTEP_S)
    cmd = Command(test_load=True, hv=True, gate="dc", setpoint_ma=setpoint_ma, output_led=True)
    start = inp.now
    while inp.now - start < settle_s:
        inp = yield cmd
    acc = [0.0, 0.0, 0.0]
    n = 0
    while n < samples:
        inp = yield cmd
        if inp.sample is None:
            raise RuntimeError(f"ADC failure during the measurement: {inp.adc_error}")
        acc[0] += inp.sample.current_a_ma
        acc[1] += inp.sample.current_b_ma
        acc[2] += inp.sample.electrode_v
        n += 1
    off = Command(test_load=True)
    start = inp.now
    while inp.now - start < 0.05:
        inp = yield off
    yield Command()
    return acc[0] / n, acc[1] / n, acc[2] / n


def meter_check(ref_ma: float, electrode_v: float, r_test: float) -> str | None:
    """``None`` if the meter's reading agrees with the test load's I x R within
    ``CROSS_CHECK_TOL``, else the refusal that says what to check."""
    i_v = abs(electrode_v) / r_test * 1000.0
    off = ref_ma / i_v - 1.0 if i_v > 0 else float("inf")
    if abs(off) <= calmod.CROSS_CHECK_TOL:
        return None
    return (f"ERR REJECTED: the meter reads {ref_ma:.3f} mA, the test load's "
            f"I x R says {i_v:.3f} mA ({electrode_v:.3f} V / {r_test:.0f} ohm): "
            f"{off * 100:+.1f} %, beyond +-{calmod.CROSS_CHECK_TOL * 100:.0f} %; "
            "check the reference meter (its range, leads, battery and "
            "calibration date) and the reading typed, then 'cal zero' and "
            "'cal ref' again; the calibration was not changed")


class CalCommands:
    """The ``cal`` sub-commands of one console; the pending calibration is kept on the console
    (``cal_zero``: the zero point in nominal readings; ``cal_new``: the computed calibration
    that ``cal save`` keeps)."""

    def __init__(self, con):
        self.con = con
        self.p = con.program
        con.cal_zero = None
        con.cal_new = None

    def nominal(self, a: float, b: float) -> tuple[float, float]:
        """Undo the calibration in force: readings as the nominal board would give them."""
        afe = self.p.hw.afe
        return ((a - afe.cal_a.offset_ma) / afe.cal_a.gain,
                (b - afe.cal_b.offset_ma) / afe.cal_b.gain)

    def show(self, args):
        con, cal = self.con, self.p.calibration
        if cal is None:
            return ["calibration: none valid"], "OK"
        lines = [f"{k}: {v}" for k, v in cal_values(cal).items()]
        age = cal.age_days()
        if age is not None and age > calmod.WARN_AFTER_DAYS:
            lines.append(f"warning: calibrated {age} days ago (over 12 months): recalibrate")
        if con.cal_new is not None:
            lines.append("pending (not saved): " + ", ".join(
                f"{k}={v}" for k, v in cal_values(con.cal_new).items() if k in CAL_PLACES))
        return lines, "OK"

    def discard(self, args):
        self.con.cal_zero = self.con.cal_new = None
        return ["pending calibration discarded"], "OK"

    def save(self, args):
        con, p = self.con, self.p
        if con.cal_new is None:
            return [], "ERR STATE: nothing to save; run 'cal zero' then 'cal ref <mA>'"
        new = con.cal_new
        old = cal_values(p.calibration) if p.calibration is not None else None

        def finish(_result, error):
            if error is not None:
                return [], f"ERR STORAGE: the calibration could not be written: {error}"
            after = cal_values(new)
            warn = con.audit("cal save", " ".join(f"{k}={v}" for k, v in old.items())
                             if old else "(none valid)",
                             " ".join(f"{k}={v}" for k, v in after.items()))
            p.calibration = new
            sp, ca, cb = new.hal_objects()
            p.hw.output.calibration, p.hw.afe.cal_a, p.hw.afe.cal_b = sp, ca, cb
            p.controller.calibration_ok = True
            p.controller.calibration_problem = ""
            con.cal_zero = con.cal_new = None
            return ["calibration saved", *([warn] if warn else [])], "OK"
        return con.background(lambda: calmod.save(con.data_dir, new, p.board), finish)

    def zero(self, args):
        def finish(result, error):
            if error is not None:
                return [], f"ERR PROCEDURE: {error}"
            self.con.cal_zero = self.nominal(*result[:2])
            return [f"zero: A {result[0]:+.4f} mA, B {result[1]:+.4f} mA"], "OK"
        return self.con.procedure(measure(0.0), finish)

    def ref(self, args):
        if self.con.cal_zero is None:
            return [], "ERR STATE: run 'cal zero' first"
        try:
            ref_ma = parse(args[0], float)
        except ValueError as exc:
            return [], f"ERR VALUE: {exc}"
        if not 0.5 * CAL_REF_MA <= ref_ma <= 1.5 * CAL_REF_MA:
            return [], (f"ERR VALUE: {ref_ma} mA is implausible for the {CAL_REF_MA} mA test "
                        "current; check the meter and its range")

        def finish(result, error):
            if error is not None:
                return [], f"ERR PROCEDURE: {error}"
            return self.computed(ref_ma, result)
        # The reference is taken with the saved calibration's setpoint mapping.
        return self.con.procedure(measure(CAL_REF_MA), finish)

    def computed(self, ref_ma: float, result):
        con, p = self.con, self.p
        a, b = self.nominal(*result[:2])
        za, zb = con.cal_zero
        cur = p.calibration or calmod.Calibration.nominal(p.board)
        try:
            ga, gb = ref_ma / (a - za), ref_ma / (b - zb)
            new = calmod.Calibration(
                setpoint_ma_per_duty=cur.setpoint_ma_per_duty * ref_ma / CAL_REF_MA,
                setpoint_offset_ma=cur.setpoint_offset_ma, a_gain=ga, a_offset_ma=-ga * za,
                b_gain=gb, b_offset_ma=-gb * zb, date=datetime.date.today().isoformat())
            new.check(p.board)
        except (ValueError, ZeroDivisionError) as exc:
            return [], f"ERR REJECTED: {exc}; the calibration was not changed"
        refused = meter_check(ref_ma, result[2], p.board.output.test_load_ohm)
        if refused:
            return [], refused
        con.cal_new = new
        return [f"channel A gain {ga:.4f} offset {-ga * za:+.4f} mA",
                f"channel B gain {gb:.4f} offset {-gb * zb:+.4f} mA",
                "setpoint gain "
                f"{new.setpoint_ma_per_duty / p.board.setpoint.full_scale_ma:.4f}",
                "not in effect yet: 'cal save' to keep, 'cal discard' to drop"], "OK"


def register(con) -> None:
    """Declare the ``cal`` sub-commands on console ``con``."""
    cmds = CalCommands(con)
    reg = con.registry
    reg.command("cal", "two-point calibration of the current channels and the setpoint",
                "against the test load and an external reference meter (a reading more than "
                "1 % from the test load's I x R is refused); nothing takes effect before "
                "'cal save'")
    reg.register("cal show", cmds.show, desc="the calibration in force, its age, what is pending")
    reg.register("cal zero", cmds.zero, idle_only=True,
                 desc="measure both channels with no current (the first point)")
    reg.register("cal ref", cmds.ref, args="<measured_mA>", nargs=(1, 1), idle_only=True,
                 desc=f"drive {CAL_REF_MA:g} mA into the test load and take the reference "
                      "meter's reading (the second point)")
    reg.register("cal save", cmds.save, idle_only=True, desc="keep the pending calibration")
    reg.register("cal discard", cmds.discard, idle_only=True,
                 desc="drop the pending calibration")
