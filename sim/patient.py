"""The patient and the water: the load the device drives, as the physics model sees it.

Electrically the path between the trays is a fixed part (water, electrode film and the body's
interior: ``body_fraction`` of the full-immersion load) in series with the skin of both immersed
areas, a resistance in parallel with a capacitance. The skin's resistance is inversely
proportional to the immersed area and its capacitance proportional to it, so the skin's time
constant does not depend on how deep the hands are.

``contact`` is the immersed fraction of the full area (1 = fully in, 0 = lifted out); ``short_ohm``
is a path through the water alone (both electrodes in one tray) in parallel with the patient.
Only the simulator knows these values: they are the ground truth the tests judge safety on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Patient:
    """A patient at the trays.

    :param load_ohm: total resistance between the trays at full immersion, at t = 0.
    :param load_drift_per_min: relative change of that resistance per minute as the skin
        hydrates (-0.01: 1 % lower each minute); the resistance never falls below 20 % of start.
    :param area_cm2: immersed skin area per electrode at full immersion.
    :param body_fraction: share of the full-immersion load that is not skin (does not scale with
        the immersed area).
    :param skin_uf_per_cm2: specific skin capacitance (0.05 uF/cm^2 is typical of wet palm skin).
    :param contact: immersed fraction 0..1.
    :param short_ohm: resistance of a short between the electrodes, or ``None``.
    :param water_ohm: what the water in the trays adds to ``load_ohm``, which is given for
        typical tap water (:func:`sim.water.extra_ohm`: positive in soft water, negative in
        hard); it adds to the part that does not scale with the area, and never takes that
        part below a quarter of itself.
    """

    load_ohm: float = 2000.0
    load_drift_per_min: float = 0.0
    area_cm2: float = 150.0
    body_fraction: float = 0.2
    skin_uf_per_cm2: float = 0.05
    contact: float = 1.0
    short_ohm: float | None = None
    water_ohm: float = 0.0

    def full_load_ohm(self, t: float) -> float:
        """Full-immersion resistance at time ``t`` (s), drift applied."""
        return self.load_ohm * max(0.2, 1.0 + self.load_drift_per_min * t / 60.0)

    def branch(self, t: float) -> tuple[float, float, float] | None:
        """``(r_body, r_skin, c_skin)`` in ohm, ohm and farad, or ``None`` without contact."""
        c = self.contact
        if c <= 0.0:
            return None
        # full_load_ohm(t), inline (the physics asks several times a control period)
        f = 1.0 + self.load_drift_per_min * t / 60.0
        full = self.load_ohm * (f if f > 0.2 else 0.2)
        r_body = full * self.body_fraction
        if self.water_ohm:
            r_body = max(r_body + self.water_ohm, 0.25 * r_body)
        r_skin = full * (1.0 - self.body_fraction) / c
        # Two electrode areas in series: half the capacitance of one.
        c_skin = self.skin_uf_per_cm2 * 1e-6 * self.area_cm2 * c / 2.0
        return r_body, r_skin, c_skin

    def load_ohm_at(self, t: float) -> float:
        """Steady-state resistance between the trays now (inf when lifted out), short included."""
        b = self.branch(t)
        r = float("inf") if b is None else b[0] + b[1]
        if self.short_ohm is not None:
            r = self.short_ohm if r == float("inf") else 1.0 / (1.0 / r + 1.0 / self.short_ohm)
        return r

    def immersed_area_cm2(self) -> float:
        return self.area_cm2 * max(0.0, self.contact)
