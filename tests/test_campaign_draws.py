"""The random campaign draws the sequences of events that the rule table once missed: shorts
on the ramps down and up (and shunts, with DRAW_SHUNTS), presses during the self-test, faults
that flicker; and it judges a flickering fault from its detection."""

from __future__ import annotations

import pytest

from firmware import campaign
from firmware.campaign import FLICKER_FAULTS, check_properties, flickering, random_scenario


def _draws(n=400):
    return [random_scenario(5, i, "full") for i in range(n)]


@pytest.mark.parametrize("shunts", [False, True])
def test_the_campaign_draws_every_new_sequence(monkeypatch, shunts):
    monkeypatch.setattr(campaign, "DRAW_SHUNTS", shunts)
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
