"""The patient's screens: pure functions from a small view model to what the display shows.

A screen is at most four lines of text (21 characters each, the 5x8 font of ``hal.display``)
and a few bars (a filled fraction drawn in the dark rows between two lines). Nothing here talks
to the bus; the words are short and plain, for lay users and children (IEC 60601-1-11: a reader
with eight years of school). The profile, due status and advice fields are optional: the screen
leaves out what it is not told.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.rating import SCORE_WORDS

COLUMNS = 21
MAX_LINES = 4


@dataclass(frozen=True)
class View:
    state: str
    profile: str | None = None
    due: str | None = None
    current_ma: float = 0.0
    target_ma: float = 0.0
    time_left_s: float | None = None
    conductance_ms: float | None = None
    conductance_full_ms: float = 10.0
    pause_reason: str | None = None
    fault_code: str | None = None
    fault_todo: str | None = None
    advice: tuple[str, ...] = ()
    dose_mas: float | None = None
    next_date: str | None = None
    #: the DONE screen asks for the sweating score (controller/rating.py) ...
    rate_sweating: bool = False
    #: ... the score shown (None before the first press of SELECT), and whether it was saved
    #: or the log refused it
    score: int | None = None
    score_saved: bool = False
    score_failed: bool = False
    #: the number of profiles on the unit: with more than one, IDLE says what SELECT does
    profiles: int = 0


@dataclass(frozen=True)
class Bar:
    """A bar under text line ``line`` (0-3), filled to ``fraction`` (0-1)."""
    line: int
    fraction: float


@dataclass(frozen=True)
class Screen:
    lines: tuple[str, ...]
    bars: tuple[Bar, ...] = field(default=())


def _fit(text: str) -> str:
    if len(text) > COLUMNS:
        raise ValueError(f"{text!r} has {len(text)} characters; at most {COLUMNS} fit")
    return text


def _mmss(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = max(0, int(round(seconds)))
    return f"{s // 60}:{s % 60:02d} left"


def _frac(a: float, b: float) -> float:
    return 0.0 if b <= 0 else max(0.0, min(1.0, a / b))


def screen(v: View) -> Screen:
    """The screen for view ``v``; ``ValueError`` for a state it does not know."""
    st = v.state
    bars: list[Bar] = []
    if st == "IDLE":
        lines = [f"Ready: {v.profile}" if v.profile else "Ready", v.due or "", "Press START",
                 "SELECT = next person" if v.profiles > 1 else ""]
    elif st == "SELF_TEST":
        lines = ["Checking the device", "Please wait"]
    elif st == "WAIT_CONTACT":
        lines = ["Put both hands", "in the water", "", "START = stop"]
    elif st in ("RAMP_UP", "TREAT"):
        pct = round(100 * _frac(v.current_ma, v.target_ma))
        head = "Current going up" if st == "RAMP_UP" else "Treatment on"
        lines = [head, f"{v.current_ma:.1f} of {v.target_ma:.1f} mA {pct}%",
                 _mmss(v.time_left_s), "Keep hands still"]
        bars.append(Bar(1, _frac(v.current_ma, v.target_ma)))
        if v.conductance_ms is not None:
            bars.append(Bar(2, _frac(v.conductance_ms, v.conductance_full_ms)))
    elif st == "PAUSED":
        lines = ["Paused", v.pause_reason or "", "Put both hands", "back in the water"]
    elif st == "REVERSING":
        lines = ["Switching the", "current's direction", "Keep hands in", _mmss(v.time_left_s)]
    elif st == "RAMP_DOWN":
        lines = ["Nearly done", "Current going down", "Keep hands in", ""]
    elif st == "DONE":
        dose = f"Dose {v.dose_mas / 60:.0f} mA min" if v.dose_mas is not None else ""
        nxt = f"Next: {v.next_date}" if v.next_date else ""
        if v.score_saved and v.score is not None:
            lines = ["Thank you!", f"Sweating {v.score} saved", nxt, "Moisturise your skin"]
        elif v.score_failed:
            lines = ["Score not saved", "Tell the technician", nxt, "Moisturise your skin"]
        elif v.rate_sweating and v.score is not None:
            lines = ["Rate your sweating:", f"{v.score} {SCORE_WORDS[v.score]}",
                     "SELECT = change", "START = save"]
        else:
            lines = ["Done! Dry your hands", dose, nxt,
                     "SELECT: rate sweating" if v.rate_sweating else "Moisturise your skin"]
    elif st == "FAULT":
        lines = [f"Stopped: {v.fault_code or 'fault'}", v.fault_todo or "Take hands out",
                 "", "Press START"]
    elif st == "ADVICE":
        lines = list(v.advice[:MAX_LINES])
    else:
        raise ValueError(f"no screen for state {st!r}")
    while lines and not lines[-1]:
        lines.pop()
    return Screen(tuple(_fit(x) for x in lines), tuple(bars))


#: advice lines, each short enough for one line
ADVICE = {
    "baking_soda": ("Add 1 teaspoon of", "baking soda to", "each tray. No salt."),
    # the drug's tray is the one the profile names (A or B, marked on the unit); the session
    # makes it the anode (hardware/README.md, "Output path")
    "drug_tray": ("The drug goes in", "the tray your profile", "names."),
    "cuts": ("Cover small cuts", "with petroleum jelly"),
    "dry_skin": ("Dry skin? Use a", "moisturiser after"),
}
