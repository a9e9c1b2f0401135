"""A session's dose has one definition and is said once (controller.session.SessionRecord)."""

from __future__ import annotations

import re

from sim.scenario import load_scenario
from simtools.simrun import ScenarioRun


def test_the_dose_is_said_once_at_the_end_and_is_the_logged_one():
    run = ScenarioRun(load_scenario("scenarios/hands-short-dc.toml"), None, trace=False)
    try:
        summary = run.run()
        row = run.program.log.sessions()[-1]
    finally:
        run.close()
    events = {e["detail"].split(":")[0]: e["detail"] for e in summary["events"]}
    assert summary["outcome"] == "completed"
    said = [e["detail"] for e in summary["events"] if "mA*min" in e["detail"]]
    assert len(said) == 1 and said[0].startswith("SESSION-END"), said
    assert "mA*min" not in events["TREATMENT-COMPLETE"]
    dose = float(re.search(r"([0-9.]+) mA\*min", said[0]).group(1))
    assert dose == round(row["dose_ma_min"], 1)          # the log's figure, the same definition
    # the ramp down after TREATMENT-COMPLETE is part of it: more than the time at target gives
    assert row["dose_ma_min"] > 10.0 * row["treat_s"] / 60.0
