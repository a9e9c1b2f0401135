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
              f"comfort: {num(profile.comfort_ma, 2)} mA" if profile.comfort_ma is not None
              else "comfort: the prescription"]
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


def register(con) -> None:
    reg = con.registry
    p = con.program

    def course():
        return p.course

    def today() -> date:
        return course().today()

    def refused(exc) -> tuple[list[str], str]:
        if isinstance(exc, ClockLostError):
            return [], f"ERR CLOCK: {exc}; nothing was changed"
        if isinstance(exc, PrescriptionError):
            shown = num(exc.value, 4) if isinstance(exc.value, float) else exc.value
            return [], f"ERR VALUE: {exc.field} = {shown}: {exc.allowed}; nothing was changed"
        return [], f"ERR VALUE: {exc}; nothing was changed"

    def change(pid, fn):
        """Apply ``fn(profile, extras) -> (profile, extras)`` and save it (its audit row)."""
        try:
            profile, extras = course().profile(pid)
            profile, extras = fn(profile, extras)
            course().save(profile, extras, con.name)
        except (ValueError, PrescriptionError, ProfileError, ClockLostError) as exc:
            return refused(exc)
        return profile_lines(course(), pid), "OK"

    def cmd_list(args):
        profiles = course().log.profiles()
        if not profiles:
            return ["no profiles: add one with profile add ID SITE child|adult"], "OK"
        lines = []
        for pid in profiles:
            mark = "*" if pid == course().active else " "
            try:
                prof, _ = course().profile(pid)
                what = (f"{prof.prescription.site} {'child' if prof.child else 'adult'} "
                        f"{'screened' if prof.screening else 'not screened'}")
            except (PrescriptionError, ProfileError, TypeError, KeyError) as exc:
                what = f"invalid ({exc})"
            lines.append(f"{mark} {pid}: {what}")
        return lines, "OK"

    def cmd_show(args):
        try:
            return profile_lines(course(), args[0]), "OK"
        except (ProfileError, PrescriptionError) as exc:
            return refused(exc)

    def cmd_add(args):
        pid, site, who = args
        if site not in SITES:
            return [], f"ERR VALUE: site '{site[:16]}': one of {', '.join(SITES)}"
        if who not in ("child", "adult"):
            return [], f"ERR VALUE: '{who[:16]}': child or adult"
        if pid in course().log.profiles():
            return [], f"ERR VALUE: profile {pid} exists; change it with profile set"
        child = who == "child"
        lim = p.controller.limits
        rx = Prescription(site=site, child=child)
        try:
            rx = rx.validated(lim)
        except PrescriptionError as exc:
            if exc.field != "target_ma":
                return refused(exc)
            rx = replace(rx, target_ma=lim.site_limit(site, child)).validated(lim)
        try:
            course().save(Profile(id=pid, prescription=rx, child=child), {}, con.name)
        except (PrescriptionError, ProfileError) as exc:
            return refused(exc)
        return profile_lines(course(), pid), "OK"

    def cmd_select(args):
        pid = args[0]
        before = course().active
        try:
            profile, _ = course().profile(pid)
            rx = p.controller.set_prescription(profile.prescription)
            settings.save(con.data_dir, rx=rx)
            course().select(pid)
        except (PrescriptionError, ProfileError, OSError) as exc:
            return refused(exc)
        warn = con.audit("profile select", before, pid)
        return [f"selected: {pid}", *([warn] if warn else [])], "OK"

    def cmd_screen(args):
        try:
            kv = key_values(args[1:], SCREEN_KEYS)
            missing = [k for k in SCREEN_KEYS if k not in kv]
            if missing:
                raise ValueError(f"every question needs its answer: {', '.join(missing)} "
                                 "missing (yes or no)")
            answers = {SCREEN_KEYS[k]: parse(v, bool) for k, v in kv.items()}
            on = today()
        except (ValueError, ClockLostError) as exc:
            return refused(exc)
        assert set(answers) == set(SCREENING_QUESTIONS)
        return change(args[0], lambda prof, ex: (replace(prof, screening=Screening(
            **answers, on=on)), ex))

    def cmd_clear(args):
        pid, by = args[0], " ".join(args[1:])

        def clear(prof, ex):
            s = prof.screening
            if s is None:
                raise ValueError(f"profile {pid} has no screening to clear: profile screen first")
            if not s.answered_yes:
                raise ValueError(f"profile {pid}'s screening answered no to every question: "
                                 "nothing to clear")
            return replace(prof, screening=replace(s, cleared_by=by, cleared_on=today())), ex
        return change(pid, clear)

    def cmd_override(args):
        def grant(prof, ex):
            now = course().calendar.now()
            return prof, {**ex, "override": {"granted_at": now.isoformat(timespec="seconds"),
                                             "by": con.name, "reason": "technician"}}
        reply = change(args[0], grant)
        if reply[1] == "OK":
            course().log.course_event(args[0], "override", "OVERRIDE-GRANTED",
                                      {"by": con.name, "at": course().calendar.stamp()})
        return reply

    def cmd_hdss(args):
        pid = args[0]
        try:
            score = int(args[1])
        except ValueError:
            return [], f"ERR VALUE: '{args[1][:16]}' is not a score; a whole number 1 to 4"
        try:
            day = today()
            course().log.record_hdss(pid, day, score, con.name)
            phase = course().refresh_phase(pid, day)
        except (ProfileError, ClockLostError) as exc:
            return refused(exc)
        warn = con.audit("profile hdss", None, f"{pid} {day.isoformat()} hdss={score}")
        return [f"hdss: {pid} {day.isoformat()} {score}", f"phase: {phase}",
                *([warn] if warn else [])], "OK"

    def cmd_set(args):
        pid = args[0]
        try:
            kv = key_values(args[1:], SET_KEYS)
        except ValueError as exc:
            return refused(exc)

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
                    ex["decisions"] = [*ex.get("decisions", []), [today().isoformat(), v]]
                elif k == "maintenance":
                    try:
                        fields_[field] = int(v)
                    except ValueError:
                        raise ValueError(f"'{v[:16]}' is not a whole number of days") from None
                elif k == "comfort" and v in ("none", "-"):
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
        reply = change(pid, apply)
        if reply[1] == "OK" and pid == course().active:
            try:
                prof, _ = course().profile(pid)
                p.controller.set_prescription(prof.prescription)
            except (PrescriptionError, RuntimeError):
                pass
        return reply

    def cmd_delete(args):
        pid = args[0]
        try:
            course().log.delete_profile(pid, who=con.name, t_s=p.clock.now())
        except ProfileError as exc:
            return refused(exc)
        if course().active == pid:
            course().active = next(iter(course().log.profiles()), None)
        return [f"deleted: {pid}"], "OK"

    reg.command("profile", "the people who share the unit: screening, plan, outcome",
                "profile add ID SITE child|adult, then profile screen and profile select; "
                "set keys: " + " ".join(SET_KEYS))
    reg.register("profile list", cmd_list, default=True,
                 desc="the profiles (* the selected one)")
    reg.register("profile show", cmd_show, args="ID", nargs=(1, 1),
                 desc="a profile: prescription, drug, screening, phase, next due date")
    reg.register("profile add", cmd_add, args="ID SITE child|adult", nargs=(3, 3),
                 idle_only=True, desc="add a profile (at most 6), e.g. profile add anna hands "
                                      "adult")
    reg.register("profile select", cmd_select, args="ID", nargs=(1, 1), idle_only=True,
                 desc="the profile the next session treats")
    reg.register("profile screen", cmd_screen, args="ID pregnancy= epilepsy= heart= implant=",
                 nargs=(5, 5), idle_only=True,
                 desc="record the screening today, e.g. profile screen anna pregnancy=no "
                      "epilepsy=no heart=no implant=no")
    reg.register("profile clear", cmd_clear, args="ID BY", nargs=(2, None), idle_only=True,
                 desc="record a doctor's clearance of a yes in the screening, today")
    reg.register("profile override", cmd_override, args="ID", nargs=(1, 1), idle_only=True,
                 desc="let one session through a too-soon refusal (within the hour)")
    reg.register("profile hdss", cmd_hdss, args="ID SCORE", nargs=(2, 2), idle_only=True,
                 desc="enter today's HDSS score, 1 (never noticeable) to 4 (intolerable)")
    reg.register("profile set", cmd_set, args="ID key=value ...", nargs=(2, None),
                 idle_only=True, desc="change a profile, e.g. profile set anna target=12 "
                                      "maintenance=14")
    reg.register("profile delete", cmd_delete, args="ID", nargs=(1, 1), idle_only=True,
                 desc="remove a profile that has no treatment records")


__all__ = ["register"]
