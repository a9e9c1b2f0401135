"""The random campaign draws the sequences of events that the rule table once missed: shorts
on the ramps down and up (and shunts, with DRAW_SHUNTS), presses during the self-test, faults
that flicker; hands that go in during a self-test (with a welded patient relay sometimes), a
technician's procedure between sessions (the self-test on demand, a calibration against a
meter that reads off), shorts during the polarity reversal, presses in every session state;
it judges a flickering fault from its detection, and a run with a calibration on the site's
limit. Every sequence is drawn from its own generator: the earlier draws stay as they were."""

from __future__ import annotations

import hashlib
import json

import pytest

from simtools import campaign
from simtools.campaign import (
    DONE_S,
    FLICKER_FAULTS,
    SELF_TEST_S,
    SESSION_OPEN_S,
    STOP_S,
    _timeline,
    check_properties,
    flickering,
    random_scenario,
)

#: the new sequences (their draws come after the earlier ones, each from its own generator)
NEW_SEQUENCES = ("_selftest_hands_events", "_service_events", "_reversal_short_events",
                 "_press_state_events", "_bridge_events")
#: sha256 of the JSON of random_scenario(5, i, "full") for i < 400 and of
#: random_scenario(20261125, i, "short") for i < 300, shunts off, as drawn by the campaign
#: before the sequences of NEW_SEQUENCES (commit 84f4c8c): what the campaigns recorded so far
EARLIER_DRAWS_SHA256 = "4bf96a0532a3dea40e0983b1d42fefb8e59ae59d8ce9880a8b558d63c548f487"


def _draws(n=400):
    return [random_scenario(5, i, "full") for i in range(n)]


@pytest.mark.parametrize("shunts", [False, True])
def test_the_campaign_draws_every_new_sequence(monkeypatch, shunts):
    monkeypatch.setattr(campaign, "DRAW_SHUNTS", shunts)
    # the films of water with the hands out (3 to 5 kohm) are drawn whatever DRAW_SHUNTS says:
    # counted apart, below
    monkeypatch.setattr(campaign, "_bridge_events", lambda *a, **k: [])
    seen = {"early press": 0, "short after a stop": 0, "shunt": 0, "flicker": 0}
    for doc in _draws():
        ev = sorted(doc["event"], key=lambda e: e["at_s"])
        presses = [e["at_s"] for e in ev if e["do"] == "press"]
        if any(1.0 < t < 3.6 for t in presses):
            seen["early press"] += 1
        for e in ev:
            if e["do"] == "short" and any(0.0 < e["at_s"] - t <= 4.0 for t in presses[1:]):
                seen["short after a stop"] += 1
            if e["do"] == "short" and 300.0 <= e["ohm"] <= 5000.0:
                seen["shunt"] += 1
        if flickering(doc):
            names = {e["fault"] for e in ev if e["do"] == "fault"}
            assert names <= set(FLICKER_FAULTS)
            assert sum(e["do"] == "repair" for e in ev) >= 3
            seen["flicker"] += 1
    shunted = seen.pop("shunt")
    assert all(v >= 5 for v in seen.values()), seen
    assert (shunted >= 5) if shunts else (shunted == 0)


def test_the_draw_is_reproducible():
    assert random_scenario(5, 17, "short") == random_scenario(5, 17, "short")


def test_a_flickering_fault_is_judged_from_its_detection_but_still_on_the_current_bound():
    doc = next(d for d in _draws() if flickering(d))
    fault = {"code": "R-OC-REL", "detected_after_ms": 5000.0, "safe_after_ms": 5010.0,
             "active_after_ms": 0.0, "rise_after_ms": 0.0, "exposed_ms": 5010.0}
    summary = {"peak_ma": 12.0, "max_step_ma": 0.2, "density_over_s": 0.0, "fault": fault}
    assert check_properties(doc, summary) == []  # 5 s after the first injection: not judged so
    summary["peak_ma"] = 31.5  # above the series limiter: broken, flickering or not
    assert any("above" in v for v in check_properties(doc, summary))
    fault["safe_after_ms"] = 5030.0  # 30 ms from the detection to a safe current
    assert any("after its detection" in v for v in check_properties(doc, summary))


def _earlier_and_now():
    docs = [random_scenario(5, i, "full") for i in range(400)] + \
           [random_scenario(20261125, i, "short") for i in range(300)]
    return docs


def test_the_earlier_draws_are_unchanged_and_the_new_sequences_come_after_them(monkeypatch):
    monkeypatch.setattr(campaign, "DRAW_SHUNTS", False)
    now = _earlier_and_now()
    for name in NEW_SEQUENCES:
        monkeypatch.setattr(campaign, name, lambda *a, **k: [])
    before = _earlier_and_now()
    digest = hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()
    assert digest == EARLIER_DRAWS_SHA256
    grown = 0
    for old, new in zip(before, now, strict=True):
        assert {k: v for k, v in old.items() if k != "event"} == \
            {k: v for k, v in new.items() if k != "event"}
        assert new["event"][:len(old["event"])] == old["event"]
        grown += len(new["event"]) > len(old["event"])
    assert grown >= 100, grown  # the new sequences add events to many runs


def _presses(ev):
    return [e["at_s"] for e in ev if e["do"] == "press"]


def test_the_new_sequences_are_drawn_at_sensible_rates_and_reproducibly(monkeypatch):
    monkeypatch.setattr(campaign, "DRAW_SHUNTS", False)
    seen = {"hands in during a self-test": 0, "... with a welded relay": 0,
            "self-test on demand": 0, "calibration": 0, "meter a few % off": 0,
            "procedure with a welded relay": 0, "hands going in during a procedure": 0,
            "next session at the site's limit": 0, "short during the reversal": 0,
            "press on the ramp up": 0, "press in a pause": 0, "press during the reversal": 0,
            "second press on the ramp down": 0, "press while DONE shows": 0}
    docs = _draws()
    for doc in docs:
        ev = sorted(doc["event"], key=lambda e: e["at_s"])
        p, pat = doc["protocol"], doc["patient"]
        presses = _presses(ev)
        welded = [e["at_s"] for e in ev if e.get("fault") == "patient_relay_welded"]
        lines = [(e["at_s"], e["line"]) for e in ev if e["do"] == "console"]
        for t in presses:
            lo, hi = t + SESSION_OPEN_S - 0.1, t + SESSION_OPEN_S + SELF_TEST_S + 0.1
            going_in = [e for e in ev if e["do"] == "immerse" and lo <= e["at_s"] <= hi]
            lifted = [e for e in ev if e["do"] == "lift" and e["at_s"] < t]
            if going_in and lifted:
                seen["hands in during a self-test"] += 1
                if any(w < t for w in welded):
                    seen["... with a welded relay"] += 1
                break
        if any(line == "selftest" for _, line in lines):
            seen["self-test on demand"] += 1
        cal = [t for t, line in lines if line == "cal ref {meter}"]
        if cal:
            seen["calibration"] += 1
            factor = next(e["factor"] for e in ev if e["do"] == "meter")
            assert 0.95 <= factor <= 1.05
            seen["meter a few % off"] += abs(factor - 1.0) > 0.01
        if lines:
            login = lines[0][0]
            assert lines[0][1] == "login 123456"
            assert any(0 < login - t <= STOP_S + 4.0 for t in presses)  # after a stop
            if any(w < login for w in welded):
                seen["procedure with a welded relay"] += 1
            end = lines[-1][0]
            if any(e["do"] == "immerse" and login < e["at_s"] <= end + 1.5 for e in ev):
                seen["hands going in during a procedure"] += 1
            if any(line.startswith("rx set target=") for _, line in lines) and \
                    any(t > end for t in presses):
                seen["next session at the site's limit"] += 1
        when = _timeline(p, pat, doc["event"])
        if when["reverse"] is not None:
            width = when["treat"] - when["ramp"]
            if any(e["do"] == "short" and when["reverse"] - 1.0 <= e["at_s"]
                   <= when["reverse"] + 2 * width + 1.0 for e in ev):
                seen["short during the reversal"] += 1
            if any(when["reverse"] < t <= when["reverse"] + 2 * width for t in presses):
                seen["press during the reversal"] += 1
        if any(when["ramp"] < t < when["treat"] for t in presses):
            seen["press on the ramp up"] += 1
        for e in ev:
            if e["do"] == "lift" and any(0.1 <= t - e["at_s"] <= 3.0 for t in presses):
                seen["press in a pause"] += 1
                break
        gaps = [b - a for a, b in zip(presses, presses[1:], strict=False)]
        if any(0.3 <= g < STOP_S for g in gaps):
            seen["second press on the ramp down"] += 1
        if any(STOP_S + 0.3 <= g <= STOP_S + DONE_S for g in gaps):
            seen["press while DONE shows"] += 1
    # 400 whole-session draws: each sequence in at least 1 % of the runs, none in more than a
    # third (they add to the first draw, they do not replace it)
    assert all(4 <= v <= 133 for v in seen.values()), seen
    assert docs == _draws()  # reproducible from (seed, index, profile)
    assert random_scenario(9, 3, "short") == random_scenario(9, 3, "short")


@pytest.mark.hazard("H-CAL-2")
def test_a_calibration_run_is_judged_on_the_site_limit_itself():
    doc = {"protocol": {"site": "hands", "child": False},
           "event": [{"at_s": 20.0, "do": "meter", "factor": 0.97},
                     {"at_s": 21.0, "do": "console", "line": "cal ref {meter}"}]}
    summary = {"peak_ma": 20.2, "max_step_ma": 0.2, "density_over_s": 0.0, "fault": None}
    bad = check_properties(doc, summary)
    assert any("site limit of 20.0 mA" in v for v in bad), bad
    summary["peak_ma"] = 19.99
    assert check_properties(doc, summary) == []
    # without a calibration the old bound (the limit and 0.3 mA) is unchanged
    plain = {"protocol": doc["protocol"], "event": []}
    assert check_properties(plain, dict(summary, peak_ma=20.2)) == []
    assert check_properties(plain, dict(summary, peak_ma=20.31)) != []
    # a welded relay moves no current: the calibration's bound still holds
    doc["event"].append({"at_s": 5.0, "do": "fault", "fault": "patient_relay_welded",
                         "params": {}})
    assert check_properties(doc, dict(summary, peak_ma=20.2)) != []


def test_the_campaign_draws_films_of_water_with_the_hands_out(monkeypatch):
    monkeypatch.setattr(campaign, "DRAW_BRIDGES", True)
    films = 0
    for doc in _draws():
        ev = doc["event"]
        for i, e in enumerate(ev):
            if e["do"] == "short" and 3000.0 <= e["ohm"] <= 5000.0 and i > 0 and \
                    ev[i - 1]["do"] == "lift" and ev[i - 1]["at_s"] < e["at_s"] < 1.0:
                films += 1
                assert any(x["do"] == "immerse" and x["at_s"] > e["at_s"] for x in ev)
                assert any(x["do"] == "unshort" and x["at_s"] > e["at_s"] for x in ev)
    assert films >= 20, films

