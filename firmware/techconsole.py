"""The technician console: authentication, prescription, limits, calibration, log, self-test.

Built on :class:`firmware.ptyconsole.Console` (line handling, ``help``, ``status``,
``version``). Everything here is reachable only after ``login <PIN>``:

- the PIN is stored as a salted scrypt hash (``<data dir>/pin.json``, checksummed); there is no
  default: it is provisioned on the device with ``ionto tech set-pin``, and until then the
  technician commands answer ``ERR NO-PIN`` with that hint;
- five wrong PINs lock the console for 5 minutes, and the lock survives a restart
  (``<data dir>/console-lock.json``, wall-clock time);
- 10 minutes without a command logs the technician out.

While a treatment runs, anything that changes the calibration, the limits or the prescription
answers ``ERR BUSY``. Procedures that drive the output (``selftest``, ``cal zero``, ``cal ref``)
run inside the control loop as technician procedures of the controller; their reply is sent when
they end. The controller runs each inside its open-output watch (the probe before and after,
I x R while the test load carries current): with a welded patient relay and someone in the
water they are refused with ST-RELAY before any test current flows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import time
from concurrent.futures import Future
from pathlib import Path

from controller import Command, Limits, PrescriptionError
from controller.io import hold
from controller.selftest import PRESTEP_MA, PRESTEP_S

from . import calibration as calmod
from . import settings, store
from .ptyconsole import Console

MAX_TRIES = 5
LOCK_S = 300.0
IDLE_LOGOUT_S = 600.0
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}
CAL_REF_MA = 10.0
PUBLIC = {"help", "status", "version", "login"}


# --- PIN storage --------------------------------------------------------------------------------
def pin_path(data_dir: Path) -> Path:
    return Path(data_dir) / "pin.json"


def set_pin(data_dir: Path, pin: str) -> None:
    if not (pin.isdigit() and 6 <= len(pin) <= 12):
        raise ValueError("the PIN must be 6 to 12 digits")
    salt = os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, **SCRYPT)
    store.save(pin_path(data_dir), "pin", {"salt": salt.hex(), "scrypt": digest.hex(), **SCRYPT})


def check_pin(data_dir: Path, pin: str) -> bool:
    rec = store.load(pin_path(data_dir), "pin")
    digest = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(rec["salt"]),
                            n=rec["n"], r=rec["r"], p=rec["p"])
    return hmac.compare_digest(digest.hex(), rec["scrypt"])


# --- calibration procedure ------------------------------------------------------------------------
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


class _Inline:
    """An executor that runs the job at once (the simulator: the virtual clock does not see
    wall time, and replays stay exact)."""

    def submit(self, fn, *args):
        fut = Future()
        try:
            fut.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future
            fut.set_exception(exc)
        return fut


class TechConsole(Console):
    """:param executor: where slow work runs (the scrypt PIN check, fsync'd file writes). On
    the device a one-thread pool, so that the 10 ms control loop never waits for them; by
    default inline (simulation and tests)."""

    def __init__(self, program, write, *, wall=time.time, executor=None):
        super().__init__(program, write)
        self.data_dir = program.data_dir
        self.wall = wall
        self.executor = executor or _Inline()
        self._job = None
        self.logged_in = False
        self.last_command_t = 0.0
        self.pending = False
        self.cal_zero: tuple[float, float] | None = None
        self.cal_new: calmod.Calibration | None = None
        self.commands.update({
            "login": self.cmd_login, "logout": self.cmd_logout, "rx": self.cmd_rx,
            "limits": self.cmd_limits, "cal": self.cmd_cal, "selftest": self.cmd_selftest,
            "fault": self.cmd_fault, "log": self.cmd_log,
        })

    # --- gatekeeping --------------------------------------------------------------------------
    def handle(self, raw: bytes) -> None:
        if self.pending:
            self.reply([], "ERR BUSY: the previous command is still running; wait for its OK")
            return
        super().handle(raw)

    def _lock_state(self) -> dict:
        try:
            return store.load(self.data_dir / "console-lock.json", "console-lock")
        except store.StoreError:
            return {"failures": 0, "locked_until": 0.0}

    def _save_lock(self, state: dict) -> None:
        store.save(self.data_dir / "console-lock.json", "console-lock", state)

    def dispatch_guard(self, name: str):
        """None if ``name`` may run now, else the ERR line."""
        now = self.program.clock.now()
        if self.logged_in and now - self.last_command_t > IDLE_LOGOUT_S:
            self.logged_in = False
            self.program.controller.events.emit(now, "info", "CONSOLE-LOGOUT",
                                                "technician logged out after 10 min idle")
        if name in PUBLIC:
            return None
        if not pin_path(self.data_dir).exists():
            return ("ERR NO-PIN: no technician PIN is set; set one on the device with "
                    "'ionto tech set-pin'")
        if not self.logged_in:
            return "ERR AUTH: log in first with 'login <PIN>'"
        self.last_command_t = now
        return None

    def _run(self, name, fn, args):
        guard = self.dispatch_guard(name)
        if guard is not None:
            return [], guard
        return fn(args)

    def lookup(self, name: str):
        fn = self.commands.get(name)
        if fn is None:
            return None
        return lambda args: self._run(name, fn, args)

    # --- slow work off the control loop -----------------------------------------------------
    def _background(self, fn, finish):
        """Run ``fn`` on the executor; ``finish(result, error)`` replies when it is done."""
        self.pending = True
        self._job = (self.executor.submit(fn), finish)
        self.poll_jobs()

    def poll_jobs(self) -> None:
        """Called every period by the transport: delivers the reply of a finished job."""
        if self._job is None or not self._job[0].done():
            return
        fut, finish = self._job
        self._job = None
        self.pending = False
        try:
            result, error = fut.result(), None
        except Exception as exc:  # noqa: BLE001 - reported on the console
            result, error = None, exc
        try:
            lines, status = finish(result, error)
        except Exception as exc:  # noqa: BLE001
            lines, status = [], f"ERR INTERNAL: {type(exc).__name__}; the device is unaffected"
        self.reply(lines, status)

    # --- procedures --------------------------------------------------------------------------
    def _procedure(self, sequence, finish) -> tuple[list[str], str] | None:
        """Start a procedure in the control loop; the reply comes from ``finish``."""
        c = self.program.controller
        now = self.program.clock.now()

        def done(result, error):
            self.pending = False
            lines, status = finish(result, error)
            self.reply(lines, status)

        try:
            c.start_service(now, sequence, done)
        except RuntimeError as exc:
            return [], f"ERR BUSY: {exc}"
        self.pending = True
        return None

    # --- commands ----------------------------------------------------------------------------
    def cmd_login(self, args):
        """login <PIN>: authenticate as the technician (5 wrong tries lock for 5 minutes)"""
        if len(args) != 1:
            return [], "ERR ARGS: usage: login <PIN>"
        if not pin_path(self.data_dir).exists():
            return [], ("ERR NO-PIN: no technician PIN is set; set one on the device with "
                        "'ionto tech set-pin'")
        lock = self._lock_state()
        wall = self.wall()
        if lock["locked_until"] > wall:
            return [], (f"ERR LOCKED: too many wrong PINs; try again in "
                        f"{lock['locked_until'] - wall:.0f} s")
        pin = args[0]

        def check():  # on the executor: scrypt and the lock file's fsync take time
            ok = check_pin(self.data_dir, pin)
            lock = self._lock_state()
            if ok:
                self._save_lock({"failures": 0, "locked_until": 0.0})
                return True, lock
            lock["failures"] += 1
            if lock["failures"] >= MAX_TRIES:
                lock = {"failures": 0, "locked_until": self.wall() + LOCK_S, "locked": True}
            self._save_lock({"failures": lock["failures"],
                             "locked_until": lock["locked_until"]})
            return False, lock

        def finish(result, error):
            if error is not None:
                if isinstance(error, store.StoreError):
                    return [], (f"ERR PIN-FILE: {error.problem}; set the PIN again with "
                                "'ionto tech set-pin'")
                raise error
            ok, lock = result
            now = self.program.clock.now()
            if ok:
                self.logged_in = True
                self.last_command_t = now
                self.program.controller.events.emit(now, "info", "CONSOLE-LOGIN",
                                                    "technician logged in")
                return ["logged in"], "OK"
            if lock.get("locked"):
                self.program.controller.events.emit(now, "warning", "CONSOLE-LOCKED",
                                                    "5 wrong PINs: console locked for 5 min")
                return [], "ERR LOCKED: 5 wrong PINs; the console is locked for 5 minutes"
            return [], f"ERR AUTH: wrong PIN ({MAX_TRIES - lock['failures']} tries left)"

        self._background(check, finish)
        return None

    def cmd_logout(self, args):
        """logout: end the technician session"""
        self.logged_in = False
        return ["logged out"], "OK"

    def _busy(self):
        if self.program.controller.busy:
            return "ERR BUSY: a treatment is running; change settings when the device is idle"
        return None

    @staticmethod
    def _kv(args, allowed):
        out = {}
        for a in args:
            if "=" not in a:
                raise ValueError(f"'{a[:32]}' is not key=value")
            k, v = a.split("=", 1)
            if k not in allowed:
                raise ValueError(f"unknown key '{k[:32]}'; allowed: {', '.join(allowed)}")
            out[k] = v
        return out

    @staticmethod
    def _parse(value: str, typ):
        if typ is bool:
            if value.lower() in ("yes", "true", "1", "on"):
                return True
            if value.lower() in ("no", "false", "0", "off"):
                return False
            raise ValueError(f"'{value[:16]}' is not yes or no")
        if typ is float:
            try:
                v = float(value)
            except ValueError:
                raise ValueError(f"'{value[:16]}' is not a number") from None
            if v != v or v in (float("inf"), float("-inf")):
                raise ValueError(f"'{value[:16]}' is not a number")
            return v
        return value

    RX_KEYS = {"site": str, "target": float, "duration": float, "waveform": str,
               "pulse_hz": float, "pulse_duty": float, "reverse": bool, "child": bool,
               "ramp": float, "area": float}
    RX_FIELDS = {"target": "target_ma", "duration": "duration_min", "reverse": "reverse_polarity",
                 "ramp": "ramp_ma_s", "area": "area_cm2"}

    def cmd_rx(self, args):
        """rx show | rx set site=hands target=15 duration=20 waveform=dc reverse=yes ...:
        the prescription (keys: site target duration waveform pulse_hz pulse_duty reverse
        child ramp area), validated against the limits"""
        c = self.program.controller
        if args == ["show"] or not args:
            return [f"{k}: {v}" for k, v in dataclasses.asdict(c.rx).items()], "OK"
        if args[0] != "set" or len(args) < 2:
            return [], "ERR ARGS: usage: rx show | rx set key=value ..."
        busy = self._busy()
        if busy:
            return [], busy
        try:
            kv = self._kv(args[1:], self.RX_KEYS)
            changes = {self.RX_FIELDS.get(k, k): self._parse(v, self.RX_KEYS[k])
                       for k, v in kv.items()}
            if any(k in changes and changes[k] != getattr(c.rx, k) for k in ("site", "child")):
                # the electrode area defaults by site and by child: a new site, or a child's
                # profile for an adult's (or back), takes its own default
                changes.setdefault("area_cm2", None)
            changes.setdefault("ramp_ma_s", c.rx.ramp_ma_s)
            rx = dataclasses.replace(c.rx, **changes)
            rx = c.set_prescription(rx)
        except (ValueError, PrescriptionError) as exc:
            return [], f"ERR VALUE: {exc}; nothing was changed"
        return self._save_settings(rx=rx, lines=[f"{k}: {v}" for k, v in
                                                 dataclasses.asdict(rx).items()])

    LIMIT_KEYS = {"density": float, "ramp": float, "hands": float, "feet": float,
                  "axillae": float}

    def cmd_limits(self, args):
        """limits show | limits set density=0.2 ramp=0.5 hands=20 feet=25 axillae=5: the
        technician limits, never above the device's bounds"""
        c = self.program.controller
        if args == ["show"] or not args:
            lim = c.limits
            return [f"density_ma_cm2: {lim.density_ma_cm2}", f"ramp_ma_s: {lim.ramp_ma_s}",
                    *[f"site_max_ma.{k}: {v}" for k, v in lim.site_max_ma.items()]], "OK"
        if args[0] != "set" or len(args) < 2:
            return [], "ERR ARGS: usage: limits show | limits set key=value ..."
        busy = self._busy()
        if busy:
            return [], busy
        try:
            kv = {k: self._parse(v, float)
                  for k, v in self._kv(args[1:], self.LIMIT_KEYS).items()}
            site = dict(c.limits.site_max_ma)
            for s in ("hands", "feet", "axillae"):
                if s in kv:
                    site[s] = kv[s]
            lim = Limits(density_ma_cm2=kv.get("density", c.limits.density_ma_cm2),
                         ramp_ma_s=kv.get("ramp", c.limits.ramp_ma_s), site_max_ma=site)
            c.set_limits(lim)
        except (ValueError, PrescriptionError) as exc:
            return [], f"ERR VALUE: {exc}; nothing was changed"
        return self._save_settings(limits=lim, lines=self.cmd_limits(["show"])[0])

    def _save_settings(self, *, lines, rx=None, limits=None):
        """Write the settings file(s) off the loop, then re-check them: a device that refused
        to treat for missing settings (ST-SETTINGS) can be put right from the console."""
        def save():
            settings.save(self.data_dir, rx=rx, limits=limits)
            return settings.load(self.data_dir)[2]

        def finish(problem, error):
            if error is not None:
                return [], f"ERR STORAGE: the settings could not be written: {error}"
            self.program.controller.settings_problem = problem
            return lines, "OK"

        self._background(save, finish)
        return None

    def cmd_cal(self, args):
        """cal show | cal zero | cal ref <measured_mA> | cal save | cal discard: two-point
        calibration of both current channels and the setpoint against the test load and an
        external reference meter (a reading more than 1 % from the test load's I x R is
        refused); nothing takes effect before 'cal save'"""
        p = self.program
        if not args or args[0] not in ("show", "zero", "ref", "save", "discard"):
            return [], "ERR ARGS: usage: cal show | cal zero | cal ref <measured_mA> | cal save " \
                       "| cal discard"
        sub = args[0]
        if sub == "show":
            cal = p.calibration
            if cal is None:
                return ["calibration: none valid"], "OK"
            lines = [f"{k}: {v}" for k, v in dataclasses.asdict(cal).items()]
            age = cal.age_days()
            if age is not None and age > calmod.WARN_AFTER_DAYS:
                lines.append(f"warning: calibrated {age} days ago (over 12 months): recalibrate")
            if self.cal_new is not None:
                lines.append("pending (not saved): " + ", ".join(
                    f"{k}={v:.5g}" for k, v in dataclasses.asdict(self.cal_new).items()
                    if isinstance(v, float)))
            return lines, "OK"
        busy = self._busy()
        if busy:
            return [], busy
        if sub == "discard":
            self.cal_zero = self.cal_new = None
            return ["pending calibration discarded"], "OK"
        if sub == "save":
            if self.cal_new is None:
                return [], "ERR STATE: nothing to save; run 'cal zero' then 'cal ref <mA>'"
            new = self.cal_new

            def finish(_result, error):
                if error is not None:
                    return [], f"ERR STORAGE: the calibration could not be written: {error}"
                p.calibration = new
                sp, ca, cb = new.hal_objects()
                p.hw.output.calibration, p.hw.afe.cal_a, p.hw.afe.cal_b = sp, ca, cb
                p.controller.calibration_ok = True
                p.controller.calibration_problem = ""
                self.cal_zero = self.cal_new = None
                return ["calibration saved"], "OK"
            self._background(lambda: calmod.save(self.data_dir, new, p.board), finish)
            return None
        if sub == "zero":
            if len(args) != 1:
                return [], "ERR ARGS: usage: cal zero"

            def fin(result, error):
                if error is not None:
                    return [], f"ERR PROCEDURE: {error}"
                self.cal_zero = self._nominal(*result[:2])
                return [f"zero: A {result[0]:+.4f} mA, B {result[1]:+.4f} mA"], "OK"
            return self._procedure(measure(0.0), fin)
        # ref
        if len(args) != 2:
            return [], "ERR ARGS: usage: cal ref <measured_mA> (the reference meter's reading)"
        if self.cal_zero is None:
            return [], "ERR STATE: run 'cal zero' first"
        try:
            ref = self._parse(args[1], float)
        except ValueError as exc:
            return [], f"ERR VALUE: {exc}"
        if not 0.5 * CAL_REF_MA <= ref <= 1.5 * CAL_REF_MA:
            return [], (f"ERR VALUE: {ref} mA is implausible for the {CAL_REF_MA} mA test "
                        "current; check the meter and its range")

        def fin(result, error):
            if error is not None:
                return [], f"ERR PROCEDURE: {error}"
            a, b = self._nominal(*result[:2])
            za, zb = self.cal_zero
            cur = p.calibration or calmod.Calibration.nominal(p.board)
            try:
                ga, gb = ref / (a - za), ref / (b - zb)
                new = calmod.Calibration(
                    setpoint_ma_per_duty=cur.setpoint_ma_per_duty * ref / CAL_REF_MA,
                    setpoint_offset_ma=cur.setpoint_offset_ma, a_gain=ga, a_offset_ma=-ga * za,
                    b_gain=gb, b_offset_ma=-gb * zb, date=_today())
                new.check(p.board)
            except (ValueError, ZeroDivisionError) as exc:
                return [], f"ERR REJECTED: {exc}; the calibration was not changed"
            # The meter against the test load's I x R: the electrode-voltage channel does not
            # depend on the meter, so a meter that reads off shows here before it can shift
            # the current channels and the setpoint (the error budget: calibration.py).
            r_test = p.board.output.test_load_ohm
            i_v = abs(result[2]) / r_test * 1000.0
            off = ref / i_v - 1.0 if i_v > 0 else float("inf")
            if not abs(off) <= calmod.CROSS_CHECK_TOL:
                return [], (f"ERR REJECTED: the meter reads {ref:.3f} mA, the test load's "
                            f"I x R says {i_v:.3f} mA ({result[2]:.3f} V / {r_test:.0f} ohm): "
                            f"{off * 100:+.1f} %, beyond +-{calmod.CROSS_CHECK_TOL * 100:.0f} %; "
                            "check the reference meter (its range, leads, battery and "
                            "calibration date) and the reading typed, then 'cal zero' and "
                            "'cal ref' again; the calibration was not changed")
            self.cal_new = new
            return [f"channel A gain {ga:.4f} offset {-ga * za:+.4f} mA",
                    f"channel B gain {gb:.4f} offset {-gb * zb:+.4f} mA",
                    "setpoint gain "
                    f"{new.setpoint_ma_per_duty / p.board.setpoint.full_scale_ma:.4f}",
                    "not in effect yet: 'cal save' to keep, 'cal discard' to drop"], "OK"
        # The reference is taken with the saved calibration's setpoint mapping.
        return self._procedure(measure(CAL_REF_MA), fin)

    def _nominal(self, a: float, b: float) -> tuple[float, float]:
        """Undo the calibration in force: readings as the nominal board would give them."""
        afe = self.program.hw.afe
        return ((a - afe.cal_a.offset_ma) / afe.cal_a.gain,
                (b - afe.cal_b.offset_ma) / afe.cal_b.gain)

    def cmd_selftest(self, args):
        """selftest: run the self-test now (the output must be idle)"""
        if args:
            return [], "ERR ARGS: selftest takes no arguments"

        def fin(result, error):
            if error is not None:
                return [str(error)], f"ERR SELFTEST: {str(error).split(':')[0]}"
            return [f"{k}: {v:.4g}" for k, v in result.items()], "OK"
        return self._procedure(self.program.controller.selftest_sequence(), fin)

    def cmd_fault(self, args):
        """fault show | fault clear: the latched fault; 'clear' runs the self-test and clears
        the fault only if it passes"""
        c = self.program.controller
        if args == ["show"] or not args:
            if c.fault is None:
                return ["fault: none"], "OK"
            return [f"fault: {c.fault['code']}", f"message: {c.fault['message']}",
                    f"at_s: {c.fault['at_s']:.3f}"], "OK"
        if args != ["clear"]:
            return [], "ERR ARGS: usage: fault show | fault clear"
        if c.fault is None:
            return ["no fault to clear"], "OK"

        def fin(result, error):
            if error is not None:
                return [str(error)], "ERR SELFTEST: the self-test failed; the fault stays"
            c.clear_fault(self.program.clock.now())
            return ["self-test passed; fault cleared"], "OK"
        return self._procedure(c.selftest_sequence(), fin)

    def cmd_log(self, args):
        """log list | log show ID | log export ID: the treatment log (export: CSV lines)"""
        log = self.program.log
        if args == ["list"] or not args:
            return [f"{r['id']} {r['start_utc']} {r['outcome']} treat_s={r['treat_s'] or 0:.0f} "
                    f"dose={r['dose_ma_min'] or 0:.1f} fault={r['fault_code'] or '-'}"
                    for r in log.sessions()[-50:]], "OK"
        if len(args) != 2 or args[0] not in ("show", "export"):
            return [], "ERR ARGS: usage: log list | log show ID | log export ID"
        try:
            sid = int(args[1])
        except ValueError:
            return [], f"ERR VALUE: '{args[1][:16]}' is not a session number"
        row = log.session(sid)
        if row is None:
            return [], f"ERR NOT-FOUND: no session {sid}; 'log list' shows them"
        if args[0] == "show":
            return [f"{k}: {v}" for k, v in row.items()], "OK"
        return log.export_csv(sid).splitlines(), "OK"


def _today() -> str:
    import datetime as _dt
    return _dt.date.today().isoformat()

