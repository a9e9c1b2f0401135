"""The numbers of the safety rules, in one table: each with its unit, the range a change of it
may take, and where it comes from.

The People's Ventilator Project keeps its values this way (``pvp.common.values``): a reviewer
reads every threshold of the device in one place, with its reason, and the rule table
(:mod:`controller.rules`) and its text are made from it, so that a rule's description can never
say one number while its condition uses another. ``docs/safety/rules.md`` is generated from both
(``tools/rule_table.py``; CI checks it is current).

The ranges are review bounds, not settings: a value outside its range is a change of the
safety argument (the hazard analysis), and :func:`check` refuses it at import.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Value:
    name: str
    value: float
    unit: str
    lo: float
    hi: float
    source: str


_TABLE = (
    Value("device_max_ma", 30.0, "mA", 20.0, 31.0,
          "the software ceiling on any current: under the 31 mA series limiter and the 35 mA "
          "hardware trip (hardware/board.toml)"),
    Value("oc_abs_margin_ma", 1.0, "mA", 0.5, 2.0,
          "R-OC-ABS: the pulse peak may exceed the site limit by this much (two channels' "
          "reading error, 0.3 mA + 5 %, with room) before the device faults at once"),
    Value("oc_rel_ma", 1.0, "mA", 0.5, 2.0,
          "R-OC-REL: the current may exceed the command by this much, or by oc_rel_share"),
    Value("oc_rel_share", 0.10, "", 0.05, 0.2,
          "R-OC-REL: the share of the command by which the current may exceed it (the "
          "regulator's overshoot and the calibration error are below 3 %)"),
    Value("nocmd_command_ma", 0.3, "mA", 0.1, 0.5,
          "R-NOCMD: a command below this is 'no command' (the 0.2 mA contact probe is one)"),
    Value("nocmd_excess_ma", 0.3, "mA", 0.1, 0.5,
          "R-NOCMD: current this far above such a command is current without a command; "
          "with R-OC-REL it leaves no gap in the command's range (campaign finding 12)"),
    Value("agree_ma", 0.3, "mA", 0.1, 0.5,
          "R-CH-AGREE: the two current channels may differ by this much, or by agree_share"),
    Value("agree_share", 0.05, "", 0.02, 0.1,
          "R-CH-AGREE: the share by which the two channels may differ (1 % resistors, 1.5 % "
          "calibration budget each, noise)"),
    Value("adc_failures", 3, "reads", 1, 5,
          "R-ADC-FAIL: this many failed ADC reads in a row (one is a glitch the driver's "
          "retry explains)"),
    Value("sample_age_s", 0.030, "s", 0.02, 0.05,
          "R-ADC-FAIL: a sample older than this (three periods) is stale"),
    Value("stuck_min_command_ma", 0.5, "mA", 0.2, 1.0,
          "R-ADC-STUCK: identical counts are judged only with a command from this (at no "
          "current identical zero counts are normal)"),
    Value("hv_settle_s", 0.05, "s", 0.02, 0.2,
          "R-HV: the rail is judged this long after it is enabled (its soft start)"),
    Value("hv_off_settle_s", 0.2, "s", 0.1, 0.5,
          "R-HV: the rail is judged this long after it is disabled (the bulk capacitor's "
          "discharge)"),
    Value("hv_off_max_v", 10.0, "V", 5.0, 20.0,
          "R-HV: a disabled rail above this is HV present although disabled"),
    Value("overrun_factor", 3.0, "periods", 2.0, 5.0,
          "R-OVERRUN: a control period longer than this many nominal periods (the external "
          "watchdog's 100 ms is the hardware's bound)"),
    Value("short_ohm", 300.0, "ohm", 100.0, 500.0,
          "R-SHORT and the contact range's lower end: a load below this is a short (both "
          "hands in one tray, electrodes touching); the lowest patient load is 500 ohm"),
    Value("open_ohm", 20_000.0, "ohm", 10_000.0, 50_000.0,
          "R-OPEN and the contact range's upper end: a load above this is lost contact"),
    Value("open_command_ma", 0.15, "mA", 0.05, 0.2,
          "R-OPEN: without a load estimate, a command from this with no current is open"),
    Value("open_current_ma", 0.05, "mA", 0.01, 0.1,
          "R-OPEN: 'no current' is below this"),
    Value("polarity_min_ma", 0.5, "mA", 0.2, 1.0,
          "R-POLARITY: judged from this current on"),
    Value("polarity_v", 1.0, "V", 0.5, 3.0,
          "R-POLARITY: an electrode voltage this far on the wrong side of zero"),
    Value("session_time_factor", 1.5, "", 1.2, 2.0,
          "R-SESSION: treatment time beyond this times the prescription (plus "
          "session_time_extra_s) ends the session: a reduced target extends the time"),
    Value("session_time_extra_s", 60.0, "s", 0.0, 300.0,
          "R-SESSION: the time allowed beyond session_time_factor"),
    Value("session_dose_factor", 1.6, "", 1.2, 2.0,
          "R-SESSION: a dose beyond this times the prescription's ends the session"),
)

VALUES: dict[str, Value] = {v.name: v for v in _TABLE}


def check(table: tuple[Value, ...] = _TABLE) -> None:
    """Every value within its review range (see the module's text)."""
    for v in table:
        if not v.lo <= v.value <= v.hi:
            raise ValueError(f"safety value {v.name} = {v.value} {v.unit} is outside its "
                             f"reviewed range {v.lo}..{v.hi}")


check()


def value(name: str) -> float:
    return VALUES[name].value


#: the load range that counts as contact (ohm): below is a short, above is open
CONTACT_OHM = (value("short_ohm"), value("open_ohm"))
DEVICE_MAX_MA = value("device_max_ma")
