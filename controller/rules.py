"""The software safety rules, as one declarative table.

Each rule has an id, the hazard it controls (ids of ``docs/safety``), a condition on the
:class:`RuleContext` of the current period, a persistence (how long the condition must hold) and a
reaction:

- ``PAUSE``: output to zero at once, the treatment timer stops, the device waits for contact;
- ``STOP``: the session ends with a ramp down;
- ``FAULT``: the safe state within the same period (setpoint 0, gate off, HV off, patient relay
  open), latched until acknowledged.

Persistence counts from the first period in which the condition is seen, credited with the period
before it (the condition may have begun at any moment since the last sample): a rule with a
persistence of 50 ms fires at most 50 ms after its condition began, and one with none fires on the
first sample that shows it.

Episodes add up. A fault that comes and goes within a rule's persistence (a setpoint output that
sticks high for 30 ms in every 200 ms, a sink that shorts for 30 ms every 2 s) would restart a
plain persistence timer at every recovery and never be latched, while the patient feels a step in
every episode. So each rule with a persistence keeps a *leaky integrator* of the time its condition
held (the counter-based debouncing of automotive diagnostics): every period with the condition
adds the period, every period without it drains ``LEAK`` of the period, never below zero; the rule
fires when the integrator reaches the persistence. A condition that holds without a break fires at
exactly the time it did before; one that flickers fires once the time it held, less the drain,
adds up to the persistence. Why a drain proportional to time (and not an episode count in a
window, or an exponential decay): it weighs episodes by their length (a one-period blip of noise
counts a fifth of a 50 ms excursion, an episode counter counts both as one), and a condition true
in fewer than ``LEAK / (1 + LEAK)`` of the periods (1 %), as isolated noise is, never accumulates,
however long the session, whereas an exponential decay integrates rare noise over its whole time
constant. With ``LEAK = 0.01`` a 50 ms rule fires on the 2nd episode of 30 ms every 200 ms and on
the 3rd of 30 ms every 2 s. The integrator is capped at the persistence, so a full one drains in
``persistence / LEAK`` (2 s for R-SHORT, 5 s for R-OC-REL, 10 s for R-CH-AGREE). What the patient
feels in each episode stays bounded as before: by R-OC-ABS (the site limit + 1 mA, at once), the
35 mA trip and the 31 mA series limiter; the integrator bounds the number of episodes.

Rules whose condition is itself a run (R-ADC-STUCK: identical counts in successive samples, which
noise produces by chance now and then, and a stuck converter produces without a break) keep the
plain timer: ``leaky=False``.

The density and anti-shock guards are *limiters*, not rules: they act continuously on the current
reference in :mod:`controller.delivery` (``Delivery.allowed_ma`` with ``DENSITY_MARGIN`` and
:mod:`controller.immersion` for the density, :class:`controller.regulator.Regulator` for the slew
limit and the headroom clamp).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from .values import CONTACT_OHM, DEVICE_MAX_MA, value


class Reaction(Enum):
    PAUSE = "pause"
    STOP = "stop"
    FAULT = "fault"


@dataclass(frozen=True, slots=True)
class RuleConstants:
    """What the rules see that holds for a session: the device's facts and the prescription's
    (built once, and again only when the prescription, the limits or the board change)."""

    nominal_period: float
    peak_cap_ma: float         # site limit (or device limit), pulse peak
    hv_nominal: float
    hv_tolerance: float
    duration_s: float
    rx_dose_ma_min: float


@dataclass(slots=True)
class RuleContext:
    """What the rules see each period: the period's readings and state (``None`` fields mean
    "not known this period"), and in ``k`` the session's constants."""

    k: RuleConstants
    now: float
    period: float              # time since the previous step
    state: str
    i_a: float | None          # channel A, mA (average)
    i_b: float | None
    i_max: float | None        # the higher channel
    v_e: float | None          # electrode voltage, signed
    hv: float | None
    raw_a: int | None
    raw_b: int | None
    raw: tuple[int, int, int, int] | None  # all four channels
    adc_failures: int          # consecutive failed reads
    sample_age: float          # s since the newest good sample was taken
    command_ma: float          # average current commanded in the period before this sample
    duty: float                # gate duty (1 for DC)
    hv_enabled_for: float      # s since HV was enabled (-1 if disabled)
    hv_disabled_for: float     # s since HV was disabled (-1 if enabled)
    hw_trip: bool
    polarity: int
    self_test: bool            # the self-test drives the test load on purpose (36 mA)
    in_contact_phase: bool     # the output is connected to the patient and current is intended
    load_ohm: float | None     # estimated load (V / I) when the current is measurable
    treat_s: float
    dose_ma_min: float


@dataclass(frozen=True, slots=True)
class FaultDef:
    """A fault the device latches under a code of its own (not a rule's id): its code, its
    words, and whether the patient may clear it with a 3 s hold of START (else only the
    technician, after a passing self-test)."""

    code: str
    message: str
    patient_clearable: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    hazard: str
    text: str
    persistence_s: float
    reaction: Reaction
    condition: Callable[[RuleContext], bool]
    #: the patient may clear the fault this rule latches (its own id) with a 3 s hold of
    #: START; False: only the technician, after a passing self-test
    patient_clearable: bool = False
    #: episodes add up in a leaky integrator (see the module's docstring); False: the
    #: persistence restarts whenever the condition clears
    leaky: bool = True
    #: the reaction in the states where it is not the plain one, as data the session applies
    #: (it re-maps no rule by its id):
    #: the fault code a FAULT rule latches when it fires during the self-test (the self-test's
    #: own code, whose hint tells the technician what to check), or None: its own id
    self_test_code: str | None = None
    #: a PAUSE rule at the contact check, before any current: the fault it latches instead of a
    #: pause (its code, its words, and whether the patient may clear it), or None: no reaction
    #: there
    contact_check_fault: FaultDef | None = None
    #: a PAUSE rule's words to the patient when it pauses, and when it switches the current off
    #: on a ramp down
    pause_text: str = ""
    ramp_down_text: str = ""


#: the share of the elapsed time a rule's integrator drains while its condition is absent
LEAK = 0.01


# The thresholds, from the one values table (controller/values.py), bound once at import: the
# conditions run every period.
_V = value
_OC_ABS = _V("oc_abs_margin_ma")
_OC_REL, _OC_REL_SHARE = _V("oc_rel_ma"), _V("oc_rel_share")
_NOCMD_CMD, _NOCMD_EXCESS = _V("nocmd_command_ma"), _V("nocmd_excess_ma")
_AGREE, _AGREE_SHARE = _V("agree_ma"), _V("agree_share")
_ADC_FAILURES, _SAMPLE_AGE = _V("adc_failures"), _V("sample_age_s")
_STUCK_CMD = _V("stuck_min_command_ma")
_HV_SETTLE, _HV_OFF_SETTLE, _HV_OFF_MAX = _V("hv_settle_s"), _V("hv_off_settle_s"), \
    _V("hv_off_max_v")
_OVERRUN = _V("overrun_factor")
_SHORT_OHM, _OPEN_OHM = CONTACT_OHM
_OPEN_CMD, _OPEN_I = _V("open_command_ma"), _V("open_current_ma")
_POL_MA, _POL_V = _V("polarity_min_ma"), _V("polarity_v")
_SESSION_T, _SESSION_T_EXTRA, _SESSION_DOSE = _V("session_time_factor"), \
    _V("session_time_extra_s"), _V("session_dose_factor")


def _absolute_overcurrent(c: RuleContext) -> bool:
    if c.i_max is None or c.self_test:
        return False
    peak = c.i_max / c.duty if c.duty > 0 else c.i_max
    return peak > c.k.peak_cap_ma + _OC_ABS or peak > DEVICE_MAX_MA


# The two rules on "more current than commanded" cover the whole range of the command with no
# gap between them: R-OC-REL for any command (zero included), R-NOCMD for a command below
# 0.3 mA. When a shorted sink drives the current up, the regulator winds its setpoint down to
# zero and then lets it flicker just above zero; a rule that held only for a command of exactly
# zero (or only above zero) lost its persistence at every flicker and fired late (the CI gate's
# fresh seed 9754803, run 249: R-OC-REL 76 ms after the rise, deadline 60 ms).


def _relative_overcurrent(c: RuleContext) -> bool:
    return c.i_max is not None and c.i_max > c.command_ma + max(_OC_REL,
                                                                _OC_REL_SHARE * c.command_ma)


def _current_without_command(c: RuleContext) -> bool:
    return c.i_max is not None and c.command_ma < _NOCMD_CMD and \
        c.i_max > c.command_ma + _NOCMD_EXCESS


def _channels_disagree(c: RuleContext) -> bool:
    if c.i_a is None or c.i_b is None or c.self_test:  # the self-test checks this itself
        return False
    return abs(c.i_a - c.i_b) > max(_AGREE, _AGREE_SHARE * max(abs(c.i_a), abs(c.i_b)))


def _adc_failure(c: RuleContext) -> bool:
    return c.adc_failures >= _ADC_FAILURES or c.sample_age > _SAMPLE_AGE


class _StuckWatch:
    """ADC stuck: identical raw counts on a current channel while current flows."""

    def __init__(self):
        self.last: tuple[int | None, int | None] = (None, None)

    def __call__(self, c: RuleContext) -> bool:
        if c.raw_a is None or c.command_ma < _STUCK_CMD:
            self.last = (None, None)
            return False
        same = (c.raw_a, c.raw_b) == self.last or c.raw_a == self.last[0] \
            or c.raw_b == self.last[1]
        self.last = (c.raw_a, c.raw_b)
        return same


def _adc_frozen(c: RuleContext) -> bool:
    """All four channels return the same count: the conversion register no longer changes with
    the multiplexer (the four signals can never be equal in a working unit)."""
    r = c.raw
    return r is not None and r[0] == r[1] == r[2] == r[3]


def _hv_out_of_range(c: RuleContext) -> bool:
    if c.hv is None:
        return False
    if c.hv_enabled_for >= _HV_SETTLE:
        k = c.k
        return abs(c.hv - k.hv_nominal) > k.hv_tolerance * k.hv_nominal
    if c.hv_disabled_for >= _HV_OFF_SETTLE:
        return c.hv > _HV_OFF_MAX  # HV present although disabled
    return False


def _hw_trip(c: RuleContext) -> bool:
    return c.hw_trip


def _overrun(c: RuleContext) -> bool:
    return c.period > _OVERRUN * c.k.nominal_period


def _short(c: RuleContext) -> bool:
    return c.in_contact_phase and c.load_ohm is not None and c.load_ohm < _SHORT_OHM


def _open(c: RuleContext) -> bool:
    if not c.in_contact_phase or c.i_max is None:
        return False
    if c.load_ohm is not None:
        return c.load_ohm > _OPEN_OHM
    return c.command_ma >= _OPEN_CMD and c.i_max < _OPEN_I


def _wrong_polarity(c: RuleContext) -> bool:
    return (c.i_max is not None and c.v_e is not None and c.i_max > _POL_MA
            and c.hv_enabled_for >= _HV_SETTLE and c.v_e * c.polarity < -_POL_V)


def _session_limits(c: RuleContext) -> bool:
    return c.treat_s > _SESSION_T * c.k.duration_s + _SESSION_T_EXTRA or \
        c.dose_ma_min > _SESSION_DOSE * c.k.rx_dose_ma_min


_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def _g(x: float) -> str:
    return f"{x:g}"


def _pct(x: float) -> str:
    return f"{x * 100:g} %"


def make_rules(hv_tolerance: float = 0.15) -> tuple[Rule, ...]:
    """The rule table (a fresh copy: some rules keep a little state). Every number of a
    rule's text is the number its condition uses (:mod:`controller.values`);
    ``hv_tolerance`` is the board's (``hardware/board.toml``), for R-HV's text."""
    F, P, S = Reaction.FAULT, Reaction.PAUSE, Reaction.STOP
    return (
        # Measurement integrity first: when the ADC is broken, its readings explain nothing.
        Rule("R-ADC-FAIL", "H-SENSE-2", f"{_WORDS[int(_ADC_FAILURES)]} consecutive failed ADC "
             f"reads, or a sample older than {_g(_SAMPLE_AGE * 1000)} ms", 0.0, F, _adc_failure,
             self_test_code="ST-ADC"),
        Rule("R-ADC-FROZEN", "H-SENSE-2", "all four channels read the same count: the "
             "conversion register is frozen", 0.0, F, _adc_frozen, self_test_code="ST-ADC"),
        Rule("R-ADC-STUCK", "H-SENSE-2", f"identical raw counts on a current channel for "
             f"{_g(2.0)} s while current flows", 2.0, F, _StuckWatch(), leaky=False,
             self_test_code="ST-ADC"),
        Rule("R-OC-ABS", "H-OC-1", f"measured current (pulse peak) above the site limit + "
             f"{_g(_OC_ABS)} mA or the {_g(DEVICE_MAX_MA)} mA device limit", 0.0, F,
             _absolute_overcurrent),
        # R-NOCMD before R-OC-REL: with a command below 0.3 mA both may fire in the same period,
        # and "current without a command" is the more telling name.
        Rule("R-NOCMD", "H-OC-2", f"current more than {_g(_NOCMD_EXCESS)} mA above a command "
             f"below {_g(_NOCMD_CMD)} mA (sink short, welded relay)", 0.050, F,
             _current_without_command),
        Rule("R-OC-REL", "H-OC-1", f"measured current above the command + max({_g(_OC_REL)} "
             f"mA, {_pct(_OC_REL_SHARE)})", 0.050, F, _relative_overcurrent),
        Rule("R-CH-AGREE", "H-SENSE-1", f"the two current channels disagree by more than "
             f"max({_g(_AGREE)} mA, {_pct(_AGREE_SHARE)})", 0.100, F, _channels_disagree),
        Rule("R-HV", "H-SUPPLY-1", f"HV rail outside +-{_pct(hv_tolerance)} of nominal while "
             "enabled (or present while disabled)", 0.100, F, _hv_out_of_range),
        Rule("R-HW-TRIP", "H-OC-1", "the hardware overcurrent latch has fired", 0.0, F,
             _hw_trip),
        Rule("R-OVERRUN", "H-HANG-1", f"a control period longer than "
             f"{_WORDS[int(_OVERRUN)]} times nominal", 0.0, F, _overrun),
        Rule("R-SHORT", "H-SHOCK-1", f"load below {_g(_SHORT_OHM)} ohm: electrodes shorted "
             "(both hands in one tray)", 0.020, P, _short,
             contact_check_fault=FaultDef(
                 "SHORT-AT-START", f"load below {_g(_SHORT_OHM)} ohm at the contact check: both "
                 "electrodes are in one tray, or the trays touch; put one hand in each tray and "
                 "hold START 3 s", patient_clearable=True),
             pause_text="short: both electrodes in one tray; put one hand in each tray",
             ramp_down_text="short on the way down (the trays touch, or water between them): "
                            "the current is switched off"),
        Rule("R-OPEN", "H-SHOCK-1", f"contact lost: load above {_g(_OPEN_OHM / 1000)} kOhm or "
             "no current flows", 0.0, P, _open,
             pause_text="contact lost: put both hands back in the water",
             ramp_down_text="contact lost on the way down: the current is switched off"),
        Rule("R-POLARITY", "H-POL-1", "electrode voltage sign does not follow the polarity "
             "command", 0.100, F, _wrong_polarity),
        Rule("R-SESSION", "H-DOSE-1", "treatment time or dose beyond the prescription plus "
             "margin", 0.0, S, _session_limits),
    )


@dataclass
class RuleEngine:
    """Evaluates the table each period. ``fill`` is each rule's integrator (s of condition,
    less the drain); ``active`` the rules whose condition held in the previous period; ``high``
    the highest fill each rule has reached since construction, as a share of its persistence
    (how near a rule came to firing in a run: a measure for judging false alarms, which the
    device itself never reads)."""

    rules: tuple[Rule, ...] = field(default_factory=make_rules)
    fill: dict[str, float] = field(default_factory=dict)
    active: set[str] = field(default_factory=set)
    high: dict[str, float] = field(default_factory=dict)

    def evaluate(self, ctx: RuleContext) -> list[Rule]:
        """The rules whose condition has held for their persistence, this period."""
        fired = []
        fill, active = self.fill, self.active
        nominal = ctx.k.nominal_period
        for rule in self.rules:
            rid = rule.id
            if rule.condition(ctx):
                # a condition first seen now may have begun at any moment since the last sample
                add = ctx.period if rid in active else min(ctx.period, nominal)
                active.add(rid)
                # capped at the persistence: a condition that held for minutes (a short in a
                # pause) is forgotten in persistence / LEAK once it clears, not in minutes / LEAK
                f = min(fill.get(rid, 0.0) + add, max(rule.persistence_s, add))
                fill[rid] = f
                if rule.persistence_s > 0.0:
                    share = f / rule.persistence_s
                    if share > self.high.get(rid, 0.0):
                        self.high[rid] = share
                if f >= rule.persistence_s - 1e-9:
                    fired.append(rule)
            elif rid in fill:
                active.discard(rid)
                f = fill[rid] - LEAK * ctx.period if rule.leaky else 0.0
                if f > 0.0:
                    fill[rid] = f
                else:
                    del fill[rid]
        return fired

    def clear(self) -> None:
        self.fill.clear()
        self.active.clear()

    def by_id(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)
