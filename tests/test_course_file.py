"""Course files (../shared/SCENARIOS.md, "Courses"): the loader and the water model."""

from __future__ import annotations

import datetime as dt

import pytest

from sim.course import MAX_PROFILES, is_course, parse_course
from sim.patient import Patient
from sim.scenario import ScenarioError
from sim.water import (
    BAKING_SODA_US_CM,
    REFERENCE_US_CM,
    extra_ohm,
    water_ohm,
    with_baking_soda,
)

SCREENED = {"pregnancy": False, "epilepsy": False, "heart_condition": False, "implant": False}


def course(**over):
    raw = {
        "name": "family", "seed": 3, "start_date": "2027-01-04",
        "water": {"conductivity_us_cm": 450},
        "profile": [
            {"id": "anna", "site": "hands", "target_ma": 15.0, "duration_min": 20.0,
             "waveform": "dc", "reverse_polarity": True, "child": False, "drug": "none",
             "hdss": 3, "load_ohm": 2000, "screening": dict(SCREENED)},
            {"id": "ben", "site": "feet", "target_ma": 10.0, "duration_min": 15.0,
             "child": True},
        ],
        "visit": [
            {"day": 2, "at": "08:00", "profile": "ben"},
            {"day": 0, "at": "19:30", "profile": "anna", "do": "session", "hdss": 3,
             "load_ohm": 2100, "events": [{"at_s": 300.0, "do": "lift"},
                                          {"at_s": 302.0, "do": "immerse"}]},
            {"day": 0, "at": "19:30", "profile": "anna", "do": "baking_soda"},
        ],
    }
    raw.update(over)
    return raw


def test_the_contracts_example_reads_as_written():
    c = parse_course(course())
    assert is_course(course())
    assert c.start_date == dt.date(2027, 1, 4)
    assert c.conductivity_us_cm == 450.0
    anna = c.profiles["anna"]
    assert anna.screening == SCREENED and anna.hdss == 3 and anna.drug == "none"
    assert anna.prescription["reverse_polarity"] is True
    assert anna.patient["load_ohm"] == 2000.0
    assert c.profiles["ben"].screening is None          # not screened
    assert c.profiles["ben"].child is True
    # in the order of their time; two at the same minute keep the file's order
    assert [(v.day, v.at, v.profile, v.do) for v in c.visits] == [
        (0, "19:30", "anna", "session"), (0, "19:30", "anna", "baking_soda"),
        (2, "08:00", "ben", "session")]
    assert [e.do for e in c.visits[0].events] == ["lift", "immerse"]
    assert c.when(c.visits[2]) == dt.datetime(2027, 1, 6, 8, 0)
    assert c.end_day == 2


@pytest.mark.parametrize("change, key", [
    ({"start_date": "4 Jan 2027"}, "start_date"),
    ({"start_date": 20270104}, "start_date"),
    ({"water": {"conductivity_us_cm": 0}}, "water.conductivity_us_cm"),
    ({"water": {"hardness": 3}}, "water.hardness"),
    ({"profile": []}, "profile"),
    ({"profile": [{"id": f"p{i}", "site": "hands", "target_ma": 5.0, "duration_min": 10.0}
                  for i in range(MAX_PROFILES + 1)]}, "profile"),
    ({"profile": [{"id": "Anna", "site": "hands", "target_ma": 5.0, "duration_min": 10.0}]},
     "profile[0].id"),
    ({"profile": [{"id": "a" * 13, "site": "hands", "target_ma": 5.0, "duration_min": 10.0}]},
     "profile[0].id"),
    ({"profile": [{"id": "a", "site": "hands", "target_ma": 5.0}]}, "profile[0].duration_min"),
    ({"profile": [{"id": "a", "site": "hands", "target_ma": 5.0, "duration_min": 10.0,
                   "load_ohm": 10 ** 400}]}, "profile[0].load_ohm"),
    ({"profile": [{"id": "a", "site": "hands", "target_ma": 5.0, "duration_min": 10.0,
                   "drug": "aspirin"}]}, "profile[0].drug"),
    ({"profile": [{"id": "a", "site": "hands", "target_ma": 5.0, "duration_min": 10.0,
                   "hdss": 5}]}, "profile[0].hdss"),
    ({"profile": [{"id": "a", "site": "hands", "target_ma": 5.0, "duration_min": 10.0,
                   "screening": {"pregnancy": False}}]}, "profile[0].screening.epilepsy"),
    ({"profile": [{"id": "a", "site": "hands", "target_ma": 5.0, "duration_min": 10.0,
                   "screening": dict(SCREENED, implant="no")}]}, "profile[0].screening.implant"),
    ({"profile": [{"id": "a", "site": "hands", "target_ma": 5.0, "duration_min": 10.0},
                  {"id": "a", "site": "feet", "target_ma": 5.0, "duration_min": 10.0}]},
     "profile[1].id"),
    ({"visit": [{"day": 0, "at": "7:30", "profile": "anna"}]}, "visit[0].at"),
    ({"visit": [{"day": -1, "at": "07:30", "profile": "anna"}]}, "visit[0].day"),
    ({"visit": [{"day": 0, "at": "07:30", "profile": "carl"}]}, "visit[0].profile"),
    ({"visit": [{"day": 0, "at": "07:30", "profile": "anna", "do": "nap"}]}, "visit[0].do"),
    ({"visit": [{"day": 0, "at": "07:30", "profile": "anna", "do": "hdss"}]}, "visit[0].hdss"),
    ({"visit": [{"day": 0, "at": "07:30", "profile": "anna",
                 "events": [{"at_s": 1.0, "do": "dance"}]}]}, "visit[0].events[0].do"),
    ({"visit": [{"day": 0, "at": "07:30", "profile": "anna", "do": "baking_soda",
                 "events": [{"at_s": 1.0, "do": "lift"}]}]}, "visit[0].events"),
    ({"visit": [{"day": 0, "at": "07:30", "profile": "anna", "when": 3}]}, "visit[0].when"),
    ({"visit": [{"day": 0, "at": "07:30", "profile": "anna", "panel_hdss": 5}]},
     "visit[0].panel_hdss"),
    ({"visit": [{"day": 0, "at": "07:30", "profile": "anna", "do": "hdss", "hdss": 2,
                 "panel_hdss": 2}]}, "visit[0].panel_hdss"),
])
def test_a_bad_key_is_named_with_what_is_allowed(change, key):
    with pytest.raises(ScenarioError) as err:
        parse_course(course(**change))
    assert err.value.key == key
    assert "allowed" in err.value.problem or "missing" in err.value.problem \
        or "must be" in err.value.problem or "no session" in err.value.problem


def test_the_water_adds_to_the_load_as_its_resistivity():
    assert extra_ohm(REFERENCE_US_CM) == 0.0
    # inversely proportional to the conductivity: a third of it, three times the water's part
    assert water_ohm(150.0) == pytest.approx(3 * water_ohm(450.0))
    assert extra_ohm(800.0) < 0.0 < extra_ohm(150.0) < extra_ohm(20.0)
    # a teaspoon of baking soda makes even distilled water conduct better than tap water
    assert with_baking_soda(5.0) == 5.0 + BAKING_SODA_US_CM
    assert water_ohm(with_baking_soda(5.0)) < water_ohm(REFERENCE_US_CM) / 5


def test_soft_water_raises_the_true_load_and_distilled_water_keeps_15_ma_out_of_reach():
    tap = Patient(load_ohm=2000.0)
    soft = Patient(load_ohm=2000.0, water_ohm=extra_ohm(150.0))
    distilled = Patient(load_ohm=2000.0, water_ohm=extra_ohm(10.0))
    assert tap.load_ohm_at(0.0) == pytest.approx(2000.0)
    assert soft.load_ohm_at(0.0) == pytest.approx(2000.0 + extra_ohm(150.0))
    # the board's 58 V compliance: 15 mA needs at most 3.9 kOhm
    assert distilled.load_ohm_at(0.0) * 0.015 > 58.0
    # hard water lowers the load, but never below a quarter of the fixed part
    small = Patient(load_ohm=300.0, water_ohm=extra_ohm(5000.0))
    assert small.load_ohm_at(0.0) >= 300.0 * (1 - small.body_fraction) + \
        0.25 * 300.0 * small.body_fraction
