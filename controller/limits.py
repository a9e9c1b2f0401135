"""Prescription and limits: what the technician sets, validated before anything runs.

All values, their units and their allowed ranges are in this one file (the habit of the People's
Ventilator Project's ``values.py``). Errors name the field, the bad value and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .values import DEVICE_MAX_MA  # the software ceiling, below the 35 mA hardware trip

#: Sites and their maximum current (mA): adult, child.
SITE_MAX_MA = {"hands": (20.0, 15.0), "feet": (25.0, 15.0), "axillae": (5.0, 5.0)}
#: Immersed skin area per electrode assumed for each site at full immersion (cm^2), used by the
#: current-density guard when the technician enters none. The guard must never take an area
#: larger than the real one, so these are the smallest areas real anatomy gives for a hand (a
#: foot) flat on the bottom of a tray with the water over it: the palmar (plantar) surface
#: alone, although the sides and part of the back of the hand are wet too.
#:
#: - hands, adult: the palmar surface of palm and fingers is 0.87 % of the body surface area
#:   (BSA) on average in adults, less in women (Rhodes et al., Br J Dermatol 2013;169:76-84, a
#:   meta-analysis of 14 studies); a small woman (152 cm, 48 kg, about the 5th percentile) has
#:   1.42 m^2 (DuBois), and 0.8 % of it is 114 cm^2: 110.
#: - hands, child: the palmar surface of a child's hand is 0.94 % of the BSA (91 children,
#:   95 % CI 0.93-0.97 %); a small 6-year-old (106 cm, 16 kg) has 0.69 m^2: 64 cm^2: 60.
#: - feet, adult: the sole of a small adult foot (length 22.6 cm, breadth 8.4 cm, about the
#:   5th percentile of women), its outline about 0.7 of length x breadth: 133 cm^2: 130.
#: - feet, child: a small 6-year-old's foot, 17.5 x 6.8 cm: 83 cm^2: 80.
#: - in round figures: an adult's palm and fingers, one side, about 100 to 120 cm^2 per hand;
#:   an adult's sole about 120 to 140 cm^2; a child's both by age, with the body surface area
#:   (a 6-year-old's about half a small woman's).
#: - axillae: the pad's area, 50 cm^2; a child's half of it (the BSA of the small 6-year-old
#:   over the small woman's, 0.69 / 1.42).
#:
#: With these the default density limit costs current at full immersion only where the site's
#: maximum would exceed it on that small anatomy (adult hands 20 mA: 19.8 allowed; feet 25 mA:
#: 23.4; a child's hands or feet 15 mA: 10.8 and 14.4); the technician enters a measured area
#: (``area_cm2``) for larger hands or feet.
SITE_AREA_CM2 = {"hands": 110.0, "feet": 130.0, "axillae": 50.0}
CHILD_AREA_CM2 = {"hands": 60.0, "feet": 80.0, "axillae": 25.0}
HARDWARE_TRIP_MA = 35.0
DURATION_MIN = (5.0, 40.0)
RAMP_RATE = (0.1, 1.0)   # mA/s
REVERSAL_MIN_DURATION = 10.0  # min
PULSE_HZ = (1000.0, 10000.0)
PULSE_DUTY = (0.1, 0.9)
AREA_CM2 = (5.0, 1000.0)      # electrode area the technician may enter, per electrode
DENSITY_LIMIT = (0.05, 0.5)   # mA/cm^2, technician-settable bound


class PrescriptionError(ValueError):
    """A prescription or limit is outside what the device allows."""

    def __init__(self, field_name: str, value, allowed: str):
        self.field = field_name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field_name} = {value!r}: {allowed}")


@dataclass(frozen=True)
class Limits:
    """Technician-settable limits; never above the device's fixed bounds."""

    density_ma_cm2: float = 0.2
    ramp_ma_s: float = 0.5
    site_max_ma: dict[str, float] = field(default_factory=lambda: {
        s: v[0] for s, v in SITE_MAX_MA.items()})

    def validated(self) -> Limits:
        _range("density_ma_cm2", self.density_ma_cm2, *DENSITY_LIMIT, "mA/cm2")
        _range("ramp_ma_s", self.ramp_ma_s, *RAMP_RATE, "mA/s")
        if not isinstance(self.site_max_ma, dict):
            raise PrescriptionError("site_max_ma", self.site_max_ma,
                                    f"allowed: a table of site = mA ({', '.join(SITE_MAX_MA)})")
        for site, ma in self.site_max_ma.items():
            if not isinstance(site, str) or site not in SITE_MAX_MA:
                raise PrescriptionError("site_max_ma", site,
                                        f"unknown site; allowed: {', '.join(SITE_MAX_MA)}")
            _range(f"site_max_ma.{site}", ma, 0.5, SITE_MAX_MA[site][0], "mA")
        return self

    def site_limit(self, site: str, child: bool) -> float:
        adult, kid = SITE_MAX_MA[site]
        lim = min(self.site_max_ma.get(site, adult), adult)
        return min(lim, kid) if child else lim


@dataclass(frozen=True)
class Prescription:
    """What the technician prescribed for this patient.

    :param site: hands | feet | axillae.
    :param target_ma: treatment current (average, in pulsed mode).
    :param duration_min: time at target, 5..40 min.
    :param waveform: "dc" or "pulsed".
    :param pulse_hz, pulse_duty: pulsed DC only.
    :param reverse_polarity: reverse at half time (needs a duration of at least 10 min).
    :param child: child limits apply (15 mA at most).
    :param ramp_ma_s: ramp rate up and down; default from the limits (0.5 mA/s).
    :param area_cm2: immersed area per electrode at full immersion; default by site and by
        ``child`` (:data:`SITE_AREA_CM2`, :data:`CHILD_AREA_CM2`).
    """

    site: str = "hands"
    target_ma: float = 15.0
    duration_min: float = 20.0
    waveform: str = "dc"
    pulse_hz: float = 5000.0
    pulse_duty: float = 0.5
    reverse_polarity: bool = False
    child: bool = False
    ramp_ma_s: float | None = None
    area_cm2: float | None = None

    def validated(self, limits: Limits | None = None) -> Prescription:
        """Return a copy with defaults filled in, or raise PrescriptionError."""
        limits = (limits or Limits()).validated()
        if not isinstance(self.site, str) or self.site not in SITE_MAX_MA:
            raise PrescriptionError("site", self.site, f"allowed: {', '.join(SITE_MAX_MA)}")
        if not isinstance(self.child, bool):
            raise PrescriptionError("child", self.child, "allowed: true or false")
        site_max = limits.site_limit(self.site, self.child)
        who = "child " if self.child else ""
        _range("target_ma", self.target_ma, 0.0, site_max, "mA",
               f" ({who}{self.site} limit)", low_open=True)
        _range("duration_min", self.duration_min, *DURATION_MIN, "min")
        if self.waveform not in ("dc", "pulsed"):
            raise PrescriptionError("waveform", self.waveform, "allowed: dc, pulsed")
        if self.waveform == "pulsed":
            _range("pulse_hz", self.pulse_hz, *PULSE_HZ, "Hz")
            _range("pulse_duty", self.pulse_duty, *PULSE_DUTY, "")
        ramp = limits.ramp_ma_s if self.ramp_ma_s is None else self.ramp_ma_s
        _range("ramp_ma_s", ramp, *RAMP_RATE, "mA/s")
        if not isinstance(self.reverse_polarity, bool):
            raise PrescriptionError("reverse_polarity", self.reverse_polarity,
                                    "allowed: true or false")
        if self.reverse_polarity and self.duration_min < REVERSAL_MIN_DURATION:
            raise PrescriptionError(
                "reverse_polarity", True,
                f"polarity reversal needs a duration of at least {REVERSAL_MIN_DURATION:g} min "
                f"(each half at least 5 min); the duration is {self.duration_min:g} min")
        default_area = (CHILD_AREA_CM2 if self.child else SITE_AREA_CM2)[self.site]
        area = default_area if self.area_cm2 is None else self.area_cm2
        _range("area_cm2", area, *AREA_CM2, "cm2")
        return replace(self, ramp_ma_s=float(ramp), area_cm2=float(area),
                       target_ma=float(self.target_ma), duration_min=float(self.duration_min))

    @property
    def duty(self) -> float:
        return self.pulse_duty if self.waveform == "pulsed" else 1.0

    def max_average_ma(self, limits: Limits) -> float:
        """Highest average current this prescription may deliver: in pulsed DC the pulse peak
        (average / duty) must stay within the site and device limits."""
        site_max = limits.site_limit(self.site, self.child)
        peak_cap = min(site_max, DEVICE_MAX_MA)
        return min(self.target_ma, peak_cap * self.duty)

    @property
    def dose_ma_min(self) -> float:
        return self.target_ma * self.duration_min


def _range(name, value, lo, hi, unit, note="", low_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise PrescriptionError(name, value, f"must be a number from {lo:g} to {hi:g} {unit}")
    bad = (value <= lo) if low_open else (value < lo)
    if bad or value > hi:
        lo_word = f"above {lo:g}" if low_open else f"from {lo:g}"
        raise PrescriptionError(name, value, f"allowed: {lo_word} to {hi:g} {unit}{note}".strip())
