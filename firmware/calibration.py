"""The calibration record: how the setpoint and both current channels map to true milliamps.

Stored with :mod:`firmware.store` in ``<data dir>/calibration.json``. A missing or corrupt record
means the device refuses to treat (self-test code ST-CAL) and says why. A unit leaves the factory
with a record written by ``ionto tech calibrate`` (or the console's ``cal`` commands).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass
from pathlib import Path

from hal import ChannelCalibration, SetpointCalibration
from hardware import Board

from . import store

KIND = "calibration"
MAX_GAIN_ERROR = 0.10     # a result beyond +-10 % of nominal gain is rejected
MAX_OFFSET_MA = 0.5
#: ``cal ref``: the reference meter's reading must agree with the test load's I x R (electrode
#: voltage over the 1 kOhm 0.1 % test resistor, a channel the meter does not calibrate) within
#: this. Both current channels and the setpoint are scaled by the meter's reading, so a meter
#: that reads low would otherwise make the device deliver that much more than it believes,
#: at the site's limit too. The error budget (docs/safety/hazard-analysis.md, "Calibration
#: error budget"): what the current channels may still be off after an accepted calibration,
#: CROSS_CHECK_TOL + the test resistor (0.1 %) + the electrode amplifier's gain (0.2 %) + the
#: ADC's gain (0.15 %) and offset and noise (0.05 %) = 1.5 %; the regulation adds 0.1 %;
#: the controller keeps the current at a site's limit CAL_BUDGET under it
#: (controller.session.CAL_BUDGET, 1.8 %).
CROSS_CHECK_TOL = 0.01
WARN_AFTER_DAYS = 365


@dataclass(frozen=True)
class Calibration:
    setpoint_ma_per_duty: float
    setpoint_offset_ma: float = 0.0
    a_gain: float = 1.0
    a_offset_ma: float = 0.0
    b_gain: float = 1.0
    b_offset_ma: float = 0.0
    date: str = ""

    @classmethod
    def nominal(cls, board: Board, date: str | None = None) -> Calibration:
        return cls(setpoint_ma_per_duty=board.setpoint.full_scale_ma,
                   date=date or _dt.date.today().isoformat())

    def check(self, board: Board) -> None:
        """Raise ValueError if a gain or offset is beyond what a healthy unit can need."""
        nominal = board.setpoint.full_scale_ma
        for name, gain in (("setpoint gain", self.setpoint_ma_per_duty / nominal),
                           ("channel A gain", self.a_gain), ("channel B gain", self.b_gain)):
            if abs(gain - 1.0) > MAX_GAIN_ERROR:
                raise ValueError(f"{name} {gain:.3f} x nominal is outside +-10 %")
        for name, off in (("setpoint offset", self.setpoint_offset_ma),
                          ("channel A offset", self.a_offset_ma),
                          ("channel B offset", self.b_offset_ma)):
            if abs(off) > MAX_OFFSET_MA:
                raise ValueError(f"{name} {off:+.3f} mA is beyond +-{MAX_OFFSET_MA} mA")

    def hal_objects(self):
        return (SetpointCalibration(self.setpoint_ma_per_duty, self.setpoint_offset_ma),
                ChannelCalibration(self.a_gain, self.a_offset_ma),
                ChannelCalibration(self.b_gain, self.b_offset_ma))

    def age_days(self, today: _dt.date | None = None) -> int | None:
        try:
            d = _dt.date.fromisoformat(self.date)
        except ValueError:
            return None
        return ((today or _dt.date.today()) - d).days


def path_in(data_dir: Path) -> Path:
    return Path(data_dir) / "calibration.json"


def load(data_dir: Path, board: Board) -> Calibration:
    """The stored calibration; raises store.StoreError (missing/corrupt) or ValueError."""
    payload = store.load(path_in(data_dir), KIND)
    try:
        cal = Calibration(**payload)
    except TypeError as exc:
        raise store.StoreError(path_in(data_dir), f"corrupt (fields: {exc})") from None
    cal.check(board)
    return cal


def save(data_dir: Path, cal: Calibration, board: Board) -> None:
    cal.check(board)
    store.save(path_in(data_dir), KIND, asdict(cal))
