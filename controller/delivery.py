"""The current delivered in a session: the contact check, the ramps, the treatment, the pause
and the stop, with the level the current is working to (the reference) and the guards that
limit it (density, compliance, the shunt guard and skin test of :mod:`.contact`).

:class:`Delivery` owns the session's current-level state; the session (its ``ctl``,
:class:`~controller.session.Controller`) owns the state machine, the events and the
prescription, and :class:`Delivery` changes state only through ``ctl._enter``.

Anti-shock and current-density guard (limiters on the reference, every period):

- the reference rises at the ramp rate only, and the regulator's command may exceed the measured
  current by at most 0.3 mA and rise by at most 0.4 mA in 100 ms (see :mod:`.regulator`);
- contact lost or a short: the output drops to the 0.2 mA contact probe at once, and current
  returns only by a ramp from zero after contact has been stable for 2 s;
- density: the immersed fraction is estimated from the load against the lowest load seen in this
  session within the contact range (the share of the load that does not scale with the area is
  taken as the largest the body can have for that load, 30 % to 80 %:
  :func:`.immersion.body_fraction_bound`), and the reference is cut at once to
  ``density limit x site area x fraction``.
  The area follows a rise of the load at once but a fall only when it is sudden (a hand going
  back into the water), never a slow one (the skin's resistance falling during the session):
  see :mod:`.immersion`.
  Limitation: a load can only tell a *change* of immersion. Hands that are only partly in the
  water from the very start look like full immersion. A session that starts within
  ``CARRY_REF_S`` of the last one's end, at the same site (finding 21), therefore takes the lowest
  full-immersion load of that session as its reference when it is lower than its own contact
  load (a patient who stopped, lifted a hand half out and pressed START again: the random
  campaign's finding 17); before the first session of a sitting, the patient instructions
  (hands flat on the bottom of the trays before pressing START) carry that part of the risk.
"""

from __future__ import annotations

from .contact import SHUNT_CODE, SHUNT_TEXT, ContactWatch, contact_state
from .faults import CONTACT_TIMEOUT
from .guards import CAL_BUDGET, ComplianceWatch, DensityGuard, cap_ma, near_compliance
from .io import PERIOD, Command, Inputs
from .limits import Prescription
from .regulator import Regulator
from .relays import Then
from .rules import Rule, RuleContext
from .states import State, Trigger

PROBE_MA = 0.2                # contact-check test current (at most 0.3 mA)
CONTACT_STABLE_S = 2.0
WAIT_CONTACT_TIMEOUT_S = 120.0
PAUSE_TIMEOUT_S = 300.0
STOP_RAMP_MAX_S = 5.0
#: a session that starts this soon (s) after the last one ended, at the same site (the same
#: trays), takes the last one's full-immersion load as its reference where that is lower than its
#: own contact load: the same person back at the trays, whose skin has not had the time to dry
#: back. A fresh contact load well above the carried one is a hand partly out of the water, and
#: the density guard limits the current as it would in one session. A new target, duration,
#: waveform or ramp keeps the carry: they change what the device gives, not whose hands are in
#: the water (the CI campaign's fresh seed 7756744, run 90: the technician raised a child's
#: target between two sessions, the carry ended with it, and the second session took a contact
#: load with a quarter of the hands in the water for full immersion: 0.208 mA/cm2 for 3.4 s).
#: Another site ends it. The price: another person with a higher load who starts on the same
#: trays within this time is treated at a lowered current (the DENSITY-LIMIT warning says so)
#: until the load falls.
CARRY_REF_S = 15 * 60.0


class Delivery:
    """The session's current: ``ref`` the reference (mA, average) the ramps move, ``avg_cmd``
    the average current commanded in the last period, ``reg`` the regulator."""

    def __init__(self, ctl):
        self.ctl = ctl
        self.reg = Regulator(ctl.cfg.regulator)
        self.ref = 0.0
        self.avg_cmd = 0.0
        self.contact_ok_since: float | None = None
        self.carry: tuple[float, float, Prescription] | None = None  # (end t, load, rx)
        self.density = DensityGuard()
        self.compliance = ComplianceWatch()
        self.contact = ContactWatch(150.0)
        self.reversed = False
        self.stop_outcome = "stopped"
        self.stop_rate = 0.0
        self.limit_note_t = -1e9

    # what the contact watch (controller/contact.py) reads of the session
    @property
    def state(self) -> State:
        return self.ctl.state

    def _emit(self, now, kind, code, message):
        return self.ctl.events.emit(now, kind, code, message)

    # --- the session's start and end -------------------------------------------------------
    def start(self, now: float) -> None:
        """A session starts (its self-test first): the warnings on its target, fresh guards."""
        rx, limits = self.ctl.rx, self.ctl.limits
        cap = cap_ma(rx, limits)
        if rx.max_average_ma(limits) >= rx.target_ma > cap:
            self._emit(now, "warning", "AT-LIMIT",
                       f"the target is at the site's limit: the current is held at {cap:.2f} "
                       f"mA, {CAL_BUDGET * 100:.1f} % under it (the calibration's error budget)")
        elif cap < rx.target_ma:
            self._emit(now, "warning", "PULSED-REDUCED",
                       f"pulsed DC at {rx.pulse_duty:.0%} duty: the average is reduced to "
                       f"{cap:.2f} mA so that the pulse peak stays within the limit; the time "
                       "is extended to deliver the dose")
        self.reversed = False
        self.density.restart(rx.duty)
        self.contact = ContactWatch(rx.area_cm2)
        self.compliance.reset()
        self.ctl.comfort.restart()

    def ended(self, now: float) -> None:
        """The session ended: its full-immersion load is carried (CARRY_REF_S)."""
        loads = [r for r in (self.density.r_ref, self.density.immersion.r_full) if r is not None]
        if loads:
            self.carry = (now, min(loads), self.ctl.rx)

    def off(self) -> None:
        """The safe state: no reference, no command."""
        self.ref = 0.0
        self.avg_cmd = 0.0
        self.reg.reset()

    def from_zero(self) -> None:
        """The current goes to zero at once; it comes back only by a ramp from zero."""
        self.ref = 0.0
        self.reg.reset()

    # --- commands ---------------------------------------------------------------------------
    def command(self, avg_ma: float, *, probe: bool = False) -> Command:
        """Output connected to the patient with ``avg_ma`` average current."""
        rx = self.ctl.rx
        pulsed = rx.waveform == "pulsed" and not probe and avg_ma > 0.0
        duty = rx.pulse_duty if pulsed else 1.0
        self.avg_cmd = avg_ma
        return Command(setpoint_ma=avg_ma / duty, gate="pulsed" if pulsed else "dc",
                       pulse_hz=rx.pulse_hz if pulsed else 0.0, pulse_duty=duty, hv=True,
                       patient_relay=True, polarity=self.ctl.seqs.polarity, output_led=True)

    def probe(self) -> Command:
        """Connected: the contact probe starts."""
        self.contact_ok_since = None
        return self.command(PROBE_MA, probe=True)

    # --- the states of a session (one period each) -----------------------------------------
    def wait_contact(self, inp: Inputs, ctx: RuleContext) -> Command:
        ctl = self.ctl
        now = inp.now
        if now - ctl.state_since > WAIT_CONTACT_TIMEOUT_S:
            ctl.latch.latch_def(now, CONTACT_TIMEOUT)
            return Command()
        return self._probe_until_contact(inp, ctx, first=True)

    def _probe_until_contact(self, inp: Inputs, ctx: RuleContext, *, first: bool) -> Command:
        """Hold the probe current until the load has been in the contact range for
        CONTACT_STABLE_S, then ramp up from the probe level (WAIT_CONTACT and PAUSED)."""
        now = inp.now
        c = contact_state(ctx) if ctx.in_contact_phase else "unknown"
        # The skin test's probe pattern and the shunt estimate (controller/contact.py).
        c, probe_ma = self.contact.at_probe(self, ctx, c)
        if c != "ok":
            self.contact_ok_since = None
        elif self.contact_ok_since is None:
            self.contact_ok_since = now
        elif now - self.contact_ok_since >= CONTACT_STABLE_S and self.contact.may_start():
            if first:
                # A load beside a known path (a bridge the skin test found) is no reference for
                # full immersion: the first load without it becomes the reference (allowed_ma).
                self.density.r_ref = None if self.contact.excluded else ctx.load_ohm
                self._emit(now, "info", "CONTACT", f"contact: load {ctx.load_ohm:.0f} ohm")
                carried = self._carried_ref(now)
                if carried is not None and carried < ctx.load_ohm:
                    self.density.r_ref = carried
                    self.contact.guard.carry(carried)
                if carried is not None and carried < ctx.load_ohm / 1.1:
                    self._emit(now, "info", "CONTACT-CARRIED",
                               f"the load at full immersion {(now - self.carry[0]) / 60:.0f} "
                               f"min ago was {carried:.0f} ohm: taken as this session's "
                               "reference (a hand partly out of the water shows as a lowered "
                               "current)")
            else:
                # The load left the contact range and came back: the next load is a step from
                # the last one before the pause (ImmersionEstimate.resume).
                self.density.immersion.resume()
                self._emit(now, "resume", "CONTACT", f"contact back: load "
                           f"{ctx.load_ohm:.0f} ohm; ramping up from zero")
            self.ref = PROBE_MA
            self.reg.reset(PROBE_MA)
            self.ctl._enter(now, State.RAMP_UP, Trigger.CONTACT_STABLE,
                            "ramping up" if first else "ramping up after a pause")
            return self.treat(inp, ctx)
        cmd = self.command(probe_ma, probe=True)
        # The skin test's step samples read the electrode voltage first (controller/contact.py).
        cmd.electrode_first = self.contact.skin.step_sample
        return cmd

    def _carried_ref(self, now: float) -> float | None:
        """The last session's full-immersion load, if it ended within CARRY_REF_S at the site
        of the prescription in force now."""
        if self.carry is None:
            return None
        t_end, load, rx = self.carry
        if now - t_end > CARRY_REF_S or rx.site != self.ctl.rx.site:
            return None
        return load

    def allowed_ma(self, ctx: RuleContext) -> float:
        """The highest average current the density guard allows now (.guards)."""
        # A path beside the patient: its removal must not step the patient's current, and its
        # loads are no reference for full immersion (controller/contact.py).
        ctl = self.ctl
        cap = self.contact.in_treatment(self, ctx, cap_ma(ctl.rx, ctl.limits))
        return self.density.allowed(ctx, ctl.rx, ctl.limits, cap, self.contact.excluded)

    def treat(self, inp: Inputs, ctx: RuleContext) -> Command:
        """RAMP_UP and TREAT: the reference to the allowed current at the ramp rate."""
        ctl = self.ctl
        now = inp.now
        rx = ctl.rx
        sess = ctl.session
        goal = self.allowed_ma(ctx)
        if self.contact.pause_now:
            self.pause(now, None)
            return self.command(PROBE_MA, probe=True)
        allowed = goal   # the patient's lower level (SELECT) comes down at the ramp rate
        goal = ctl.comfort.limit(goal, self.ref, rx.ramp_ma_s, PERIOD)
        if goal < self.ref:
            if goal == allowed and goal < rx.target_ma * 0.98 and \
                    now - self.limit_note_t > 5.0 and not self.contact.capped:
                self.limit_note_t = now
                self._emit(now, "warning", "DENSITY-LIMIT",
                           f"current reduced to {goal:.2f} mA: the immersed area looks smaller "
                           "(a hand partly out of the water?)")
            self.ref = goal  # a fall never shocks: cut at once
        elif self.ref < goal:
            self.ref = min(goal, self.ref + rx.ramp_ma_s * PERIOD)
        measured = ctx.i_max if ctx.i_max is not None else self.reg.output
        # The command may exceed the goal by the calibration's residual error (a sink a few per
        # cent weak); what the limits judge is the measured current.
        u = self.reg.update(self.ref, measured, PERIOD, goal * 1.1 + 0.1,
                            near_compliance(ctx, ctl.cfg, self.density.r_ref), rx.duty)
        reach = self._compliance(now, ctx)
        if sess is not None:
            reduced = goal if goal < ctl.comfort.target(rx.target_ma) * 0.98 else None
            if reach is not None:
                reduced = reach if reduced is None else min(reduced, reach)
            sess.note_target(reduced)
        if ctl.state == State.RAMP_UP and self.ref >= goal - 1e-9 and \
                (ctx.i_max is None or ctx.i_max >= 0.9 * goal or self.compliance.since is not None):
            ctl._enter(now, State.TREAT, Trigger.TARGET_REACHED, f"treating at {goal:.2f} mA")
        if ctl.state == State.TREAT and sess is not None:
            done = sess.treat_done(rx)
            if done:
                self._emit(now, "info", "TREATMENT-COMPLETE",
                           f"{sess.treat_s / 60:.1f} min at target; ramping down (the session's "
                           "dose is given at its end)")
                self.begin_stop(now, "completed", Trigger.TREATMENT_COMPLETE)
                return self.ramp_down(inp, ctx)
            if rx.reverse_polarity and not self.reversed and \
                    sess.treat_s >= rx.duration_min * 30.0:
                self.reversed = True
                sess.reversals += 1
                self._emit(now, "info", "REVERSAL", "half time: reversing the polarity")
                ctl._enter(now, State.REVERSING, Trigger.HALF_TIME,
                           "ramping down to reverse the polarity")
                self.stop_rate = rx.ramp_ma_s
        return self.command(u)

    def _compliance(self, now: float, ctx: RuleContext) -> float | None:
        """The reduced target while the compliance voltage holds the current below the
        reference (.guards.ComplianceWatch), with its COMPLIANCE warning."""
        reach, measured, first = self.compliance.update(now, ctx.i_max, self.ref,
                                                        self.reg.clamped)
        if measured is not None and (first or now - self.limit_note_t > 5.0):
            self.limit_note_t = now
            self._emit(now, "warning", "COMPLIANCE",
                       f"load too high for the target: holding {measured:.2f} mA "
                       f"({100 * measured / self.ctl.rx.target_ma:.0f} % of target); the "
                       "time is extended to deliver the dose")
        return reach

    def pause(self, now: float, rule: Rule | None) -> None:
        """Pause for ``rule``, or (``None``) for a shunt that controller/contact.py found."""
        sess = self.ctl.session
        if sess is not None:
            sess.pauses += 1
        self.from_zero()
        self.contact_ok_since = None
        if rule is None:
            code, why = SHUNT_CODE, SHUNT_TEXT
        else:
            code, why = rule.id, rule.pause_text
        self._emit(now, "pause", code, why)
        self.ctl._enter(now, State.PAUSED, Trigger.CONTACT_LOST, why)

    def cut_ramp_down(self, now: float, rule: Rule) -> None:
        """A contact rule fired on a ramp down: the current goes to zero at once."""
        self.from_zero()
        self._emit(now, "warning", rule.id, rule.ramp_down_text)

    def paused(self, inp: Inputs, ctx: RuleContext) -> Command:
        now = inp.now
        if now - self.ctl.state_since > PAUSE_TIMEOUT_S:
            self._emit(now, "warning", "PAUSE-TIMEOUT", "contact did not come back within "
                       "5 min: the session ends")
            self.begin_stop(now, "incomplete", Trigger.PAUSE_TIMEOUT)
            return self.ramp_down(inp, ctx)
        return self._probe_until_contact(inp, ctx, first=False)

    def begin_stop(self, now: float, outcome: str, trigger: Trigger, *,
                   quick: bool = False) -> None:
        """A ramp down to the end of the session at the prescribed rate, or (``quick``) at a
        rate that ends it within STOP_RAMP_MAX_S if that is faster."""
        self.stop_outcome = outcome
        rate = self.ctl.rx.ramp_ma_s
        if quick and self.ref > 0:
            rate = max(rate, self.ref / STOP_RAMP_MAX_S)
        self.stop_rate = rate
        self.ctl.seqs.seq = None
        self.ctl._enter(now, State.RAMP_DOWN, trigger, f"ramping down ({outcome})")

    def stop_faster(self) -> None:
        """START on a ramp down under way: it ends within STOP_RAMP_MAX_S from now."""
        if self.ctl.seqs.seq is None and self.ref > 0:
            self.stop_rate = max(self.stop_rate, self.ref / STOP_RAMP_MAX_S)

    def ramp_down(self, inp: Inputs, ctx: RuleContext) -> Command:
        """RAMP_DOWN and REVERSING: down at the stop rate, then the relay sequence."""
        ctl = self.ctl
        # The density guard holds on the way down too: a patient often lifts the hands as the
        # session ends, and the reversal's ramp down at the prescribed rate takes many seconds.
        self.ref = max(0.0, min(self.ref - self.stop_rate * PERIOD, self.allowed_ma(ctx)))
        measured = ctx.i_max if ctx.i_max is not None else self.ref
        if self.ref <= 0.0:
            self.reg.reset()
            self.avg_cmd = 0.0
            seqs = ctl.seqs
            if ctl.state == State.REVERSING:
                return seqs.begin(seqs.reverse(), Then.RAMP_UP)
            return seqs.begin(seqs.disconnect(), Then.DONE)
        near = near_compliance(ctx, ctl.cfg, self.density.r_ref)
        u = min(self.reg.update(self.ref, measured, PERIOD, self.ref, near, ctl.rx.duty),
                self.ref)
        self.reg.output = u
        return self.command(u)
