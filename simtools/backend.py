"""The simulated unit's hardware: the production HAL (:func:`hal.build_hardware`) on the
simulator's pins, bus and clock. The choice is always explicit (``--sim`` on the command line,
or a scenario); nothing falls back to it silently."""

from __future__ import annotations

from hal import Hardware, build_hardware
from hardware import Board


def sim_hardware(board: Board, **rig_kwargs) -> tuple[Hardware, object]:
    """The simulated unit: returns ``(hardware, rig)``; ``rig.clock`` is the clock to use."""
    from sim.rig import SimRig

    rig = SimRig(board, **rig_kwargs)
    hw = build_hardware(board, **rig.hardware_kwargs())
    return hw, rig


def sim_unit(board: Board, *, load_ohm: float, seed: int) -> tuple[Hardware, object]:
    """The simulated unit with a patient of ``load_ohm`` at the trays (``ionto device --sim``,
    ``ionto hw-demo``)."""
    from sim.patient import Patient

    return sim_hardware(board, patient=Patient(load_ohm=load_ohm), seed=seed)


def screen_as_provisioned(program, rig) -> None:
    """A simulated unit's first profile comes screened (no contraindication) on the simulated
    clock's date, as the factory provisions it, so that ``ionto device --sim`` treats at once;
    a real unit's profiles are screened by the technician (``profile screen``)."""
    from firmware.course import provision_screening
    from sim.rig import RTC_START

    provision_screening(program.course, rig.rtc.time() or RTC_START)
