"""The course of treatment (controller/course.py): profiles, screening, the plan's due and
too-soon, the HDSS phases, the water advice, the medication mode and the comfort level. Pure
logic with the date passed in: every boundary is tested on both sides."""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.course import (
    CLOCK_LOST,
    CONTRAINDICATED,
    DRUG_MAX_MA,
    HIGH_LOAD_OHM,
    LOW_LOAD_OHM,
    MAINTENANCE,
    MEDICATION_LOCKED,
    NO_SALT,
    NOT_RESPONDING,
    NOT_SCREENED,
    SOFT_WATER,
    TOO_SOON,
    LoadFigures,
    Override,
    Profile,
    Screening,
    add_months,
    check_profiles,
    check_visit,
    comfort_step_down,
    current_phase,
    due,
    effective_prescription,
    next_comfort_ma,
    next_due_date,
    next_hdss_date,
    phase_history,
    screening_refusal,
    session_setup,
    water_advice,
)
from controller.limits import CHILD_AREA_CM2, Prescription, PrescriptionError

PROPS = settings(max_examples=int(os.environ.get("IONTO_HYPOTHESIS_EXAMPLES", "60")),
                 deadline=None, suppress_health_check=list(HealthCheck),
                 derandomize=not os.environ.get("IONTO_HYPOTHESIS_RANDOM"))

START = date(2027, 1, 4)     # a Monday
MON = datetime(2027, 1, 4, 19, 30)
NO = dict(pregnancy=False, epilepsy=False, heart_condition=False, implant=False)


def screened(on=START, **answers):
    return Screening(**{**NO, **answers}, on=on)


def profile(**kw):
    kw.setdefault("screening", screened())
    return Profile(kw.pop("id", "anna"), **kw)


def drug_profile(**kw):
    rx = kw.pop("prescription", Prescription(target_ma=8.0))
    return profile(prescription=rx, drug="glycopyrronium", drug_mg_ml=0.5, drug_tray="B", **kw)


def field_of(exc):
    return exc.value.field


# --- profiles ----------------------------------------------------------------------------------

def test_a_profile_round_trips_through_its_stored_form():
    p = drug_profile(screening=Screening(**{**NO, "implant": True}, on=START,
                                         cleared_by="Dr Weber", cleared_on=START),
                     maintenance_days=14, comfort_ma=6.5).validated()
    d = json.loads(json.dumps(p.to_dict()))
    assert Profile.from_dict(d) == p
    assert set(d) == {"id", "child", "prescription", "drug", "drug_mg_ml", "drug_tray",
                      "screening", "maintenance_days", "comfort_ma"}
    assert d["screening"]["on"] == "2027-01-04" and d["prescription"]["area_cm2"] == 110.0
    plain = Profile("bo").validated()
    assert Profile.from_dict(json.loads(json.dumps(plain.to_dict()))) == plain
    assert plain.to_dict()["screening"] is None


@PROPS
@given(st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True),
       st.sampled_from(["hands", "feet", "axillae"]), st.booleans(),
       st.floats(min_value=0.01, max_value=1.0), st.booleans(),
       st.one_of(st.none(), st.floats(min_value=0.01, max_value=1.0)),
       st.integers(min_value=7, max_value=28), st.booleans())
def test_any_valid_profile_round_trips(pid, site, child, share, drug, comfort, days, yes):
    rx = Prescription(site=site, child=child, target_ma=share * (5.0 if site == "axillae"
                                                                  else 8.0 if drug else 15.0))
    kw = dict(drug="glycopyrronium", drug_mg_ml=0.5, drug_tray="A") if drug else {}
    s = Screening(**{**NO, "epilepsy": yes}, on=START, cleared_by="Dr W" if yes else None,
                  cleared_on=START if yes else None)
    p = Profile(pid, rx, screening=s, maintenance_days=days, child=child,
                comfort_ma=None if comfort is None else comfort * rx.target_ma, **kw).validated()
    assert Profile.from_dict(json.loads(json.dumps(p.to_dict()))) == p


@pytest.mark.parametrize("bad", [{"nickname": "x"}, {"prescription": {"colour": "red"}},
                                 {"screening": {**NO, "on": "2027-13-01"}},
                                 {"screening": {**NO}}, {"prescription": "hands"}])
def test_the_stored_form_refuses_unknown_missing_or_malformed_fields(bad):
    d = {**Profile("anna").validated().to_dict(), **bad}
    with pytest.raises(PrescriptionError) as exc:
        Profile.from_dict(d)
    assert exc.value.allowed


@pytest.mark.parametrize("good", ["a", "anna", "a-1", "abcdefghijkl"])
def test_ids_that_are_allowed(good):
    assert Profile(good).validated().id == good


@pytest.mark.parametrize("bad", ["", "abcdefghijklm", "Anna", "an na", "jörg", "a_b", 7])
def test_ids_that_are_refused_name_what_is_allowed(bad):
    with pytest.raises(PrescriptionError) as exc:
        Profile(bad).validated()
    assert field_of(exc) == "id" and "1 to 12 characters" in str(exc.value)


def test_six_profiles_on_a_unit_and_no_seventh_nor_two_of_one_id():
    six = [Profile(f"p{i}") for i in range(6)]
    check_profiles(six)
    with pytest.raises(PrescriptionError) as exc:
        check_profiles([*six, Profile("p6")])
    assert "at most 6" in str(exc.value)
    with pytest.raises(PrescriptionError) as exc:
        check_profiles([Profile("anna"), Profile("anna")])
    assert field_of(exc) == "id"


@pytest.mark.parametrize("days,ok", [(6, False), (7, True), (28, True), (29, False),
                                     (True, False), (7.0, False)])
def test_the_maintenance_interval_is_7_to_28_days(days, ok):
    p = profile(maintenance_days=days)
    if ok:
        assert p.validated().maintenance_days == days
    else:
        with pytest.raises(PrescriptionError) as exc:
            p.validated()
        assert field_of(exc) == "maintenance_days"
    assert Profile("x").maintenance_days == 7


@pytest.mark.parametrize("kw,field", [
    ({"drug": "aspirin"}, "drug"),
    ({"drug": "glycopyrronium", "drug_tray": "A"}, "drug_mg_ml"),
    ({"drug": "glycopyrronium", "drug_mg_ml": 5.0, "drug_tray": "A"}, "drug_mg_ml"),
    ({"drug": "glycopyrronium", "drug_mg_ml": 0.5}, "drug_tray"),
    ({"drug": "glycopyrronium", "drug_mg_ml": 0.5, "drug_tray": "C"}, "drug_tray"),
    ({"drug_mg_ml": 0.5}, "drug_mg_ml"),
    ({"drug_tray": "A"}, "drug_tray"),
    ({"comfort_ma": 0.0}, "comfort_ma"),
    ({"comfort_ma": "low"}, "comfort_ma"),
])
def test_drug_and_comfort_fields_are_checked(kw, field):
    rx = Prescription(target_ma=8.0)
    with pytest.raises(PrescriptionError) as exc:
        profile(prescription=rx, **kw).validated()
    assert field_of(exc) == field


def test_a_comfort_level_at_or_above_the_target_is_the_prescription_itself():
    assert profile(comfort_ma=15.0).validated().comfort_ma is None
    assert profile(comfort_ma=12).validated().comfort_ma == 12.0


@pytest.mark.hazard("H-PROFILE-1")
def test_a_childs_profile_refuses_an_adults_prescription():
    with pytest.raises(PrescriptionError) as exc:
        profile(child=True, prescription=Prescription(target_ma=15.0)).validated()
    assert field_of(exc) == "prescription.child" and "child's prescription" in str(exc.value)
    # a child's prescription copied from an adult's, with the adult's area filled in
    adults = Prescription(site="feet", target_ma=12.0).validated()
    assert adults.area_cm2 == 130.0
    with pytest.raises(PrescriptionError) as exc:
        profile(child=True, prescription=Prescription(
            site="feet", target_ma=12.0, child=True, area_cm2=adults.area_cm2)).validated()
    assert field_of(exc) == "prescription.area_cm2" and "at most 80 cm2" in str(exc.value)


@pytest.mark.hazard("H-PROFILE-1", "H-SITE-1")
def test_a_childs_profile_carries_the_childs_limits_and_area():
    p = profile(child=True, prescription=Prescription(target_ma=15.0, child=True)).validated()
    assert p.prescription.area_cm2 == CHILD_AREA_CM2["hands"]
    smaller = Prescription(target_ma=10.0, child=True, area_cm2=CHILD_AREA_CM2["hands"] - 5)
    assert profile(child=True, prescription=smaller).validated().prescription.area_cm2 == 55.0
    with pytest.raises(PrescriptionError) as exc:
        profile(child=True, prescription=Prescription(target_ma=15.5, child=True)).validated()
    assert field_of(exc) == "target_ma" and "to 15 mA" in str(exc.value)
    d = p.to_dict()
    d["prescription"]["child"] = False
    with pytest.raises(PrescriptionError):
        Profile.from_dict(d)


# --- screening ---------------------------------------------------------------------------------

@pytest.mark.hazard("H-SCREEN-1")
def test_no_treatment_before_the_screening():
    r = screening_refusal(None, START)
    assert r.code == NOT_SCREENED and "screening questions" in r.message
    v = check_visit(profile(screening=None), [], MON)
    assert not v.may_treat and v.refusal.code == NOT_SCREENED and v.setup is None


@pytest.mark.hazard("H-SCREEN-1")
@pytest.mark.parametrize("question", ["pregnancy", "epilepsy", "heart_condition", "implant"])
def test_any_yes_blocks_until_a_clearance_is_recorded(question):
    s = screened(**{question: True})
    assert screening_refusal(s, START).code == CONTRAINDICATED
    assert check_visit(profile(screening=s), [], MON).refusal.code == CONTRAINDICATED
    cleared = Screening(**{**NO, question: True}, on=START, cleared_by="Dr Weber",
                        cleared_on=START + timedelta(days=3))
    assert screening_refusal(cleared, START + timedelta(days=2)).code == CONTRAINDICATED
    assert screening_refusal(cleared, START + timedelta(days=3)) is None
    assert check_visit(profile(screening=cleared), [], MON + timedelta(days=3)).may_treat
    assert screening_refusal(screened(), START) is None


@pytest.mark.hazard("H-SCREEN-1")
def test_a_clearance_needs_a_name_a_date_and_no_date_before_the_screening():
    for kw in ({"cleared_by": "Dr Weber"}, {"cleared_on": START},
               {"cleared_by": "  ", "cleared_on": START},
               {"cleared_by": "Dr Weber", "cleared_on": START - timedelta(days=1)}):
        with pytest.raises(PrescriptionError) as exc:
            Screening(**{**NO, "epilepsy": True}, on=START, **kw).validated()
        assert field_of(exc).startswith("screening.cleared")
    with pytest.raises(PrescriptionError):
        Screening(**{**NO, "epilepsy": "no"}, on=START).validated()
    with pytest.raises(PrescriptionError):
        Screening(**NO, on=MON).validated()   # a date, not a time


@pytest.mark.hazard("H-SCREEN-1")
def test_a_screening_expires_after_12_months():
    s = screened(on=date(2027, 1, 4))
    assert s.expires_on == date(2028, 1, 4)
    assert screening_refusal(s, date(2028, 1, 3)) is None
    r = screening_refusal(s, date(2028, 1, 4))
    assert r.code == NOT_SCREENED and r.message.startswith("screening expired on 2028-01-04")
    v = check_visit(profile(screening=s), [], datetime(2028, 1, 4, 8, 0))
    assert v.refusal.code == NOT_SCREENED and "expired" in v.refusal.message
    leap = screened(on=date(2028, 2, 29))
    assert leap.expires_on == date(2029, 2, 28)
    assert add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)


@pytest.mark.hazard("H-SCREEN-1", "H-CLOCK-1")
def test_a_screening_dated_after_today_does_not_count():
    r = screening_refusal(screened(on=date(2027, 3, 1)), date(2027, 2, 28))
    assert r.code == NOT_SCREENED and "clock" in r.message


# --- the plan ----------------------------------------------------------------------------------

def test_the_first_session_is_due_and_then_three_a_week():
    first = due([], MON)
    assert first.status == "due" and first.may_treat and first.next_date is None
    s = [MON]
    assert next_due_date(s) == date(2027, 1, 6)                      # Wednesday
    tue, wed, thu, fri = (MON + timedelta(days=k) for k in (1, 2, 3, 4))
    assert due(s, tue).status == "not-yet-due" and due(s, tue).may_treat
    assert due(s, wed).status == "due"
    assert due(s, thu).status == "due"
    assert due(s, fri).status == "overdue"
    week = [MON, MON + timedelta(days=2), MON + timedelta(days=4)]  # Mon, Wed, Fri
    assert next_due_date(week) == date(2027, 1, 11)                  # the next Monday
    assert due(week, MON + timedelta(days=6)).status == "not-yet-due"


def test_maintenance_is_every_maintenance_days():
    s = [MON]
    assert next_due_date(s, MAINTENANCE) == date(2027, 1, 11)
    assert next_due_date(s, MAINTENANCE, 21) == date(2027, 1, 25)
    d = due(s, MON + timedelta(days=10), phase=MAINTENANCE, maintenance_days=14)
    assert d.status == "not-yet-due" and d.next_date == date(2027, 1, 18)
    p = profile(maintenance_days=14)
    assert check_visit(p, s, MON + timedelta(days=14), phase=MAINTENANCE).due.status == "due"
    with pytest.raises(PrescriptionError):
        due(s, MON, phase="resting")
    with pytest.raises(PrescriptionError):
        due(s, MON, phase=MAINTENANCE, maintenance_days=30)


@pytest.mark.hazard("H-OVERTREAT-1")
def test_a_second_session_within_20_hours_is_too_soon():
    s = [MON]
    at = MON + timedelta(hours=20)
    assert due(s, at).may_treat
    r = due(s, at - timedelta(seconds=1))
    assert r.refusal.code == TOO_SOON and r.earliest == at
    assert "2027-01-05 15:30" in r.refusal.message
    v = check_visit(profile(), s, at - timedelta(seconds=1))
    assert v.refusal.code == TOO_SOON and v.setup is None


@pytest.mark.hazard("H-OVERTREAT-1")
def test_a_sixth_session_within_7_days_is_too_soon():
    five = [MON + timedelta(days=k) for k in range(5)]     # Monday to Friday, one a day
    saturday = MON + timedelta(days=5)
    r = due(five, saturday)
    assert r.refusal.code == TOO_SOON and "5 sessions in the last 7 days" in r.refusal.message
    at = MON + timedelta(days=7)
    assert due(five, at - timedelta(seconds=1)).refusal.code == TOO_SOON
    assert due(five, at).may_treat
    four = five[1:]
    assert due(four, saturday).may_treat


@pytest.mark.hazard("H-OVERTREAT-1")
def test_an_override_lets_exactly_one_refused_session_through():
    s = [MON]
    soon = MON + timedelta(hours=2)
    ov = Override(granted_at=soon - timedelta(minutes=5), by="tech", reason="missed yesterday")
    assert due(s, soon).refusal.code == TOO_SOON
    let = due(s, soon, override=ov)
    assert let.may_treat and let.override_used
    v = check_visit(profile(), s, soon, override=ov)
    assert v.may_treat and v.override_used and v.setup is not None
    # that session done, the same override lets no other through (while it is still fresh)
    again = due([*s, soon], soon + timedelta(minutes=30), override=ov)
    assert again.refusal.code == TOO_SOON and not again.override_used
    # one that is not needed is not used
    assert not due([], soon, override=ov).override_used
    # a stale one, one from nobody, one granted later
    for bad in (Override(soon - timedelta(hours=1, seconds=1), "tech"), Override(soon, ""),
                Override(soon + timedelta(minutes=1), "tech")):
        assert due(s, soon, override=bad).refusal.code == TOO_SOON


@pytest.mark.hazard("H-SCREEN-1", "H-CLOCK-1")
def test_the_override_lifts_only_too_soon():
    soon = MON + timedelta(hours=2)
    ov = Override(soon, "tech")
    v = check_visit(profile(screening=screened(epilepsy=True)), [MON], soon, override=ov)
    assert v.refusal.code == CONTRAINDICATED and not v.override_used
    v = check_visit(profile(), [MON], soon, override=ov, clock_lost=True)
    assert v.refusal.code == CLOCK_LOST


@pytest.mark.hazard("H-CLOCK-1")
def test_a_clock_that_has_lost_its_time_refuses():
    d = due([MON], MON + timedelta(days=2), clock_lost=True)
    assert d.refusal.code == CLOCK_LOST and d.status is None and "clock" in d.refusal.message
    v = check_visit(profile(), [MON], MON + timedelta(days=2), clock_lost=True)
    assert v.refusal.code == CLOCK_LOST and v.setup is None
    # a clock gone back (to its epoch after a flat battery): the log is ahead of it
    back = datetime(2000, 1, 1, 0, 0)
    assert due([MON], back).refusal.code == CLOCK_LOST
    assert check_visit(profile(), [MON], back).refusal.code == CLOCK_LOST
    assert due([MON], MON + timedelta(days=2)).may_treat
    with pytest.raises(PrescriptionError):
        due([MON], MON, clock_lost="yes")


def _attempts(draw_hours):
    """A patient who presses START after each gap (hours), treated when the device allows."""
    t, done = MON, []
    for h in draw_hours:
        t += timedelta(hours=h)
        if due(done, t).may_treat:
            done.append(t)
    return done


@pytest.mark.hazard("H-OVERTREAT-1")
@PROPS
@given(st.lists(st.floats(min_value=0.1, max_value=60.0), min_size=1, max_size=40))
def test_no_pattern_of_presses_gets_sessions_closer_than_the_caps(gaps):
    done = _attempts(gaps)
    assert done, "the first press is always treated"
    for a, b in zip(done, done[1:], strict=False):
        assert b - a >= timedelta(hours=20)
    for i in range(len(done) - 5):
        assert done[i + 5] - done[i] >= timedelta(days=7)


# --- outcome: the phases -----------------------------------------------------------------------

def day(n):
    return START + timedelta(days=n)


@pytest.mark.parametrize("scores,phase", [
    ([(0, 3), (7, 2), (14, 2)], MAINTENANCE),
    ([(0, 4), (7, 1), (13, 2)], MAINTENANCE),          # the second a day early
    ([(0, 3), (7, 2)], "initial"),                      # one good score is not two
    ([(0, 3), (7, 2), (9, 2)], "initial"),              # two days apart are not two weeks
    ([(0, 3), (7, 2), (14, 3), (21, 2)], "initial"),    # a 3 between starts again
    ([(0, 3), (7, 2), (14, 3), (21, 2), (28, 1)], MAINTENANCE),
])
def test_two_weekly_scores_of_1_or_2_in_a_row_move_to_maintenance(scores, phase):
    hdss = [(day(d), s) for d, s in scores]
    last = scores[-1][0]
    got = current_phase(START, hdss, [], day(last))
    assert got.phase == phase
    if phase == MAINTENANCE:
        assert got.on == day(last)


def test_the_4_week_flag_falls_on_day_28():
    hdss = [(day(0), 3), (day(7), 3), (day(14), 4), (day(21), 3)]
    assert current_phase(START, hdss, [], day(27)).phase == "initial"
    got = current_phase(START, hdss, [], day(28))
    assert got.phase == NOT_RESPONDING and got.on == day(28)
    assert "see the dermatologist" in got.reason
    assert current_phase(START, hdss, [], day(60)).on == day(28)
    # the week-4 score on day 28 counts: an improvement then keeps the initial phase
    better = [*hdss, (day(28), 2)]
    assert current_phase(START, better, [], day(28)).phase == "initial"
    # a score lower than the start's, not yet 1-2, is an improvement too
    some = [(day(0), 4), (day(7), 3), (day(14), 3), (day(21), 4)]
    assert current_phase(START, some, [], day(40)).phase == "initial"
    # a score after day 28 does not undo the flag
    late = [*hdss, (day(35), 2), (day(42), 2)]
    assert current_phase(START, late, [], day(42)).phase == NOT_RESPONDING


def test_the_technicians_decisions_set_the_phase_and_restart_the_initial_phase():
    hdss = [(day(0), 3), (day(7), 3)]
    h = phase_history(START, hdss, [(day(10), MAINTENANCE)], day(60))
    assert [(c.on, c.phase) for c in h] == [(START, "initial"), (day(10), MAINTENANCE)]
    # not-responding at day 28, the technician starts the initial phase again at day 30:
    # a new 4 weeks from there, judged against the last score before it
    h = phase_history(START, [*hdss, (day(29), 3)], [(day(30), "initial")], day(57))
    assert [c.phase for c in h] == ["initial", NOT_RESPONDING, "initial"]
    assert current_phase(START, [*hdss, (day(29), 3)], [(day(30), "initial")],
                         day(58)).on == day(58)


def test_a_days_decisions_are_taken_in_the_order_given_and_after_its_scores():
    ds = [(day(10), NOT_RESPONDING), (day(10), MAINTENANCE)]
    assert current_phase(START, [(day(0), 3)], ds, day(11)).phase == MAINTENANCE
    ds = [(day(10), MAINTENANCE), (day(10), NOT_RESPONDING)]
    assert current_phase(START, [(day(0), 3)], ds, day(11)).phase == NOT_RESPONDING
    # the restart's start score is that day's score, entered before the decision
    h = phase_history(START, [(day(0), 4), (day(30), 2)], [(day(30), "initial")], day(58))
    assert h[-1].phase == NOT_RESPONDING and "score 2" in h[-1].reason


def test_the_hdss_is_asked_at_the_start_then_weekly():
    assert next_hdss_date(START, []) == START
    assert next_hdss_date(START, [(day(0), 3)]) == day(7)
    assert next_hdss_date(START, [(day(0), 3), (day(8), 3)]) == day(15)


def test_scores_outside_1_to_4_are_refused():
    for bad in (0, 5, True, 2.5):
        with pytest.raises(PrescriptionError) as exc:
            phase_history(START, [(START, bad)], [], START)
        assert field_of(exc) == "hdss"
    with pytest.raises(PrescriptionError):
        phase_history(START, [], [(START, "cured")], START)


# --- water advice ------------------------------------------------------------------------------

def hands(contact, ramp=None, reached=True, site="hands"):
    return LoadFigures(site, contact, ramp, reached)


def codes(advice):
    return [a.code for a in advice]


def test_soft_water_when_the_load_is_high_from_the_start_and_the_target_not_reached():
    high = HIGH_LOAD_OHM["hands"]
    assert codes(water_advice(hands(high, high, reached=False))) == [SOFT_WATER]
    assert "teaspoon of baking soda" in water_advice(hands(9000, 8000, False))[0].message
    assert codes(water_advice(hands(high - 1, high, reached=False))) == []
    assert codes(water_advice(hands(high, high - 1, reached=False))) == []
    assert codes(water_advice(hands(9000, 8000, reached=True))) == []
    assert codes(water_advice(hands(2000, 2000, reached=False))) == []
    assert codes(water_advice(hands(8000, 11000, reached=False, site="axillae"))) == []
    assert codes(water_advice(hands(12000, 11000, reached=False, site="axillae"))) == [
        SOFT_WATER]


def test_the_others_sessions_tell_the_water_from_one_persons_dry_skin():
    me = hands(6000, 5500, reached=False)
    dry = [hands(2000), hands(1800), LoadFigures("feet", 1500)]
    assert codes(water_advice(me, dry)) == []
    soft = [hands(6500), LoadFigures("feet", 5000, 4800, False)]
    assert codes(water_advice(me, soft)) == [SOFT_WATER]
    half = [hands(6500), hands(2000)]
    assert codes(water_advice(me, half)) == [SOFT_WATER]
    few = [hands(6500), hands(2000), hands(2100)]
    assert codes(water_advice(me, few)) == []
    assert codes(water_advice(me, [hands(None)])) == [SOFT_WATER]


@pytest.mark.hazard("H-WATER-1")
def test_no_salt_when_the_load_is_far_below_a_bodys():
    assert codes(water_advice(hands(LOW_LOAD_OHM - 1, 900))) == [NO_SALT]
    assert codes(water_advice(hands(900, LOW_LOAD_OHM - 1))) == [NO_SALT]
    assert codes(water_advice(hands(LOW_LOAD_OHM, LOW_LOAD_OHM))) == []
    assert "salt can burn" in water_advice(hands(400))[0].message
    assert codes(water_advice(hands(None))) == []
    with pytest.raises(PrescriptionError):
        water_advice(LoadFigures("elbows", 2000))


# --- medication mode ---------------------------------------------------------------------------

@pytest.mark.hazard("H-DRUG-1")
def test_no_polarity_reversal_with_the_drug():
    rx = Prescription(target_ma=8.0, reverse_polarity=True)
    with pytest.raises(PrescriptionError) as exc:
        drug_profile(prescription=rx).validated()
    assert field_of(exc) == "prescription.reverse_polarity" and "anode" in str(exc.value)
    assert profile(prescription=rx).validated().prescription.reverse_polarity


@pytest.mark.hazard("H-DRUG-1")
def test_the_drug_is_capped_at_8_ma():
    assert drug_profile(prescription=Prescription(target_ma=DRUG_MAX_MA)).validated()
    with pytest.raises(PrescriptionError) as exc:
        drug_profile(prescription=Prescription(target_ma=DRUG_MAX_MA + 0.1)).validated()
    assert field_of(exc) == "prescription.target_ma" and "at most 8 mA" in str(exc.value)


@pytest.mark.hazard("H-DRUG-1")
def test_the_drug_only_when_the_technician_has_unlocked_the_medication_mode():
    p = drug_profile()
    with pytest.raises(PrescriptionError) as exc:
        session_setup(p, medication_unlocked=False)
    assert field_of(exc) == "drug" and "locked" in str(exc.value)
    v = check_visit(p, [], MON)
    assert v.refusal.code == MEDICATION_LOCKED and v.setup is None
    v = check_visit(p, [], MON, medication_unlocked=True)
    assert v.may_treat
    setup = v.setup
    assert setup.anode_tray == "B" and setup.drug == "glycopyrronium"
    assert not setup.prescription.reverse_polarity and setup.prescription.target_ma == 8.0
    # tap water needs no unlock and names no anode
    tap = session_setup(profile(), medication_unlocked=False)
    assert tap.anode_tray is None and tap.prescription.target_ma == 15.0
    assert effective_prescription(p, medication_unlocked=True) == setup.prescription


@pytest.mark.hazard("H-DRUG-1")
def test_the_drugs_tray_is_the_anode_whichever_tray_it_is():
    for tray in ("A", "B"):
        p = profile(prescription=Prescription(target_ma=7.5), drug="glycopyrronium",
                    drug_mg_ml=0.25, drug_tray=tray)
        assert session_setup(p, medication_unlocked=True).anode_tray == tray


# --- comfort -----------------------------------------------------------------------------------

def test_the_start_rises_towards_the_prescription_by_at_most_1_ma_a_session():
    assert next_comfort_ma(15.0, 10.0) == 11.0
    assert next_comfort_ma(15.0, None, started_ma=12.0) == 13.0
    assert next_comfort_ma(15.0, 9.0, started_ma=12.0) == 10.0
    assert next_comfort_ma(15.0, 14.0) is None          # 15 reached: the prescription again
    assert next_comfort_ma(15.0, 14.5) is None
    assert next_comfort_ma(15.0, None) is None
    # a prescription lowered since the last session: its levels count as the prescription
    assert next_comfort_ma(12.0, 13.0, started_ma=13.0) is None
    for bad in (0.0, -1.0, "low", True):
        with pytest.raises(PrescriptionError):
            next_comfort_ma(15.0, bad)


def test_the_comfort_level_is_where_the_next_session_starts():
    p = profile(comfort_ma=11.0)
    assert session_setup(p, medication_unlocked=False).prescription.target_ma == 11.0
    d = drug_profile(comfort_ma=6.0)
    assert session_setup(d, medication_unlocked=True).prescription.target_ma == 6.0
    assert comfort_step_down(11.0) == 10.0
    assert comfort_step_down(1.5) == 1.0
    assert comfort_step_down(0.8) == 0.8


@PROPS
@given(st.floats(min_value=1.0, max_value=20.0),
       st.lists(st.one_of(st.none(), st.floats(min_value=0.05, max_value=1.0)), max_size=20))
def test_over_any_course_the_start_never_rises_by_more_than_1_ma(target, lowered):
    comfort = None
    for share in lowered:
        start = target if comfort is None else comfort
        lowest = None if share is None else max(0.01, min(start, start * share))
        new = next_comfort_ma(target, lowest, comfort)
        new_start = target if new is None else new
        floor = start if lowest is None else lowest
        assert new_start <= floor + 1.0 + 1e-9
        assert new_start <= target
        comfort = new
