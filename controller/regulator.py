"""Closed-loop current: feed-forward from the calibration plus a PI loop on the measured current.

The sink is a calibrated current source, so the feed-forward (the reference itself, mapped to a
PWM duty by the HAL's calibration) already delivers the current to within the calibration's
error; the PI loop removes what is left. Three clamps keep it safe:

- **anti-windup**: the integral is bounded and stops integrating while the output is clamped;
- **slew limit**: the command may rise by at most ``slew_ma_s`` (falls are not limited: a fall
  never shocks); together with the headroom clamp it keeps any rise under 0.5 mA in 100 ms;
- **headroom clamp**: near the compliance voltage, the command may exceed the measured current
  by at most ``headroom_ma``. If the compliance voltage holds the current below the command and
  the load then drops (a hand goes deeper into the water), the current can only jump by this
  much, not up to the command. In pulsed DC the bound is on the pulse peak (average / duty),
  the quantity the site limits judge: the command's average may exceed the measured one by
  ``headroom_ma`` x duty. (Taken in average terms, it let a child's peak stand 1 mA over the
  held current at duty 0.3, and when a hand went back in the true peak rose to 15.56 mA for a
  limit of 15: ``docs/safety/campaigns.md``, finding 13.) Away from compliance the sink
  delivers its command whatever the load does, so the clamp is not needed there, and must not
  be: with a sink a few per cent weaker than its calibration, "measured + headroom" would cap
  the current far below the target.

It regulates on the *higher* of the two current channels, so a channel that drifts low can never
raise the true current; the channel-disagreement rule then faults.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RegulatorConfig:
    kp: float = 0.3
    ki: float = 4.0          # 1/s
    i_limit_ma: float = 1.5
    # With the headroom clamp the current can jump by headroom_ma when the compliance limit
    # lets go, then follow the command's slew: 0.3 + 0.15 mA in 100 ms stays under the 0.5 mA
    # anti-shock bound. 1.5 mA/s is still above the fastest ramp (1 mA/s) plus corrections.
    slew_ma_s: float = 1.5
    headroom_ma: float = 0.3


class Regulator:
    def __init__(self, config: RegulatorConfig | None = None):
        self.cfg = config or RegulatorConfig()
        self.reset()

    def reset(self, output: float = 0.0) -> None:
        self.integral = 0.0
        self.output = output
        self.clamped = False

    def update(self, reference: float, measured: float, dt: float, ceiling: float,
               near_compliance: bool = True, duty: float = 1.0) -> float:
        """One period: returns the current to command (mA, average).

        :param ceiling: the command never exceeds this (mA).
        :param near_compliance: the output voltage is close to what the rail can give.
        :param duty: the pulse gate's duty (1 in DC): the headroom clamp bounds the peak.
        """
        c = self.cfg
        if reference <= 0.0:
            self.reset()
            return 0.0
        error = reference - measured
        u = reference + c.kp * error + self.integral
        limit = min(ceiling, self.output + c.slew_ma_s * dt)
        if near_compliance:
            limit = min(limit, measured + c.headroom_ma * min(1.0, max(duty, 0.0)))
        # A reference below the measured current must be able to pull the command down at once.
        clamped = u > limit
        if clamped:
            u = limit
        if u < 0.0:
            u = 0.0
        # Anti-windup: integrate only while the output is free, or when the error unwinds it.
        if not clamped or error < 0.0:
            self.integral += c.ki * error * dt
            self.integral = max(-c.i_limit_ma, min(c.i_limit_ma, self.integral))
        self.clamped = clamped
        self.output = u
        return u
