"""What the rules see each period (:class:`~controller.rules.RuleContext`), built from the
period's inputs, the command of the period before and what the session keeps of the hardware
between periods (the failed reads in a row, the age of the newest sample, since when HV has been
on or off)."""

from __future__ import annotations

from .io import PERIOD, Command, Inputs
from .relays import HV_SETTLE_S
from .rules import RuleConstants, RuleContext
from .states import CONTACT_RULE_STATES, State
from .values import DEVICE_MAX_MA


class ContextBuilder:
    """Keeps the hardware's history between periods and builds each period's context."""

    def __init__(self):
        self.last_now: float | None = None
        self.adc_failures = 0
        self.last_sample_t: float | None = None
        self.hv_since: float | None = None
        self.hv_off_since: float | None = 0.0
        #: the load (V / I) of the last period, when the current was measurable
        self.load_estimate: float | None = None
        self.k: RuleConstants | None = None
        self._k_of: tuple = ()     # the prescription, limits and board ``k`` was built from

    def constants(self, ctl) -> RuleConstants:
        """The session's constants: built again only when the prescription, the limits or
        the board of ``ctl`` is another object than the one they were built from (all three
        are frozen or never changed in place)."""
        rx, limits, cfg = ctl.rx, ctl.limits, ctl.cfg
        of = self._k_of
        if not of or of[0] is not rx or of[1] is not limits or of[2] is not cfg:
            self.k = RuleConstants(
                nominal_period=PERIOD,
                peak_cap_ma=min(limits.site_limit(rx.site, rx.child), DEVICE_MAX_MA),
                hv_nominal=cfg.hv_nominal, hv_tolerance=cfg.hv_tolerance,
                duration_s=rx.duration_min * 60.0, rx_dose_ma_min=rx.dose_ma_min)
            self._k_of = (rx, limits, cfg)
        return self.k

    def period(self, now: float) -> float:
        """The time since the previous step (the nominal period at the first)."""
        period = PERIOD if self.last_now is None else now - self.last_now
        self.last_now = now
        return period

    def build(self, inp: Inputs, period: float, ctl) -> RuleContext:
        """The context of this period for the session ``ctl``."""
        s = inp.sample
        now = inp.now
        i_a = i_b = i_max = v_e = hv = None
        raw_a = raw_b = None
        load = None
        cmd: Command = ctl.last_command
        if s is None:
            self.adc_failures += 1
        else:
            self.adc_failures = 0
            self.last_sample_t = s.t
            i_a, i_b, v_e, hv = s.current_a_ma, s.current_b_ma, s.electrode_v, s.hv_v
            i_max = i_a if i_a > i_b else i_b
            raw_a, raw_b = s.raw[0], s.raw[1]
            if i_max >= 0.05 and cmd.patient_relay and not cmd.test_load:
                load = abs(v_e) / (i_max / 1000.0)
        self.load_estimate = load
        age = now - self.last_sample_t if self.last_sample_t is not None else 0.0
        state = ctl.state
        hv_since = self.hv_since
        in_contact = (state in CONTACT_RULE_STATES
                      and cmd.patient_relay and cmd.hv and cmd.setpoint_ma > 0.0
                      and hv_since is not None and now - hv_since >= HV_SETTLE_S)
        sess = ctl.session
        return RuleContext(
            k=self.constants(ctl), now=now, period=period, state=state,
            i_a=i_a, i_b=i_b, i_max=i_max, v_e=v_e, hv=hv, raw_a=raw_a, raw_b=raw_b,
            raw=tuple(s.raw) if s is not None else None,
            adc_failures=self.adc_failures, sample_age=age,
            command_ma=ctl.delivery.avg_cmd,
            duty=cmd.pulse_duty if cmd.gate == "pulsed" else 1.0,
            hv_enabled_for=(now - hv_since) if hv_since is not None else -1.0,
            hv_disabled_for=(now - self.hv_off_since) if self.hv_off_since is not None
            else -1.0,
            hw_trip=inp.hw_trip and state not in (State.SELF_TEST, State.SERVICE),
            polarity=ctl.seqs.polarity, self_test=state in (State.SELF_TEST, State.SERVICE),
            in_contact_phase=in_contact, load_ohm=load,
            treat_s=sess.treat_s if sess else 0.0,
            dose_ma_min=sess.dose_ma_min if sess else 0.0,
        )

    def track_hv(self, now: float, hv: bool) -> None:
        """The HV enable this period commands."""
        if hv and self.hv_since is None:
            self.hv_since, self.hv_off_since = now, None
        elif not hv and self.hv_off_since is None:
            self.hv_since, self.hv_off_since = None, now
