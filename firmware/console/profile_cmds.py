"""``profile``: the people who share the unit, their screening, plan and outcome.

``profile list`` and ``profile show ID`` say what the unit holds; ``add``, ``select``,
``screen``, ``clear``, ``override``, ``hdss``, ``set`` and ``delete`` change it. Every command
needs the login (a profile holds a person's health answers), every change is refused while a
treatment runs, and each is in the audit trail with who (the console), what, and the record
before and after (the treatment log writes the row with the change, in one transaction). The
rules are :mod:`controller.course`'s; the dates are the real-time clock's (a clock that lost
its time refuses what needs a date: ``ERR CLOCK``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from controller import PrescriptionError
from controller.course import PHASES, SCREENING_QUESTIONS, Profile, Screening
from controller.limits import Prescription
from hal import ClockLostError

from .. import settings
from ..treatlog import ProfileError
from .settings_cmds import RX_KEYS, rx_values
from .values import key_values, num, parse

#: ``profile screen``'s keys and the screening's questions they answer
SCREEN_KEYS = {"pregnancy": "pregnancy", "epilepsy": "epilepsy", "heart": "heart_condition",
               "implant": "implant"}
#: ``profile set``'s keys beyond the prescription's (``rx set``'s, but site and child, which a
#: profile keeps from its ``add``): the type and the field
COURSE_KEYS = {"drug": (str, "drug"), "conc": (float, "drug_mg_ml"), "tray": (str, "drug_tray"),
               "maintenance": (int, "maintenance_days"), "comfort": (float, "comfort_ma"),
               "phase": (str, "phase")}
SET_RX_KEYS = {k: v for k, v in RX_KEYS.items() if k not in ("site", "child")}
SET_KEYS = {**SET_RX_KEYS, **COURSE_KEYS}
SITES = ("hands", "feet", "axillae")


def yes_no(v) -> str:
    return "yes" if v else "no"


def comfort_line(course, pid: str, profile) -> str:
    """Where the next session starts, and why when it is below the prescription."""
    if profile.comfort_ma is None:
        return "comfort: the prescription"
    why = course.comfort_why(pid)
    return (f"comfort: {num(profile.comfort_ma, 2)} mA"
            + (f" ({why})" if why else " (set by the technician)")
            + "; each session that counts raises the next one's start by 1 mA, up to "
            + f"{num(profile.prescription.target_ma, 2)}"
            + " mA; comfort=reset starts at the prescription")


def profile_lines(course, pid: str) -> list[str]:
    profile, extras = course.profile(pid)
    rx = rx_values(profile.prescription)
    lines = [f"id: {pid}{' (selected)' if pid == course.active else ''}",
             f"person: {'child' if profile.child else 'adult'}",
             *(f"{k}: {v}" for k, v in rx.items()),
             f"drug: {profile.drug}"]
    if profile.drug != "none":
        lines += [f"conc: {num(profile.drug_mg_ml, 3)} mg/ml", f"tray: {profile.drug_tray}",
                  f"medication mode: "
                  f"{'unlocked' if extras.get('medication_unlocked') else 'locked'}"]
    lines += [f"maintenance: every {profile.maintenance_days} days",
              comfort_line(course, pid, profile)]
    s = profile.screening
    if s is None:
        lines.append("screening: none (no treatment until it is recorded)")
    else:
        answers = " ".join(f"{k}={yes_no(getattr(s, f))}" for k, f in SCREEN_KEYS.items())
        lines.append(f"screening: {s.on.isoformat()} {answers}, expires "
                     f"{s.expires_on.isoformat()}")
        if s.cleared_by:
            lines.append(f"cleared: by {s.cleared_by} on {s.cleared_on.isoformat()}")
    ov = extras.get("override")
    if ov:
        lines.append(f"override: granted {ov['granted_at']} by {ov['by']} (one session)")
    try:
        now = course.calendar.now()
    except ClockLostError as exc:
        lines.append(f"plan: unknown ({exc})")
    else:
        due = course.due(pid, now)
        lines.append(f"phase: {course.phases(pid, now.date())[-1].phase}")
        nxt = "-" if due.next_date is None else due.next_date.isoformat()
        lines.append(f"plan: {due.status}, next due {nxt}")
        if due.refusal is not None:
            lines.append(f"too soon: {due.refusal.message}")
    hdss = course.log.hdss_of(pid)
    if hdss:
        lines.append("hdss: " + " ".join(f"{h['date']}={h['score']}" for h in hdss[-6:]))
    lines.append(f"sessions: {len(course.log.sessions_of(pid))} "
                 f"({len(course.history(pid))} counted)")
    return lines


class ProfileCommands:
    """The ``profile`` sub-commands of one console, each a method of its own."""

    def __init__(self, con):
        self.con = con

    def course(self):
        return self.con.program.course

    def today(self) -> date:
        return self.course().today()

    def refused(self, exc) -> tuple[list[str], str]:
        if isinstance(exc, ClockLostError):
            return [], f"ERR CLOCK: {exc}; nothing was changed"
        if isinstance(exc, PrescriptionError):
            shown = num(exc.value, 4) if isinstance(exc.value, float) else exc.value
            return [], f"ERR VALUE: {exc.field} = {shown}: {exc.allowed}; nothing was changed"
        return [], f"ERR VALUE: {exc}; nothing was changed"

    def change(self, pid, fn):
        """Apply ``fn(profile, extras) -> (profile, extras)`` and save it (its audit row)."""
        try:
            profile, extras = self.course().profile(pid)
            profile, extras = fn(profile, extras)
            self.course().save(profile, extras, self.con.name)
        except (ValueError, PrescriptionError, ProfileError, ClockLostError) as exc:
            return self.refused(exc)
        return profile_lines(self.course(), pid), "OK"

    def cmd_list(self, args):
        profiles = self.course().log.profiles()
        if not profiles:
            return ["no profiles: add one with profile add ID SITE child|adult"], "OK"
        lines = []
        for pid in profiles:
            mark = "*" if pid == self.course().active else " "
            try:
                prof, _ = self.course().profile(pid)
                what = (f"{prof.prescription.site} {'child' if prof.child else 'adult'} "
                        f"{'screened' if prof.screening else 'not screened'}")
            except (PrescriptionError, ProfileError, TypeError, KeyError) as exc:
                what = f"invalid ({exc})"
            lines.append(f"{mark} {pid}: {what}")
        return lines, "OK"

    def cmd_show(self, args):
        try:
            return profile_lines(self.course(), args[0]), "OK"
        except (ProfileError, PrescriptionError) as exc:
            return self.refused(exc)

    def cmd_report(self, args):
        """The course of one profile, as ``ionto log --profile ID`` prints it."""
        from ..coursereport import course_report, report_lines
        pid = args[0]
        if pid not in self.course().log.profiles():
            return [], f"ERR NOT-FOUND: no profile {pid[:16]}; 'profile list' shows them"
        return [line or "-" for line in report_lines(course_report(self.course().log, pid))], "OK"

    def cmd_add(self, args):
        pid, site, who = args
        if site not in SITES:
            return [], f"ERR VALUE: site '{site[:16]}': one of {', '.join(SITES)}"
        if who not in ("child", "adult"):
            return [], f"ERR VALUE: '{who[:16]}': child or adult"
        if pid in self.course().log.profiles():
            return [], f"ERR VALUE: profile {pid} exists; change it with profile set"
        child = who == "child"
        lim = self.con.program.controller.limits
        rx = Prescription(site=site, child=child)
        try:
            rx = rx.validated(lim)
        except PrescriptionError as exc:
            if exc.field != "target_ma":
                return self.refused(exc)
            rx = replace(rx, target_ma=lim.site_limit(site, child)).validated(lim)
        try:
            self.course().save(Profile(id=pid, prescription=rx, child=child), {}, self.con.name)
        except (PrescriptionError, ProfileError) as exc:
            return self.refused(exc)
        return profile_lines(self.course(), pid), "OK"

    def cmd_select(self, args):
        pid = args[0]
        before = self.course().active
        try:
            profile, _ = self.course().profile(pid)
            rx = self.con.program.controller.set_prescription(profile.prescription)
            settings.save(self.con.data_dir, rx=rx)
            self.course().select(pid)
        except (PrescriptionError, ProfileError, OSError) as exc:
            return self.refused(exc)
        warn = self.con.audit("profile select", before, pid)
        return [f"selected: {pid}", *([warn] if warn else [])], "OK"

    def cmd_screen(self, args):
        try:
            kv = key_values(args[1:], SCREEN_KEYS)
            missing = [k for k in SCREEN_KEYS if k not in kv]
            if missing:
                raise ValueError(f"every question needs its answer: {', '.join(missing)} "
                                 "missing (yes or no)")
            answers = {SCREEN_KEYS[k]: parse(v, bool) for k, v in kv.items()}
            on = self.today()
        except (ValueError, ClockLostError) as exc:
            return self.refused(exc)
        assert set(answers) == set(SCREENING_QUESTIONS)
        return self.change(args[0], lambda prof, ex: (replace(prof, screening=Screening(
            **answers, on=on)), ex))

    def cmd_clear(self, args):
        pid, by = args[0], " ".join(args[1:])

        def clear(prof, ex):
            s = prof.screening
            if s is None:
                raise ValueError(f"profile {pid} has no screening to clear: profile screen first")
            if not s.answered_yes:
                raise ValueError(f"profile {pid}'s screening answered no to every question: "
                                 "nothing to clear")
            return replace(prof, screening=replace(s, cleared_by=by, cleared_on=self.today())), ex
        return self.change(pid, clear)

    def cmd_override(self, args):
        def grant(prof, ex):
            now = self.course().calendar.now()
            return prof, {**ex, "override": {"granted_at": now.isoformat(timespec="seconds"),
                                             "by": self.con.name, "reason": "technician"}}
        reply = self.change(args[0], grant)
        if reply[1] == "OK":
            self.course().log.course_event(args[0], "override", "OVERRIDE-GRANTED",
                                      {"by": self.con.name, "at": self.course().calendar.stamp()})
        return reply

    def cmd_hdss(self, args):
        pid = args[0]
        try:
            score = int(args[1])
        except ValueError:
            return [], f"ERR VALUE: '{args[1][:16]}' is not a score; a whole number 1 to 4"
        try:
            day = self.today()
            self.course().log.record_hdss(pid, day, score, self.con.name)
            phase = self.course().refresh_phase(pid, day)
        except (ProfileError, ClockLostError) as exc:
            return self.refused(exc)
        warn = self.con.audit("profile hdss", None, f"{pid} {day.isoformat()} hdss={score}")
        return [f"hdss: {pid} {day.isoformat()} {score}", f"phase: {phase}",
                *([warn] if warn else [])], "OK"

    def cmd_set(self, args):
        pid = args[0]
        try:
            kv = key_values(args[1:], SET_KEYS)
        except ValueError as exc:
            return self.refused(exc)

        def apply(prof, ex):
            rx_new = {}
            for k, v in kv.items():
                if k in SET_RX_KEYS:
                    rx_new[RX_KEYS[k][1]] = parse(v, RX_KEYS[k][0])
            ex = dict(ex)
            fields_ = {}
            for k, v in kv.items():
                if k not in COURSE_KEYS:
                    continue
                typ, field = COURSE_KEYS[k]
                if k == "phase":
                    if v not in PHASES:
                        raise ValueError(f"phase '{v[:16]}': one of {', '.join(PHASES)}")
                    ex["decisions"] = [*ex.get("decisions", []), [self.today().isoformat(), v]]
                elif k == "maintenance":
                    try:
                        fields_[field] = int(v)
                    except ValueError:
                        raise ValueError(f"'{v[:16]}' is not a whole number of days") from None
                elif k == "comfort" and v in ("reset", "none", "-"):
                    fields_[field] = None
                else:
                    fields_[field] = parse(v, typ)
            if "drug" in fields_:   # the medication mode: set by the technician only
                if fields_["drug"] == "none":
                    fields_.setdefault("drug_mg_ml", None)
                    fields_.setdefault("drug_tray", None)
                    ex.pop("medication_unlocked", None)
                else:
                    ex["medication_unlocked"] = True
                    rx_new.setdefault("reverse_polarity", False)
            rx = replace(prof.prescription, **rx_new)
            return replace(prof, prescription=rx, **fields_), ex
        reply = self.change(pid, apply)
        if reply[1] == "OK" and pid == self.course().active:
            try:
                prof, _ = self.course().profile(pid)
                self.con.program.controller.set_prescription(prof.prescription)
            except (PrescriptionError, RuntimeError):
                pass
        return reply

    def cmd_delete(self, args):
        pid = args[0]
        try:
            self.course().log.delete_profile(pid, who=self.con.name,
                                             t_s=self.con.program.clock.now())
        except ProfileError as exc:
            return self.refused(exc)
        if self.course().active == pid:
            self.course().active = next(iter(self.course().log.profiles()), None)
        return [f"deleted: {pid}"], "OK"


def register(con) -> None:
    """Declare the ``profile`` sub-commands on console ``con``."""
    cmds = ProfileCommands(con)
    reg = con.registry
    reg.command("profile", "the people who share the unit: screening, plan, outcome",
                "profile add ID SITE child|adult, then profile screen and profile select; "
                "set keys: " + " ".join(SET_KEYS))
    reg.register("profile list", cmds.cmd_list, default=True,
                 desc="the profiles (* the selected one)")
    reg.register("profile show", cmds.cmd_show, args="ID", nargs=(1, 1),
                 desc="a profile: prescription, drug, screening, phase, next due date")
    reg.register("profile report", cmds.cmd_report, args="ID", nargs=(1, 1),
                 desc="the course: sessions a week against the plan, dose, HDSS, phase, "
                      "adherence, next due date (CSV and a plot: ionto log --profile ID)")
    reg.register("profile add", cmds.cmd_add, args="ID SITE child|adult", nargs=(3, 3),
                 idle_only=True, desc="add a profile (at most 6), e.g. profile add anna hands "
                                      "adult")
    reg.register("profile select", cmds.cmd_select, args="ID", nargs=(1, 1), idle_only=True,
                 desc="the profile the next session treats")
    reg.register("profile screen", cmds.cmd_screen, args="ID pregnancy= epilepsy= heart= implant=",
                 nargs=(5, 5), idle_only=True,
                 desc="record the screening today, e.g. profile screen anna pregnancy=no "
                      "epilepsy=no heart=no implant=no")
    reg.register("profile clear", cmds.cmd_clear, args="ID BY", nargs=(2, None), idle_only=True,
                 desc="record a doctor's clearance of a yes in the screening, today")
    reg.register("profile override", cmds.cmd_override, args="ID", nargs=(1, 1), idle_only=True,
                 desc="let one session through a too-soon refusal (within the hour)")
    reg.register("profile hdss", cmds.cmd_hdss, args="ID SCORE", nargs=(2, 2), idle_only=True,
                 desc="enter today's HDSS score, 1 (never noticeable) to 4 (intolerable)")
    reg.register("profile set", cmds.cmd_set, args="ID key=value ...", nargs=(2, None),
                 idle_only=True, desc="change a profile, e.g. profile set anna target=12 "
                                      "maintenance=14")
    reg.register("profile delete", cmds.cmd_delete, args="ID", nargs=(1, 1), idle_only=True,
                 desc="remove a profile that has no treatment records")


__all__ = ["register"]
