"""The patient's display, drawn from the control loop without ever delaying it.

:class:`ScreenUpdater` is an observer of the control loop (:class:`firmware.loop.DeviceLoop`):
after each period's control work it

1. builds the view of the device's state (:meth:`ScreenUpdater.view`) and its screen
   (:mod:`firmware.screens`), at most every :data:`VIEW_EVERY_S` (a few times a second: what a
   patient can read, and the current's digits do not flicker);
2. renders the screen into a frame (:func:`hal.display.render`) and compares it, page by page,
   with the frame the display's memory holds;
3. sends at most one page a period, and of it only the columns that differ
   (:meth:`hal.display.Display.write_page`: at most 3.5 ms of bus time for a whole page), and
   only when the period has room for it: the period's work so far and the page's bus time stay
   within :data:`BUDGET_SHARE` of the period. A whole frame (about 24 ms of bus time, more
   than a period) would overrun the control loop (R-OVERRUN); a new screen is on the glass
   within 8 periods (80 ms).

The display's health: after a whole frame has been written the glass is switched on and the
display counts as showing (:attr:`ScreenUpdater.showing`). Every :data:`CHECK_EVERY_S` without
anything to send, a NOP command checks that the chip still answers (a cable that comes loose
while the screen does not change is found within that time). Any display error is caught here:
the display counts as not showing, a warning event ``DISPLAY-LOST`` says why (once, until the
display is back: ``DISPLAY-BACK``), and the updater tries again after a back-off
(:data:`RETRY_S`, growing to 5 s), building the driver afresh (its init sequence; the frame is
then sent again page by page). The treatment never depends on the display: nothing here
touches the outputs, and the control loop catches anything an observer raises.

START is refused while the display is not showing (:meth:`firmware.course.CourseService.gate`,
code ``DISPLAY``; hazard H-DISPLAY-1 in ``docs/safety/hazard-analysis.md``); a session that is
running when the display fails goes on.
"""

from __future__ import annotations

from controller.states import State
from hal.display import render

from .screens import View, screen

#: a new view (and so a new screen) at most this often, in seconds
VIEW_EVERY_S = 0.25
#: the share of a control period the period's work and a page's bus time may take together
BUDGET_SHARE = 0.95
#: bus time of one page: six command transactions and 129 bytes of data, at 400 kHz
PAGE_S = 3.5e-3
#: bus time of the driver's init sequence (27 one-byte commands)
INIT_S = 2.5e-3
#: without anything to send, a NOP checks the chip this often (s)
CHECK_EVERY_S = 0.5
#: the waits before the next attempt after a display error (s), the last one repeated
RETRY_S = (0.5, 1.0, 2.0, 5.0)
#: the words for why a session paused, by the pause's code (short enough for one line)
PAUSE_WORDS = {"R-OPEN": "A hand came out", "R-SHORT": "One hand a tray", "SHUNT": "Water outside?"}
#: a fault's code fits the line "Stopped: CODE" up to this length
CODE_FITS = 12


def _due_text(due) -> str | None:
    """What the IDLE screen says of the plan (:class:`controller.course.Due`)."""
    if due is None or due.status is None:
        return None
    if due.status == "due":
        return "Due today"
    if due.status == "overdue":
        return "Due: today (late)"
    when = due.earliest.date() if due.earliest is not None else due.next_date
    return f"Not yet: {when:%m-%d}" if when is not None else None


class ScreenUpdater:
    """Draws the program's state on ``display`` (:class:`hal.display.Display`), a page a
    period at most.

    :param program: the device program (:class:`firmware.device.DeviceProgram`): its
        controller, course, clock and events.
    """

    def __init__(self, program, display):
        self.program = program
        self.display = display
        self.showing = False
        self.problem: str | None = "the display has not been started yet"
        self.pages_sent = 0
        self.errors = 0
        self._shown = bytearray(display.width * display.height // 8)  # the chip's RAM
        self._known: set[int] = set()            # the pages of it that are known
        self._dirty = True                       # the RAM may differ from the newest frame
        self._want: bytearray | None = None      # the frame of the newest screen
        self._screen = None
        self._view_t = -1e9
        self._check_t = 0.0
        self._retry_at: float | None = None
        self._retries = 0
        self._lost_said = False
        self._state_seen: str | None = None
        self._key_seen: tuple | None = None
        self._state_text: dict[str, str | None] = {}
        self.frames: list[tuple[float, str, bytes]] = []   # (t, state, frame) if recording
        self.record_frames = False

    def not_showing(self) -> str | None:
        """None while the display shows the screen, else why it does not (the START gate)."""
        return None if self.showing else self.problem

    # --- what to show ---------------------------------------------------------------------------
    def _calendar_known(self) -> bool:
        course = getattr(self.program, "course", None)
        return course is not None and course.calendar.stamp() is not None

    def _on_state(self, state: str) -> None:
        """Once a state is entered: the parts of its view that cost a look in the log (the
        plan's due date), never a read of the real-time clock."""
        self._state_text = {}
        course = getattr(self.program, "course", None)
        if course is None:
            return
        try:
            if state == State.IDLE:
                self._state_text["n"] = len(course.log.profiles())
                if course.active is not None and self._calendar_known():
                    self._state_text["due"] = _due_text(course.due(course.active,
                                                                   course.calendar.now()))
            elif state == State.DONE and course.session_profile is not None \
                    and self._calendar_known():
                nxt = course.due(course.session_profile, course.calendar.now()).next_date
                self._state_text["next"] = f"{nxt:%m-%d}" if nxt is not None else None
        except Exception:  # noqa: BLE001 - the screen leaves out what it cannot know
            pass

    def view(self, now: float) -> View:
        """The view of the device's state now."""
        c = self.program.controller
        state = c.state
        course = getattr(self.program, "course", None)
        active = course.active if course is not None else None
        # a new state, SELECT chose another profile, or a sweating score was saved (which can
        # move the plan to maintenance and so the next date): the dates looked up once
        key = (active, c.rating.saved_at)
        if state != self._state_seen or key != self._key_seen:
            self._state_seen, self._key_seen = state, key
            self._on_state(state)
        if state == State.IDLE:
            return View(state, profile=course.active if course else None,
                        due=self._state_text.get("due"), profiles=self._state_text.get("n", 0))
        sess = c.session
        if state in (State.RAMP_UP, State.TREAT, State.REVERSING):
            s = self.program.loop.last_sample
            measured = max(s.current_a_ma, s.current_b_ma) if s is not None else 0.0
            target = c.target_now_ma or c.rx.target_ma
            left = None if sess is None else max(0.0, c.rx.duration_min * 60.0 - sess.treat_s)
            load = c.load_estimate
            return View(state, current_ma=max(0.0, measured), target_ma=target,
                        time_left_s=left,
                        conductance_ms=1000.0 / load if load and load > 0 else None)
        if state == State.PAUSED:
            code = self._last_code("pause")
            return View(state, pause_reason=PAUSE_WORDS.get(code, "Contact lost"))
        if state == State.DONE:
            done = c.sessions_done[-1] if c.sessions_done else None
            r = c.rating
            return View(state, dose_mas=done.dose_ma_min * 60.0 if done else None,
                        next_date=self._state_text.get("next"), rate_sweating=r.open,
                        score=r.score, score_saved=r.saved_at is not None,
                        score_failed=r.failed_at is not None)
        if state == State.FAULT:
            fault = c.fault
            code = fault.code if fault is not None else None
            # the fault's own definition says whether the patient may clear it (controller.faults)
            todo = "Fix, hold START 3 s" if fault is not None and fault.patient_clearable \
                else "Take hands out"
            if code is not None and len(code) > CODE_FITS:
                return View(state, fault_code=None, fault_todo=code[:21])
            return View(state, fault_code=code, fault_todo=todo)
        if state == State.SERVICE:
            return View(State.SELF_TEST)
        return View(state)

    def _last_code(self, kind: str) -> str | None:
        for ev in reversed(self.program.controller.events.events[-50:]):
            if ev.kind == kind:
                return ev.code
        return None

    # --- the observer -------------------------------------------------------------------------
    def after_period(self, loop, inp, cmd) -> None:
        now = loop.clock.now()
        if now - self._view_t >= VIEW_EVERY_S:
            self._view_t = now
            scr = screen(self.view(now))
            if scr != self._screen:
                self._screen = scr
                self._want = render(scr.lines, [(b.line, b.fraction) for b in scr.bars])
                self._dirty = True
                if self.record_frames:
                    self.frames.append((now, self.program.controller.state, bytes(self._want)))
        if self.showing and not self._dirty and now - self._check_t < CHECK_EVERY_S:
            return   # the glass shows the newest frame, and the chip was heard from lately
        if self._retry_at is not None:
            if now < self._retry_at:
                return
            self._retry_at = None
        room = BUDGET_SHARE * loop.period - (now - loop.next_t)
        try:
            self._send(now, room)
        except Exception as exc:  # noqa: BLE001 - a display error never reaches the control
            self._failed(now, exc)

    def _send(self, now: float, room: float) -> None:
        d = self.display
        if not d.started:
            if room < INIT_S:
                return
            d.begin()              # the chip answered and took its settings; the glass off
            self._known = set()    # its RAM holds no known page
            self._dirty = True
            room -= INIT_S
        want = self._want
        if want is None or room < PAGE_S:
            return
        width = d.width
        shown, known = self._shown, self._known
        for page in range(len(want) // width) if self._dirty else ():
            a, b = page * width, (page + 1) * width
            if page in known and shown[a:b] == want[a:b]:
                continue
            first, last = 0, width - 1
            if page in known:      # only the columns that differ
                while shown[a + first] == want[a + first]:
                    first += 1
                while shown[a + last] == want[a + last]:
                    last -= 1
            d.write_page(want, page, first, last)
            shown[a:b] = want[a:b]
            known.add(page)
            self.pages_sent += 1
            self._check_t = now
            return
        self._dirty = False
        if not self.showing:
            d.power_on()           # a whole frame is in the RAM: the glass on
            self.showing, self.problem = True, None
            self._retries = 0
            self._check_t = now
            if self._lost_said:
                self._lost_said = False
                self.program.controller.events.emit(
                    now, "info", "DISPLAY-BACK", "the display answers again and shows the "
                    "screen")
            return
        if now - self._check_t >= CHECK_EVERY_S:
            self._check_t = now
            d.ping()

    def _failed(self, now: float, exc: Exception) -> None:
        """A display error: not showing, said once, another attempt after the back-off."""
        self.errors += 1
        self.showing = False
        self.problem = str(exc) or type(exc).__name__
        self._known = set()
        self._dirty = True
        wait = RETRY_S[min(self._retries, len(RETRY_S) - 1)]
        self._retries += 1
        self._retry_at = now + wait
        if not self._lost_said:
            self._lost_said = True
            self.program.controller.events.emit(
                now, "warning", "DISPLAY-LOST",
                f"the display does not show the screen ({self.problem}); a session that runs "
                "goes on, START is refused until the display is back")
