"""The technician's procedures (a self-test on demand, the calibration) as the session runs
them: what refuses one, the guard every one runs inside, and the run in progress.

The changes of state (to SERVICE and back) are the session's (``Controller.start_service``,
``_run_service``); this module keeps what a procedure is.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

from .faults import Fault
from .io import Command, Inputs
from .selftest import HINTS, SERVICE_IR_TOL, guarded, is_guarded
from .states import State

#: latched faults under which no technician procedure may run: each would drive the output
#: (its open-output probe first) through a patient relay that does not open
NO_SERVICE_FAULTS = {"ST-RELAY"}


class ServiceRefused(RuntimeError):
    """A technician procedure refused for what the device knows of its own state."""


def prepared(sequence, fault: Fault | None, test_load_ohm: float):
    """``sequence`` ready to run: refused (:class:`ServiceRefused`) under a latched fault of
    :data:`NO_SERVICE_FAULTS`, and wrapped in :func:`~controller.selftest.guarded` unless it
    is guarded already."""
    if fault is not None and fault.code in NO_SERVICE_FAULTS:
        # Every procedure begins with the open-output probe, and with the relay welded the
        # probe's current reaches whoever is in the trays: each procedure typed after the
        # latch sent it through the patient again (the random campaign's finding 18).
        raise ServiceRefused(f"{fault.code} is latched: {HINTS['ST-RELAY']}; "
                             "after the repair, switch the unit off and on: the power-on "
                             "self-test checks the relay")
    if not is_guarded(sequence):
        sequence = guarded(sequence, test_load_ohm, tol=SERVICE_IR_TOL,
                           what="the technician's procedure")
    return sequence


@dataclass
class ServiceRun:
    """A procedure in progress: its sequence, who is told when it ends (``done(result,
    error)``), the state it started from, and whether its first command was taken."""

    sequence: Generator[Command, Inputs, object]
    done: Callable[[object, BaseException | None], None]
    back: State
    started: bool = False

    def next_command(self, inp: Inputs) -> Command:
        """The procedure's command for this period (raises what the sequence raises)."""
        cmd = self.sequence.send(inp) if self.started else next(self.sequence)
        self.started = True
        return cmd
