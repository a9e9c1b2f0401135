"""The campaign's report: each safety margin (``simtools.campaign.margins``, which
campaign.json's closest runs and campaign.png are drawn from) says a run broke a property
exactly when :func:`check_properties` does; the picture is drawn; the progress line gives the
runs per minute and the time left."""

from __future__ import annotations

import itertools

from simtools import campaign
from simtools.campaign_plot import plot_campaign

HANDS = {"protocol": {"site": "hands", "child": False}, "event": []}
FAULT = {"protocol": {"site": "feet", "child": False},
         "event": [{"at_s": 5.0, "do": "fault", "fault": "adc_stuck", "params": {}}]}
CHILD_METER = {"protocol": {"site": "hands", "child": True},
               "event": [{"at_s": 5.0, "do": "meter"}]}


def test_a_margin_above_its_bound_is_exactly_a_violation():
    seen = set()
    for doc, peak, step, dens, safe, det in itertools.product(
            (HANDS, FAULT, CHILD_METER), (14.9, 15.1, 20.2, 20.4, 30.0, 31.5),
            (0.4, 0.6), (0.1, 0.3), (None, 30.0, 2020.0), (5.0, 15.0)):
        fault = None if safe is None else {"code": "R-ADC-STUCK", "safe_after_ms": safe,
                                           "detected_after_ms": safe - det,
                                           "active_after_ms": 0.0, "exposed_ms": None}
        summary = {"peak_ma": peak, "max_step_ma": step, "density_over_s": dens,
                   "fault": fault}
        broken = bool(campaign.check_properties(doc, summary))
        above = any(v > b for v, b in campaign.margins(doc, summary).values())
        assert broken == above, (doc, summary, campaign.check_properties(doc, summary))
        seen.add(broken)
    assert seen == {True, False}


def test_the_picture_is_drawn_and_names_the_runs_closest_to_a_bound(tmp_path):
    header = campaign.campaign_header(3, 5, "short", 0)
    done = {}
    for i, peak in enumerate((10.0, 18.0, 12.0)):
        doc = campaign.random_scenario(5, i, "short")
        done[i] = {"summary": {"outcome": "done", "peak_ma": peak, "max_step_ma": 0.1,
                               "density_over_s": 0.0, "max_density_ma_cm2": 0.05,
                               "fault": None}, "violations": []}
        del doc
    done[2]["summary"] = None                              # a crash is counted, not drawn
    done[2]["violations"] = ["the run crashed: X"]
    png = plot_campaign(header, done, tmp_path / "campaign.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    report = campaign.build_report(header, done)
    assert report["outcomes"] == {"done": 2, "crashed": 1}
    assert [r["run"] for r in report["closest_to_bound"]["peak_ma"]][0] == 1


def test_the_progress_line_gives_the_rate_and_the_time_left(capsys, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(campaign.time, "monotonic", lambda: now[0])
    bar = campaign.Progress(total=10, done=2, enabled=True, every_s=30.0)   # not a terminal
    now[0] = 60.0
    bar.update(0)                  # 60 s after the start: 1 run/min, 7 left
    now[0] = 70.0
    bar.update(1)                  # within the minute: no line
    now[0] = 120.0
    bar.update(1)
    err = capsys.readouterr().err
    assert err == ("campaign: 3/10 runs, 1.0 runs/min, about 7 min left, 0 broke a property\n"
                   "campaign: 5/10 runs, 1.5 runs/min, about 3 min left, 1 broke a property\n")
