"""The sequences a session runs over several periods, one command a period: the self-test
(:mod:`.selftest`) and the relay sequences that switch the output dead (connect, reverse the
polarity, disconnect). :class:`Sequences` runs the one in progress and keeps the polarity the
output is switched to; what follows when a sequence ends (:class:`Then`) is the session's."""

from __future__ import annotations

from enum import Enum

from .io import Command, Inputs, hold

REVERSAL_DWELL_S = 0.5
HV_SETTLE_S = 0.06
RELAY_SETTLE_S = 0.03


class Then(Enum):
    """What follows when a sequence of the session (the self-test, a relay sequence) ends: a
    continuation, not a state (the state is the one the sequence runs in)."""

    READY = "the power-on self-test passed: IDLE"
    STOPPED = "START pressed during the session's self-test: DONE"
    CONTACT = "the session's self-test passed: WAIT_CONTACT, connect"
    PROBE = "connected: the contact probe starts"
    RAMP_UP = "the polarity switched: RAMP_UP"
    DONE = "disconnected: DONE, or the fault a stop left waiting"


class Sequences:
    """The sequence in progress (``seq``, a generator that receives Inputs and yields
    Commands), what follows it (``then``), and the output's polarity (+1 or -1)."""

    def __init__(self):
        self.seq = None
        self.then = Then.READY
        self.started = False
        self.polarity = 1

    def load(self, seq, then: Then) -> None:
        """``seq`` runs from the next period (the self-test)."""
        self.seq, self.then, self.started = seq, then, False

    def begin(self, seq, then: Then) -> Command:
        """Start ``seq`` now; returns its first command."""
        self.seq, self.then = seq, then
        cmd = next(seq)
        self.started = True
        return cmd

    def next_command(self, inp: Inputs) -> Command:
        """The running sequence's command for this period; raises what the sequence raises
        (StopIteration with its result when it ends)."""
        cmd = next(self.seq) if not self.started else self.seq.send(inp)
        self.started = True
        return cmd

    def connect(self):
        """Close the patient relay with HV off, then enable HV: relays switch dead."""
        yield from hold(Command(patient_relay=True, polarity=self.polarity), RELAY_SETTLE_S)
        yield from hold(Command(patient_relay=True, polarity=self.polarity, hv=True,
                                gate="dc", output_led=True), HV_SETTLE_S)

    def reverse(self):
        """Ramp down (done by the caller), current off, dwell, switch, HV on again."""
        p = self.polarity
        yield from hold(Command(patient_relay=True, polarity=p, output_led=True),
                        REVERSAL_DWELL_S)
        new = -p
        self.polarity = new
        yield from hold(Command(patient_relay=True, polarity=new), RELAY_SETTLE_S)
        yield from hold(Command(patient_relay=True, polarity=new, hv=True, gate="dc",
                                output_led=True), HV_SETTLE_S)

    def disconnect(self):
        """Current is zero: HV off, wait for the rail, open the patient relay."""
        p = self.polarity
        yield from hold(Command(patient_relay=True, polarity=p, output_led=True), 0.1)
        yield from hold(Command(polarity=p), RELAY_SETTLE_S)
