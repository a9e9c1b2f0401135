"""The patient's HDSS score, entered with the two buttons on the DONE screen.

The course asks for a score of the Hyperhidrosis Disease Severity Scale at the start of the
course and then weekly (:func:`controller.course.next_hdss_date`). The technician can enter it
on the console (``profile hdss``); the patient can enter it on the panel, after a session, with
the buttons the unit has:

- the device program's course asks (:meth:`RatingPrompt.ask`) as a session that counts ends
  and the profile's score is due; the DONE screen then says "Rate your sweating";
- **SELECT** shows the next score: the first press 1, then 2, 3, 4 and round to 1 again. Each
  press keeps the DONE screen up for :data:`RATE_WAIT_S` more;
- **START** saves the score shown (``Controller.rating_listener(now, score)``: the course
  records it in the log, as entered by the ``panel``); the screen thanks the patient and the
  unit is ready :data:`~controller.session.DONE_SHOW_S` later. START before any choice saves
  nothing and does nothing.

Why these buttons and this way: START has one meaning everywhere else (begin, stop), and the
DONE screen is the one state where it has none, so "START = save" cannot stop or begin
anything by mistake. SELECT, which steps through profiles in IDLE and lowers the current in a
session, steps here through the scores: one button to choose, one to confirm, as the panel's
design has it (``hardware/README.md``). A patient who does not want to rate does nothing: the
DONE screen ends after its usual 10 s, no score is saved and nothing is held up; a score not
entered is the technician's to ask for. The score entered is the patient's own judgement, so
the device never guesses one: only a press of START saves, and only the score on the screen.

What a score does to the plan (the move to maintenance, "not responding") is the course's:
:func:`controller.course.phase_history`.
"""

from __future__ import annotations

#: after a press of SELECT on the DONE screen the rating waits this long for the next press (s)
RATE_WAIT_S = 60.0
#: the scores and the plain words the screen shows for them (HDSS: 1 never noticeable and never
#: interferes with daily activities; 2 tolerable, sometimes interferes; 3 barely tolerable,
#: frequently interferes; 4 intolerable, always interferes)
SCORE_WORDS = {1: "never a problem", 2: "sometimes bothers", 3: "often bothers",
               4: "always bothers"}
ENTERED = "HDSS-ENTERED"
NOT_SAVED = "HDSS-NOT-SAVED"


class RatingPrompt:
    """Whether a score is asked on the DONE screen, the score shown, and whether it was saved.

    ``score`` is None until the first press of SELECT; ``saved_at`` the time the score was
    saved (None until then); ``last_press`` the time of the last press that keeps the screen."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.asked = False
        self.score: int | None = None
        self.saved_at: float | None = None
        self.last_press: float | None = None

    def ask(self) -> None:
        """A score is wanted after the session that is ending."""
        self.clear()
        self.asked = True

    @property
    def open(self) -> bool:
        """Asked and not saved yet."""
        return self.asked and self.saved_at is None

    def on_select(self, now: float) -> None:
        self.score = 1 if self.score is None else self.score % len(SCORE_WORDS) + 1
        self.last_press = now

    def on_start(self, ctrl, now: float) -> None:
        """START on the DONE screen: saves the score shown (nothing before a choice)."""
        if not self.open or self.score is None:
            return
        listener = ctrl.rating_listener
        try:
            if listener is None:
                raise RuntimeError("this unit keeps no course")
            listener(now, self.score)
        except Exception as exc:  # noqa: BLE001 - the patient is told; the session is over
            ctrl._emit(now, "warning", NOT_SAVED,
                       f"the sweating score {self.score} was not saved ({exc}); the technician "
                       "can enter it (profile hdss)")
            self.clear()
            return
        self.saved_at = now
        ctrl._emit(now, "info", ENTERED, f"sweating score {self.score} "
                   f"({SCORE_WORDS[self.score]}) entered on the panel")

    def done_until(self, entered: float, show_s: float) -> float:
        """When the DONE screen, entered at ``entered``, gives way to IDLE."""
        if self.saved_at is not None:
            return self.saved_at + show_s
        end = entered + show_s
        if self.open and self.last_press is not None:
            end = max(end, self.last_press + RATE_WAIT_S)
        return end
