"""The patient's HDSS score, entered with the two buttons on the DONE screen.

The course asks for a score of the Hyperhidrosis Disease Severity Scale at the start of the
course and then weekly (:func:`controller.course.next_hdss_date`). The technician can enter it
on the console (``profile hdss``); the patient can enter it on the panel, after a session, with
the buttons the unit has:

- the device program's course asks (:meth:`RatingPrompt.ask`) as a session that counts ends
  and the profile's score is due; the DONE screen's last line then says
  "SELECT: rate sweating", and the screen stays up :data:`RATE_ASK_S` (not the usual
  :data:`~controller.session.DONE_SHOW_S`): time to dry the hands, as its first line says, and
  read it; short enough that the unit is soon ready for the next person of the family;
- **SELECT** shows the next score: the first press 1, then 2, 3, 4 and round to 1 again. Each
  press keeps the DONE screen up for :data:`RATE_WAIT_S` more;
- **START** saves the score shown (``Controller.rating_listener(now, score)``: the course
  records it in the log, as entered by the ``panel``); the screen thanks the patient and the
  unit is ready :data:`~controller.session.DONE_SHOW_S` later. START before any choice saves
  nothing and does nothing. A score the log refuses is not lost in silence: the event
  HDSS-NOT-SAVED says why, and the screen says "Score not saved / Tell the technician" for
  :data:`~controller.session.DONE_SHOW_S`.

Why these buttons and this way: START has one meaning everywhere else (begin, stop), and the
DONE screen is the one state where it has none, so "START = save" cannot stop or begin
anything by mistake. SELECT, which steps through profiles in IDLE and lowers the current in a
session, steps here through the scores: one button to choose, one to confirm, as the panel's
design has it (``hardware/README.md``). A patient who does not want to rate does nothing: the
DONE screen ends after :data:`RATE_ASK_S` (and START is taken :data:`QUIET_S` later), no score
is saved; a score not entered is the technician's to ask for. A score the technician enters on
the console while the screen asks is the day's: the panel's is then refused (HDSS-NOT-SAVED),
never a second score for one day. The score entered is the patient's own judgement,
so the device never guesses one: only a press of START saves, and only the score on the screen.

**Presses meant for the score never act in IDLE.** A patient who is still choosing when the
screen gives way would otherwise have the next press of SELECT choose the next person (saved,
audited) or the next START begin a session for whoever is selected. So when a DONE screen that
asked for a score gives way to IDLE, SELECT and START are ignored for :data:`QUIET_S`
(:meth:`RatingPrompt.quiet`; the event PRESS-IGNORED says so): a press that late is seen, not
acted on, and ignoring a START in IDLE only delays a session. The question itself is dropped
whenever DONE is left (:meth:`RatingPrompt.left`), to IDLE, to a fault or to a technician's
procedure.

What a score does to the plan (the move to maintenance, "not responding") is the course's:
:func:`controller.course.phase_history`.
"""

from __future__ import annotations

#: while a score is asked, the DONE screen stays up this long from its start (s) ...
RATE_ASK_S = 30.0
#: ... and this long after each press of SELECT (s)
RATE_WAIT_S = 60.0
#: after a DONE screen with an unanswered question gives way to IDLE, SELECT and START are
#: ignored this long (s): a press meant for the score must not choose a person or start a session
QUIET_S = 3.0
#: the scores and the plain words the screen shows for them (HDSS: 1 never noticeable and never
#: interferes with daily activities; 2 tolerable, sometimes interferes; 3 barely tolerable,
#: frequently interferes; 4 intolerable, always interferes)
SCORE_WORDS = {1: "never a problem", 2: "sometimes bothers", 3: "often bothers",
               4: "always bothers"}
ENTERED = "HDSS-ENTERED"
NOT_SAVED = "HDSS-NOT-SAVED"
IGNORED = "PRESS-IGNORED"


class RatingPrompt:
    """Whether a score is asked on the DONE screen, the score shown, and whether it was saved.

    ``score`` is None until the first press of SELECT; ``saved_at`` the time the score was
    saved, ``failed_at`` the time a save was refused (None until then); ``last_press`` the time
    of the last press that keeps the screen; ``quiet_until`` the end of the time in IDLE in
    which SELECT and START are ignored (kept across :meth:`clear`)."""

    def __init__(self) -> None:
        self.quiet_until: float | None = None
        self.clear()

    def clear(self) -> None:
        self.asked = False
        self.score: int | None = None
        self.saved_at: float | None = None
        self.failed_at: float | None = None
        self.last_press: float | None = None

    def ask(self) -> None:
        """A score is wanted after the session that is ending."""
        self.clear()
        self.asked = True

    @property
    def open(self) -> bool:
        """Asked, and neither saved nor refused yet."""
        return self.asked and self.saved_at is None and self.failed_at is None

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
            self.failed_at = now   # the screen says so (firmware/screens.py)
            return
        self.saved_at = now
        ctrl._emit(now, "info", ENTERED, f"sweating score {self.score} "
                   f"({SCORE_WORDS[self.score]}) entered on the panel")

    def done_until(self, entered: float, show_s: float) -> float:
        """When the DONE screen, entered at ``entered``, gives way to IDLE."""
        if self.saved_at is not None:
            return self.saved_at + show_s
        if self.failed_at is not None:
            return self.failed_at + show_s
        if not self.open:
            return entered + show_s
        if self.last_press is None:
            return entered + RATE_ASK_S
        return max(entered + RATE_ASK_S, self.last_press + RATE_WAIT_S)

    def left(self, now: float) -> None:
        """DONE is left: after a screen that asked (answered or not: a patient may still be
        pressing to save again after "Score not saved") SELECT and START are quiet for
        :data:`QUIET_S`; the question is dropped."""
        if self.asked:
            self.quiet_until = now + QUIET_S
        self.clear()

    def quiet(self, now: float) -> bool:
        """Whether a press of SELECT or START in IDLE is to be ignored now."""
        return self.quiet_until is not None and now < self.quiet_until

    def ignores(self, ctrl, now: float, button: str, then: str) -> bool:
        """A press of ``button`` in IDLE: True (and PRESS-IGNORED said) while quiet; ``then``
        is what a press does again afterwards."""
        if not self.quiet(now):
            return False
        ctrl._emit(now, "info", IGNORED, f"{button} ignored: the score screen has just closed; "
                   f"press {button} again to {then}")
        return True
