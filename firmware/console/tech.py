"""The technician's console: the public commands and, after ``login <PIN>``, the prescription,
the limits, the calibration, the self-test, the latched fault, the treatment log and the
real-time clock.

The commands themselves are declared in their own modules (:mod:`.settings_cmds`,
:mod:`.cal_cmds`, :mod:`.service_cmds`, :mod:`.clock_cmds`, :mod:`.profile_cmds`); this class
carries what they share:

- the gate (:mod:`.auth`): ``ERR NO-PIN`` until a PIN is provisioned, ``ERR AUTH`` until
  ``login``, the end of the login (``logout``, a hang-up, 10 minutes idle);
- the audit trail (:meth:`TechConsole.audit`): each login, logout and lockout, and each change
  of the prescription, the limits, the calibration, the latched fault and the clock, with the
  value before and after and the console it came from, is a row of the treatment log's
  ``audit`` table (``log audit`` here, ``ionto log audit`` on any computer);
- slow work off the control loop (:meth:`TechConsole.background`: the scrypt PIN check and
  fsync'd writes run on the executor, a one-thread pool on the device, inline in the
  simulator), with one command at a time (``ERR BUSY`` while a reply is pending);
- procedures that drive the output (``selftest``, ``cal zero``, ``cal ref``):
  :meth:`TechConsole.procedure` runs them in the control loop as technician procedures of the
  controller, which wraps each in its open-output watch (the probe before and after, I x R while
  the test load carries current): with a welded patient relay and someone in the water they are
  refused with ST-RELAY before any test current flows. Their reply is sent when they end.

While a treatment runs, anything that changes the calibration, the limits or the prescription
answers ``ERR BUSY`` (declared per command: ``idle_only``).
"""

from __future__ import annotations

import time
from concurrent.futures import Future

from controller.session import ServiceRefused

from .. import store
from . import auth, cal_cmds, clock_cmds, profile_cmds, service_cmds, settings_cmds
from .core import Console
from .values import plural


class Inline:
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
    default inline (simulation and tests). :param wall: the wall clock, only for the lock's end
    kept across a restart. :param clock: the clock the lockout and the idle logout count (by
    default the device's). :param name: the console in the audit trail (``uart /dev/serial0``).
    :param echo: echo what is typed (a terminal on the other end)."""

    def __init__(self, program, write, *, wall=time.time, executor=None, clock=None,
                 name: str = "console", echo: bool = False):
        super().__init__(program, write, echo=echo)
        self.data_dir = program.data_dir
        self.wall = wall
        self.now = clock or program.clock.now
        self.name = name
        self.executor = executor or Inline()
        self.login = auth.Login()
        self.lockout = auth.Lockout(self.data_dir, wall=lambda: self.wall())
        left = self.lockout.remaining_s()
        self.locked_until = self.now() + left if left > 0 else None
        self._job = None
        self.pending = False
        reg = self.registry
        reg.register("login", self.cmd_login, args="<PIN>", nargs=(1, 1), login=False,
                     desc=f"authenticate as the technician ({auth.MAX_TRIES} wrong tries lock "
                          f"the console for {auth.LOCK_S / 60:g} minutes)")
        reg.register("logout", self.cmd_logout, desc="end the technician session")
        settings_cmds.register(self)
        cal_cmds.register(self)
        service_cmds.register(self)
        clock_cmds.register(self)
        profile_cmds.register(self)

    # --- the audit trail ----------------------------------------------------------------------
    def audit(self, action: str, old: str | None = None, new: str | None = None,
              detail: str = "") -> str | None:
        """Record ``action`` in the treatment log's audit table; ``None``, or the warning line
        for the reply if the log could not be written (the change itself stands)."""
        try:
            self.program.log.audit(self.program.clock.now(), self.name, action, old, new, detail)
        except Exception as exc:  # noqa: BLE001 - a failing log must not stop the device
            return f"warning: the audit trail could not be written ({type(exc).__name__})"
        return None

    def _logged_out(self, why: str) -> None:
        """The login ended other than by ``logout``: an event and an audit row."""
        self.login.end()
        self.program.controller.events.emit(self.program.clock.now(), "info", "CONSOLE-LOGOUT",
                                            f"technician logged out {why}")
        self.audit("logout", detail=why)

    def hangup(self) -> None:
        """The terminal went away: the login ends with it."""
        super().hangup()
        if self.login.logged_in:
            self._logged_out("when the console hung up")

    # --- the gate -----------------------------------------------------------------------------
    def handle(self, raw: bytes) -> None:
        if self.pending:
            self.reply([], "ERR BUSY: the previous command is still running; wait for its OK")
            return
        super().handle(raw)

    def dispatch(self, name: str, args: list[str]):
        self.check_idle()
        return super().dispatch(name, args)

    def check_idle(self) -> None:
        if self.login.expire(self.now()):
            self._logged_out(f"after {auth.IDLE_LOGOUT_S / 60:g} min idle")

    def admit(self, name: str) -> str | None:
        if not self.registry.needs_login(name):
            return None
        if not auth.pin_path(self.data_dir).exists():
            return auth.NO_PIN
        if not self.login.logged_in:
            return auth.NOT_LOGGED_IN
        self.login.touch(self.now())
        return None

    # --- slow work off the control loop -------------------------------------------------------
    def background(self, fn, finish):
        """Run ``fn`` on the executor; ``finish(result, error)`` makes the reply when it is
        done. Returns ``None`` (the reply comes later)."""
        self.pending = True
        self._job = (self.executor.submit(fn), finish)
        self.poll_jobs()
        return None

    def poll_jobs(self) -> None:
        """Called every period by the transport: delivers the reply of a finished job, ends an
        idle login, and hands the output queue on."""
        self._finish_job()
        self.check_idle()
        self.pump()

    def _finish_job(self) -> None:
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

    def procedure(self, sequence, finish):
        """Start a procedure in the control loop; the reply comes from ``finish``."""
        c = self.program.controller
        now = self.program.clock.now()

        def done(result, error):
            self.pending = False
            lines, status = finish(result, error)
            self.reply(lines, status)

        try:
            c.start_service(now, sequence, done)
        except ServiceRefused as exc:
            return [], f"ERR REFUSED: {exc}"
        except RuntimeError as exc:
            return [], f"ERR BUSY: {exc}"
        self.pending = True
        return None

    # --- login and logout ---------------------------------------------------------------------
    def cmd_login(self, args):
        if not auth.pin_path(self.data_dir).exists():
            return [], auth.NO_PIN
        now = self.now()
        if self.locked_until is not None and now < self.locked_until:
            self.audit("login refused", detail="the console is locked")
            return [], (f"ERR LOCKED: too many wrong PINs; try again in "
                        f"{self.locked_until - now:.0f} s")
        pin = args[0]

        def finish(result, error):
            if error is not None:
                if isinstance(error, store.StoreError):
                    return [], (f"ERR PIN-FILE: {error.problem}; set the PIN again with "
                                "'ionto tech set-pin'")
                raise error
            ok, lock = result
            t = self.program.clock.now()
            events = self.program.controller.events
            if ok:
                self.login.start(self.now())
                events.emit(t, "info", "CONSOLE-LOGIN", "technician logged in")
                warn = self.audit("login")
                return ["logged in", *([warn] if warn else [])], "OK"
            if lock.get("locked"):
                self.locked_until = self.now() + auth.LOCK_S
                events.emit(t, "warning", "CONSOLE-LOCKED",
                            f"{auth.MAX_TRIES} wrong PINs: console locked for "
                            f"{auth.LOCK_S / 60:g} min")
                self.audit("lockout", detail=f"{auth.MAX_TRIES} wrong PINs; locked for "
                                             f"{auth.LOCK_S / 60:g} min")
                return [], (f"ERR LOCKED: {auth.MAX_TRIES} wrong PINs; the console is locked "
                            f"for {auth.LOCK_S / 60:g} minutes")
            left = auth.MAX_TRIES - lock["failures"]
            self.audit("login refused", detail=f"wrong PIN; {plural(left, 'try', 'tries')} left")
            return [], f"ERR AUTH: wrong PIN ({plural(left, 'try', 'tries')} left)"

        # on the executor: scrypt and the lock file's fsync take time
        return self.background(lambda: self.lockout.attempt(self.data_dir, pin), finish)

    def cmd_logout(self, args):
        self.login.end()
        warn = self.audit("logout", detail="logout command")
        return ["logged out", *([warn] if warn else [])], "OK"
