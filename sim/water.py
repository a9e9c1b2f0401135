"""The water in the trays: how its conductivity adds to the load the device drives.

The current goes from the electrode plate through the water to the skin and back through the
other tray. The water's part of the load is a resistance ``rho * L / A`` in each tray, with
``rho = 1 / sigma`` the water's resistivity: inversely proportional to its conductivity
``sigma``. The model keeps the geometry in one factor, :data:`GEOMETRY_PER_CM` (the sum over
both trays of ``L / A``): about 1.5 cm of water between the plate and the hand (the grid or
sponge that keeps the hand off the plate) over the 25 cm^2 or so where the current crowds into
the skin nearest the plate, both trays together 0.12 per cm. Then:

======================  ============  =================  =========================================
water                   sigma, uS/cm  water's part, ohm  what it means for a 2 kOhm patient
======================  ============  =================  =========================================
mineral-rich tap water  800           150
typical tap water       450           267                the reference: a patient's ``load_ohm``
soft tap water          150           800                +27 %: dry or thick skin misses 15 mA
very soft / rain water  50            2 400              no 15 mA within the 58 V compliance
distilled, RO water     5-20          6 000-24 000       no patient reaches a useful current
with baking soda        + 2 500       about 40           every patient reaches the target
======================  ============  =================  =========================================

Tap water ranges from about 50 to 800 uS/cm (the WHO's guidance on hardness: soft water
below about 60 mg/l as CaCO3, roughly 150 uS/cm); users of real units report that distilled
or reverse-osmosis water does not work, and the manufacturers advise a teaspoon of baking
soda per tray in soft water. A level teaspoon of sodium bicarbonate is about 5 g; in the 2 l
or so of a tray that is 2.5 g/l, or 0.03 mol/l, and at its molar conductivity of about
90 S cm^2/mol (sodium and hydrogen-carbonate ions at that dilution) it adds about
:data:`BAKING_SODA_US_CM` = 2,500 uS/cm, far more than any tap water's own.

A patient's ``load_ohm`` is their load at full immersion in water of
:data:`REFERENCE_US_CM`; in other water the difference of the water's parts is added to the part
of the load that does not scale with the immersed area (the water under the hand is there
however deep the hand is): :func:`extra_ohm`. The model leaves out the slower effect of the
ions on the skin's own resistance, which only makes soft water worse.
"""

from __future__ import annotations

#: the water a patient's ``load_ohm`` is given for (uS/cm): typical tap water
REFERENCE_US_CM = 450.0
#: the sum over both trays of the water path's length over its cross-section (1/cm)
GEOMETRY_PER_CM = 0.12
#: what a teaspoon of baking soda adds to a tray's conductivity (uS/cm)
BAKING_SODA_US_CM = 2500.0
#: the range a course file may give (uS/cm): distilled water to sea water's tenth
CONDUCTIVITY_RANGE = (1.0, 5000.0)


def water_ohm(conductivity_us_cm: float) -> float:
    """The water's part of the load between the trays (ohm) at this conductivity."""
    return GEOMETRY_PER_CM / (conductivity_us_cm * 1e-6)


def extra_ohm(conductivity_us_cm: float) -> float:
    """What this water adds to a load given for :data:`REFERENCE_US_CM` (negative in harder
    water): the difference of the water's parts."""
    return water_ohm(conductivity_us_cm) - water_ohm(REFERENCE_US_CM)


def with_baking_soda(conductivity_us_cm: float, teaspoons: int = 1) -> float:
    """The conductivity after ``teaspoons`` of baking soda in each tray."""
    return conductivity_us_cm + BAKING_SODA_US_CM * teaspoons
